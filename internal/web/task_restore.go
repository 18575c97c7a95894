package web

import (
	"errors"
	"net/http"
	"strconv"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// restoreMapping makes a saved mapping version the task's mapping again; the stored orders are
// rewritten with it. A version that no longer compiles is not restored: the task page compares
// it and names what is wrong with it.
func (h *Web) restoreMapping(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || version <= 0 {
		h.fail(w, r, vw, store.ErrNotFound)
		return
	}
	t, err := h.Tasks.RestoreMapping(r.Context(), vw.Visitor.User.AccountID, id, version)
	var inv *tasks.InvalidError
	if errors.As(err, &inv) {
		redirect(w, r, "/imports/"+strconv.FormatInt(id, 10)+"?version="+strconv.Itoa(version)+"&done=mapping_invalid#mappings")
		return
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, taskPath(t, "?done=mapping_restored#mappings"))
}
