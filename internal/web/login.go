package web

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/people"
)

// challengeCookie carries a sign-in waiting for its second factor, to the page that asks for it
// only.
const (
	challengeCookie = "oi_2fa"
	challengePath   = "/login/2fa"
)

type loginData struct {
	Next   string
	Email  string
	Error  template.HTML        // the form's own message (wrong credentials, throttled, a refused sign-in)
	Errors map[string]*fieldErr // next to a field: "email", "password"
	SSO    string               // the identity provider's name, when single sign-on is on
}

// anonymousCtx is a request's context for the sign-in use cases: where it comes from, nobody yet.
func anonymousCtx(r *http.Request) *http.Request {
	return r.WithContext(audit.WithActor(r.Context(), audit.Actor{IP: clientIP(r), UserAgent: r.UserAgent(), Via: audit.ViaSession}))
}

// login shows the form (GET) and signs in (POST). After the sign-in — and its second step, when
// the user has one — the browser returns to the page that asked for it, when that is a page of
// this site.
func (h *Web) login(w http.ResponseWriter, r *http.Request) {
	v, err := h.lookup(r)
	if err != nil {
		h.fail(w, r, h.newView(w, r, nil), err)
		return
	}
	vw := h.newView(w, r, v)
	vw.Title = vw.T("login.title")
	d := loginData{Errors: map[string]*fieldErr{}, SSO: h.People.SSOName()}
	if r.Method == http.MethodGet {
		d.Next = localPath(r.URL.Query().Get("next"), "/")
		if v != nil {
			redirect(w, r, d.Next)
			return
		}
		h.render(w, r, vw, "login.html", d)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	d.Next, d.Email = localPath(r.PostFormValue("next"), "/"), strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	if d.Email == "" {
		d.Errors["email"] = textErr(vw, "login.err.email_required")
	}
	if password == "" {
		d.Errors["password"] = textErr(vw, "login.err.password_required")
	}
	if len(d.Errors) > 0 {
		h.renderStatus(w, r, vw, http.StatusUnprocessableEntity, "login.html", d)
		return
	}
	r = anonymousCtx(r)
	in, err := h.People.SignIn(r.Context(), d.Email, password, d.Next)
	if h.signInFailed(w, r, vw, err, func(status int, msg template.HTML) {
		d.Error = msg
		h.renderStatus(w, r, vw, status, "login.html", d)
	}) {
		return
	}
	h.signedIn(w, r, vw, in)
}

// signInFailed answers a refused sign-in step through show (status, words) and reports whether
// there was one: wrong credentials or code 401, throttled 429 with Retry-After.
func (h *Web) signInFailed(w http.ResponseWriter, r *http.Request, vw *view, err error, show func(int, template.HTML)) bool {
	var te *people.ThrottledError
	switch {
	case err == nil:
		return false
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(int(te.Wait.Seconds())+1))
		h.Log.Warn("sign-in throttled", "ip", clientIP(r))
		show(http.StatusTooManyRequests, vw.Msg(te.Message()))
	case errors.Is(err, people.ErrWrongCredentials), errors.Is(err, people.ErrWrongCode):
		h.Log.Info("sign-in failed", "ip", clientIP(r))
		msg, _ := locale.MessageOf(err)
		show(http.StatusUnauthorized, vw.Msg(msg))
	default:
		h.fail(w, r, vw, err)
	}
	return true
}

// signedIn finishes a sign-in whose first step passed: the page for the second factor, or the
// session and the page that asked for it.
func (h *Web) signedIn(w http.ResponseWriter, r *http.Request, vw *view, in people.SignedIn) {
	if in.Challenge != "" {
		http.SetCookie(w, &http.Cookie{Name: challengeCookie, Value: in.Challenge, Path: challengePath, MaxAge: int(people.ChallengeTTL.Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
		redirect(w, r, challengePath)
		return
	}
	if err := h.startSession(w, r, in.User); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	h.Log.Info("login", "user_id", in.User.ID, "ip", clientIP(r))
	redirect(w, r, localPath(in.Next, "/"))
}

type secondFactorData struct {
	Error  template.HTML
	Errors map[string]*fieldErr
}

// secondFactor asks for the code of a sign-in whose password (or single sign-on) step passed.
func (h *Web) secondFactor(w http.ResponseWriter, r *http.Request) {
	vw := h.newView(w, r, nil)
	vw.Title = vw.T("twofa.title")
	c, err := r.Cookie(challengeCookie)
	gone := func() {
		http.SetCookie(w, &http.Cookie{Name: challengeCookie, Value: "", Path: challengePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
		h.renderStatus(w, r, vw, http.StatusGone, "error.html", errorPage{Title: "twofa.gone.title", Text: "twofa.gone.text", Link: "/login", LinkText: "login.title"})
	}
	if err != nil || c.Value == "" {
		gone()
		return
	}
	d := secondFactorData{Errors: map[string]*fieldErr{}}
	if r.Method == http.MethodGet {
		if _, err := h.People.Challenge(r.Context(), c.Value); errors.Is(err, people.ErrChallengeGone) {
			gone()
			return
		} else if err != nil {
			h.fail(w, r, vw, err)
			return
		}
		h.render(w, r, vw, "login_2fa.html", d)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		d.Errors["code"] = textErr(vw, "twofa.err.code_required")
		h.renderStatus(w, r, vw, http.StatusUnprocessableEntity, "login_2fa.html", d)
		return
	}
	r = anonymousCtx(r)
	in, err := h.People.SecondFactor(r.Context(), c.Value, code)
	if errors.Is(err, people.ErrChallengeGone) {
		gone()
		return
	}
	if h.signInFailed(w, r, vw, err, func(status int, msg template.HTML) {
		d.Error = msg
		h.renderStatus(w, r, vw, status, "login_2fa.html", d)
	}) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: challengeCookie, Value: "", Path: challengePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
	h.signedIn(w, r, vw, in)
}
