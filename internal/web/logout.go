package web

import (
	"net/http"

	"orderimport/internal/audit"
	"orderimport/internal/locale"
)

// logout ends the session on the server (the cookie's value is worthless afterwards).
func (h *Web) logout(w http.ResponseWriter, r *http.Request, vw *view) {
	if err := h.endSession(w, r); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	h.Audit.Record(r.Context(), vw.Visitor.User.AccountID, audit.Logout, "", locale.M("audit_session_ended"))
	redirect(w, r, "/login?done=logged_out")
}
