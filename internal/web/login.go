package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

type loginData struct {
	Next   string
	Email  string
	Error  string               // the form's own message (wrong credentials, throttled)
	Errors map[string]*fieldErr // next to a field: "email", "password"
}

// login shows the form (GET) and logs in (POST). After login the browser returns to the page
// that asked for it, when that is a page of this site.
func (h *Web) login(w http.ResponseWriter, r *http.Request) {
	v, err := h.lookup(r)
	if err != nil {
		h.fail(w, r, h.newView(w, r, nil), err)
		return
	}
	vw := h.newView(w, r, v)
	vw.Title = vw.T("login.title")
	if r.Method == http.MethodGet {
		next := localPath(r.URL.Query().Get("next"), "/")
		if v != nil {
			redirect(w, r, next)
			return
		}
		h.render(w, r, vw, "login.html", loginData{Next: next, Errors: map[string]*fieldErr{}})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	d := loginData{Next: localPath(r.PostFormValue("next"), "/"), Email: strings.TrimSpace(r.PostFormValue("email")), Errors: map[string]*fieldErr{}}
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
	emailKey, ipKey := strings.ToLower(d.Email), clientIP(r)
	if wait := max(h.byEmail.retryAfter(emailKey), h.byIP.retryAfter(ipKey)); wait > 0 {
		minutes := int(math.Ceil(wait.Minutes()))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		d.Error = vw.T("login.err.throttled", minutes)
		h.Log.Warn("login throttled", "ip", ipKey)
		h.auditLogin(r, d.Email, audit.LoginThrottled, locale.M("audit_login_throttled", "minutes", minutes))
		h.renderStatus(w, r, vw, http.StatusTooManyRequests, "login.html", d)
		return
	}
	u, err := h.Store.Authenticate(r.Context(), d.Email, password)
	if errors.Is(err, store.ErrNotFound) {
		h.byEmail.fail(emailKey)
		h.byIP.fail(ipKey)
		h.Log.Info("login failed", "ip", ipKey)
		h.auditLogin(r, d.Email, audit.LoginFailed, locale.M("audit_login_failed"))
		d.Error = vw.T("login.err.wrong")
		h.renderStatus(w, r, vw, http.StatusUnauthorized, "login.html", d)
		return
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	h.byEmail.reset(emailKey)
	if err := h.startSession(w, r, u); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	h.Log.Info("login", "user_id", u.ID, "ip", ipKey)
	h.Audit.RecordAs(r.Context(), audit.FromRequest(r, u, audit.ViaSession), u.AccountID, audit.Login, "", locale.M("audit_session_started"))
	redirect(w, r, d.Next)
}

// auditLogin records a refused login under the account the email belongs to, so its users see
// attempts on it. An email nobody has is filed under no account and not repeated: people type
// their password into the email field, and the log must not keep it.
func (h *Web) auditLogin(r *http.Request, email, action string, detail locale.Message) {
	a := audit.Actor{IP: clientIP(r), UserAgent: r.UserAgent(), Via: audit.ViaSession}
	var account int64
	u, err := h.Store.UserByEmail(r.Context(), email)
	switch {
	case err == nil:
		a.UserID, a.Email, account = u.ID, u.Email, u.AccountID
	case errors.Is(err, store.ErrNotFound):
		detail = locale.M("audit_unknown_email", "what", detail)
	default:
		h.Log.Error("audit: look up the login's user", "error", err)
	}
	h.Audit.RecordAs(r.Context(), a, account, action, "", detail)
}
