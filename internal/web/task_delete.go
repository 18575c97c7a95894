package web

import (
	"net/http"

	"orderimport/internal/access"
	"orderimport/internal/store"
)

type deleteData struct {
	Task store.Task
}

// deleteTask asks for confirmation (GET) and deletes (POST). The task stops for good; the
// orders it imported stay, they are the tracker's data.
func (h *Web) deleteTask(w http.ResponseWriter, r *http.Request, vw *view) {
	t, c, err := h.loadTask(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	if !h.may(w, r, vw, access.EditTasks) {
		return
	}
	if r.Method == http.MethodPost {
		if err := h.Tasks.Delete(r.Context(), t.AccountID, t.ID); err != nil {
			h.fail(w, r, vw, err)
			return
		}
		h.Log.Info("import task deleted", "task_id", t.ID, "user_id", vw.Visitor.User.ID)
		redirect(w, r, counterPath(c, "/imports?done=task_deleted"))
		return
	}
	vw.Title = vw.T("delete.title", t.Name)
	vw.Crumbs = append(importsCrumbs(vw, c, false), crumb{Label: t.Name, Href: taskPath(t, ""), Data: true}, crumb{Label: vw.T("task.delete")})
	h.render(w, r, vw, "task_delete.html", deleteData{Task: t})
}
