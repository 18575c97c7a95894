package web

import (
	"errors"
	"net/http"
	"strconv"

	"orderimport/internal/tasks"
)

// resync queues a run that re-reads every order. While another run is queued or running the
// task page says so instead.
func (h *Web) resync(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	run, err := h.Tasks.Resync(r.Context(), vw.Visitor.User.AccountID, id)
	if errors.Is(err, tasks.ErrRunActive) {
		redirect(w, r, "/imports/"+strconv.FormatInt(id, 10)+"?run="+strconv.FormatInt(run.ID, 10)+"&done=resync_busy")
		return
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/imports/"+strconv.FormatInt(id, 10)+"?run="+strconv.FormatInt(run.ID, 10)+"&done=resync_queued")
}
