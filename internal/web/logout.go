package web

import "net/http"

// logout ends the session on the server (the cookie's value is worthless afterwards).
func (h *Web) logout(w http.ResponseWriter, r *http.Request, vw *view) {
	if err := h.endSession(w, r); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, "/login?done=logged_out")
}
