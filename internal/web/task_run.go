package web

import (
	"net/http"
	"strconv"
)

// runNow queues a run (also of a paused task) and opens the task page, where its progress
// shows live.
func (h *Web) runNow(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	run, err := h.Tasks.RunNow(r.Context(), vw.Visitor.User.AccountID, id)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/imports/"+strconv.FormatInt(id, 10)+"?run="+strconv.FormatInt(run.ID, 10)+"&done=run_queued")
}
