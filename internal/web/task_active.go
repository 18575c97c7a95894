package web

import (
	"net/http"
	"strconv"

	"orderimport/internal/tasks"
)

// setActive is the active switch, pause and resume: the task's Активность through the same
// use case as an edit, so resuming starts a run at once like saving an active task does.
func (h *Web) setActive(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	active, err := strconv.ParseBool(r.PostFormValue("active"))
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	if _, err := h.Tasks.Update(r.Context(), vw.Visitor.User.AccountID, id, tasks.Input{Active: &active}); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	done := "paused"
	if active {
		done = "resumed"
	}
	redirect(w, r, withDone(localPath(r.PostFormValue("back"), "/imports/"+strconv.FormatInt(id, 10)), done))
}
