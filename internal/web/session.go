package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"orderimport/internal/audit"
	"orderimport/internal/people"
	"orderimport/internal/store"
)

// Session policy (OWASP ASVS 5.0 V7): a session ends after IdleTimeout without a request and
// at the latest AbsoluteTimeout after login, whatever the activity; both are enforced on the
// server, the cookie's own expiry is only a convenience for the browser.
const (
	sessionCookie          = "oi_session"
	DefaultIdleTimeout     = 8 * time.Hour
	DefaultAbsoluteTimeout = 7 * 24 * time.Hour
	// touchEvery bounds the writes that activity causes: last_seen_at moves at most once a
	// minute per session, so browsing does not queue behind imports on SQLite's one writer.
	touchEvery = time.Minute
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// visitor is who is asking: the user behind a valid session, or nobody.
type visitor struct {
	User    store.User
	Session store.Session
	token   string
}

type visitorKey struct{}

func visitorFrom(ctx context.Context) *visitor {
	v, _ := ctx.Value(visitorKey{}).(*visitor)
	return v
}

func isTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// clientIP is the peer address. X-Forwarded-For is not trusted: without a known proxy in
// front, anyone could name any address and slip past the per-IP login throttle.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// csrfToken is bound to the session token: it is useless without the HttpOnly cookie and
// changes with every login. A hash, so the cookie value cannot be derived from the token.
func csrfToken(sessionToken string) string {
	sum := sha256.Sum256([]byte("orderimport csrf\x00" + sessionToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (v *visitor) CSRF() string {
	if v == nil {
		return ""
	}
	return csrfToken(v.token)
}

func (v *visitor) csrfOK(got string) bool {
	if v == nil || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(v.token))) == 1
}

// lookup resolves the session cookie; a session idle for too long is deleted on the spot.
func (h *Web) lookup(r *http.Request) (*visitor, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	now := h.now()
	ss, u, err := h.Store.SessionByToken(r.Context(), c.Value, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(ss.LastSeenAt) > h.IdleTimeout || !now.Before(ss.CreatedAt.Add(h.AbsoluteTimeout)) {
		if err := h.Store.DeleteSession(r.Context(), c.Value); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if now.Sub(ss.LastSeenAt) >= touchEvery {
		if err := h.Store.TouchSession(r.Context(), ss.ID, now); err != nil {
			return nil, err
		}
	}
	return &visitor{User: u, Session: ss, token: c.Value}, nil
}

// SessionUser lets the JSON API serve the logged-in browser (the UI's JavaScript calls it).
// A state-changing call must carry the session's CSRF token in X-CSRF-Token: a cookie alone
// never authorises a change, whatever the browser's cross-site rules.
func (h *Web) SessionUser(r *http.Request) (u store.User, ok, csrfRefused bool, err error) {
	v, err := h.lookup(r)
	if err != nil {
		return store.User{}, false, false, err
	}
	if v == nil {
		return store.User{}, false, false, nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !v.csrfOK(r.Header.Get(csrfHeader)) {
			return store.User{}, false, true, nil
		}
	}
	return v.User, true, false, nil
}

// Internal answers a fault of the service with the error page (panics caught above the UI).
func (h *Web) Internal(w http.ResponseWriter, r *http.Request) {
	h.renderStatus(w, r, h.newView(w, r, nil), http.StatusInternalServerError, "error.html",
		errorPage{Title: "error.internal.title", Text: "error.internal.text"})
}

// CrossOriginRefused answers a form sent from another site, which the browser's cross-origin
// protection refused before any handler ran, with the page of a stale form.
func (h *Web) CrossOriginRefused(w http.ResponseWriter, r *http.Request) {
	h.renderStatus(w, r, h.newView(w, r, nil), http.StatusForbidden, "error.html",
		errorPage{Title: "error.csrf.title", Text: "error.csrf.text"})
}

// user wraps a page that needs a logged-in user: without one, the browser goes to the login
// page and comes back to this very page afterwards (the "Паспорт" step of the original K50 help page). Every
// state-changing request must also carry the session's CSRF token.
func (h *Web) user(next func(http.ResponseWriter, *http.Request, *view)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := h.lookup(r)
		if err != nil {
			h.fail(w, r, h.newView(w, r, nil), err)
			return
		}
		vw := h.newView(w, r, v)
		if v == nil {
			target := "/login"
			if r.Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
			var tooLarge *http.MaxBytesError
			if err := r.ParseForm(); errors.As(err, &tooLarge) {
				h.renderStatus(w, r, vw, http.StatusRequestEntityTooLarge, "error.html", errorPage{Title: "error.toolarge.title", Text: "error.toolarge.text"})
				return
			}
			if !v.csrfOK(r.PostFormValue(csrfField)) {
				h.renderStatus(w, r, vw, http.StatusForbidden, "error.html", errorPage{Title: "error.csrf.title", Text: "error.csrf.text"})
				return
			}
		}
		ctx := audit.WithActor(context.WithValue(r.Context(), visitorKey{}, v), audit.FromRequest(r, v.User, audit.ViaSession))
		next(w, r.WithContext(people.Principal(ctx, v.User)), vw)
	})
}

// startSession logs the user in: any previous session of this browser is ended and a new
// one with a new id begins (no session fixation).
func (h *Web) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := h.Store.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	now := h.now()
	token, ss, err := h.Store.CreateSession(r.Context(), u, now, h.AbsoluteTimeout, r.UserAgent(), clientIP(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Expires: ss.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
	// Logins are rare next to page views: a good moment to forget ended sessions.
	if _, err := h.Store.DeleteStaleSessions(r.Context(), now, now.Add(-h.IdleTimeout)); err != nil {
		h.Log.Warn("sweeping ended sessions failed", "error", err)
	}
	return nil
}

func (h *Web) endSession(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := h.Store.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
	return nil
}

// localPath accepts a return target only when it is a path on this site: "/x?y", never
// "//host", "/\host", a scheme, or control characters. Anything else becomes fallback.
func localPath(p, fallback string) string {
	if p == "" || len(p) > 2000 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return fallback
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return fallback
	}
	return p
}
