package web

import (
	"errors"
	"net/http"

	"orderimport/internal/locale"
	"orderimport/internal/people"
)

// ssoCookie holds the state of a single sign-on this browser started, for the callback only:
// the provider's answer must come back to the browser that left (login CSRF). SameSite=Lax lets
// the provider's top-level redirect carry it.
const (
	ssoCookie = "oi_sso"
	ssoPath   = "/auth/oidc/"
)

// ssoStart sends the browser to the identity provider ("Войти через …" on the login page).
func (h *Web) ssoStart(w http.ResponseWriter, r *http.Request) {
	vw := h.newView(w, r, nil)
	next := localPath(r.URL.Query().Get("next"), "/")
	to, state, err := h.People.StartSSO(r.Context(), next)
	if err != nil {
		h.ssoRefused(w, r, vw, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: state, Path: ssoPath, MaxAge: int(people.SSOFlowTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
	http.Redirect(w, r, to, http.StatusFound)
}

// ssoCallback is where the provider sends the browser back: it signs the person in (or asks for
// their second factor), or shows why not and signs nobody in.
func (h *Web) ssoCallback(w http.ResponseWriter, r *http.Request) {
	vw := h.newView(w, r, nil)
	q := r.URL.Query()
	cb := people.SSOCallback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}
	if c, err := r.Cookie(ssoCookie); err == nil {
		cb.CookieState = c.Value
	}
	// The state is good once, whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: ssoPath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
	r = anonymousCtx(r)
	in, err := h.People.FinishSSO(r.Context(), cb)
	if err != nil {
		h.ssoRefused(w, r, vw, err)
		return
	}
	h.signedIn(w, r, vw, in)
}

// ssoRefused is the page of a single sign-on that did not sign anyone in: 400 for an answer that
// is not this browser's, 401 for one the provider or its token did not stand behind, 403 for a
// person the service does not know, 404 when single sign-on is off, 502 when the provider does
// not answer.
func (h *Web) ssoRefused(w http.ResponseWriter, r *http.Request, vw *view, err error) {
	status := 0
	switch {
	case errors.Is(err, people.ErrSSOOff):
		status = http.StatusNotFound
	case errors.Is(err, people.ErrSSOState):
		status = http.StatusBadRequest
	case errors.Is(err, people.ErrSSODenied), errors.Is(err, people.ErrSSOFailed):
		status = http.StatusUnauthorized
	case errors.Is(err, people.ErrSSOUnverified), errors.Is(err, people.ErrSSOUnknown):
		status = http.StatusForbidden
	case errors.Is(err, people.ErrSSOUnreachable):
		status = http.StatusBadGateway
	default:
		h.fail(w, r, vw, err)
		return
	}
	msg, _ := locale.MessageOf(err)
	h.renderStatus(w, r, vw, status, "error.html", errorPage{Title: "sso.refused.title", Message: vw.Msg(msg), Link: "/login", LinkText: "sso.back_to_login"})
}
