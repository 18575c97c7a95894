package app_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/audit"
)

// provider is an OpenID Connect provider running in the test (oauth2-proxy/mockoidc: discovery,
// keys, the authorization and token endpoints, PKCE, single-use codes) and how often its token
// endpoint was called.
type provider struct {
	*mockoidc.MockOIDC
	tokenCalls atomic.Int64
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{MockOIDC: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.TokenEndpoint {
				p.tokenCalls.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// otherAudience is a provider's user whose ID token is made out to another client, signed by
// the provider's real key.
type otherAudience struct{ *mockoidc.MockUser }

func (u otherAudience) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c.Audience = jwt.ClaimStrings{"some-other-client"}
	return u.MockUser.Claims(scope, c)
}

// leave starts single sign-on in the browser and follows it through the provider, which signs
// the queued user in at once; it returns the callback path and query the provider sends the
// browser back to, not yet visited.
func (e *secEnv) leave(b *browser, next string) string {
	e.t.Helper()
	start := "/auth/oidc/start"
	if next != "" {
		start += "?next=" + url.QueryEscape(next)
	}
	st, body, h := b.get(start)
	if st != http.StatusFound {
		e.t.Fatalf("start: %d %s", st, body)
	}
	resp, err := b.c.Get(h.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(back, e.base+"/auth/oidc/callback?") {
		e.t.Fatalf("the provider answered %d, sending the browser to %q", resp.StatusCode, back)
	}
	return strings.TrimPrefix(back, e.base)
}

// signedIn reports whether the browser has a session now.
func (b *browser) signedIn() bool {
	st, _, _ := b.get("/account")
	return st == http.StatusOK
}

// TestSingleSignOn signs in through a real OpenID Connect provider running in the test, end to
// end through the service's HTTP surface, and tries every way the flow must refuse: a callback
// that is not this browser's (wrong state), one replayed, a replayed code under a fresh state, an
// ID token made out to another client, an expired one, an unverified email, an email nobody has.
// Each refusal is a 4xx page and signs nobody in; nobody is ever created; each is audited.
func TestSingleSignOn(t *testing.T) {
	p := startProvider(t)
	e := newSecEnv(t, secOpts{allowPrivate: true, oidc: p.MockOIDC})
	ctx := context.Background()
	owner := func(verified bool) *mockoidc.MockUser {
		return &mockoidc.MockUser{Subject: "sub-owner", Email: "Owner@Example.com", EmailVerified: verified}
	}
	usersBefore, _ := e.app.Store.Users(ctx, e.acc)

	// The login page offers it by the provider's name.
	_, page, _ := e.newBrowser().get("/login")
	if !strings.Contains(page, `href="/auth/oidc/start"`) || !strings.Contains(page, "Войти через Test ID") {
		t.Fatalf("the login page offers no single sign-on: %.600s", page)
	}

	// Success: back on the page that asked, with a session, audited.
	b := e.newBrowser()
	p.QueueUser(owner(true))
	callback := e.leave(b, "/counters/1/orders")
	st, _, h := b.get(callback)
	if st != http.StatusSeeOther || h.Get("Location") != "/counters/1/orders" || !b.signedIn() {
		t.Fatalf("callback: %d to %q", st, h.Get("Location"))
	}
	events, _ := e.app.Store.AuditEvents(ctx, e.acc, 0, 10)
	if len(events) == 0 || events[0].Action != audit.LoginSSO || events[0].Actor != ownerEmail {
		t.Fatalf("the sign-in is not audited: %+v", events)
	}
	// The same callback again: its state is spent.
	again := e.newBrowser()
	if st, _, _ := again.get(callback); st != http.StatusBadRequest || again.signedIn() {
		t.Errorf("the callback replayed: %d", st)
	}
	// The code again, under a fresh state of this browser: the provider refuses it.
	fresh := e.newBrowser()
	p.QueueUser(owner(true))
	next := e.leave(fresh, "")
	oldCode := mustQuery(t, callback).Get("code")
	q := mustQuery(t, next)
	q.Set("code", oldCode)
	if st, body, _ := fresh.get("/auth/oidc/callback?" + q.Encode()); st != http.StatusUnauthorized || fresh.signedIn() ||
		!strings.Contains(body, "Не удалось проверить ответ") {
		t.Errorf("a replayed code: %d %.300s", st, body)
	}

	// A state that is not the one this browser left with never reaches the provider.
	calls := p.tokenCalls.Load()
	forged := e.newBrowser()
	p.QueueUser(owner(true))
	cb := mustQuery(t, e.leave(forged, ""))
	cb.Set("state", "attacker-state")
	if st, _, _ := forged.get("/auth/oidc/callback?" + cb.Encode()); st != http.StatusBadRequest || forged.signedIn() {
		t.Errorf("a wrong state: %d", st)
	}
	// Another browser bringing this browser's callback (login CSRF): no state cookie.
	victim := e.newBrowser()
	p.QueueUser(owner(true))
	stolen := e.leave(e.newBrowser(), "")
	if st, _, _ := victim.get(stolen); st != http.StatusBadRequest || victim.signedIn() {
		t.Errorf("a callback from another browser: %d", st)
	}
	if p.tokenCalls.Load() != calls {
		t.Errorf("the code was exchanged for a callback with a wrong state")
	}

	refusals := []struct {
		name   string
		user   mockoidc.User
		before func()
		after  func()
		status int
		words  string
	}{
		{name: "an ID token for another client", user: otherAudience{owner(true)}, status: http.StatusUnauthorized, words: "Не удалось проверить ответ"},
		{name: "an expired ID token", user: owner(true), before: func() { p.FastForward(-time.Hour) }, after: func() { p.FastForward(time.Hour) },
			status: http.StatusUnauthorized, words: "Не удалось проверить ответ"},
		{name: "an unverified email", user: owner(false), status: http.StatusForbidden, words: "не подтверждает"},
		{name: "an email nobody has", user: &mockoidc.MockUser{Subject: "x", Email: "stranger@example.com", EmailVerified: true},
			status: http.StatusForbidden, words: "Нет пользователя сервиса"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			br := e.newBrowser()
			p.QueueUser(r.user)
			if r.before != nil {
				r.before()
			}
			callback := e.leave(br, "")
			st, body, _ := br.get(callback)
			if r.after != nil {
				r.after()
			}
			if st != r.status || !strings.Contains(body, r.words) || br.signedIn() {
				t.Errorf("%d, want %d with %q: %.400s", st, r.status, r.words, body)
			}
		})
	}
	// The provider saying no (the person cancelled) is a refusal too.
	br := e.newBrowser()
	p.QueueUser(owner(true))
	cb = mustQuery(t, e.leave(br, ""))
	cb.Del("code")
	cb.Set("error", "access_denied")
	if st, _, _ := br.get("/auth/oidc/callback?" + cb.Encode()); st != http.StatusUnauthorized || br.signedIn() {
		t.Errorf("the provider's error: %d", st)
	}

	usersAfter, _ := e.app.Store.Users(ctx, e.acc)
	if len(usersAfter) != len(usersBefore) {
		t.Errorf("single sign-on created users: %d before, %d after", len(usersBefore), len(usersAfter))
	}
	if _, err := e.app.Store.UserByEmail(ctx, "stranger@example.com"); err == nil {
		t.Error("a user was created for an unknown email")
	}
	events, _ = e.app.Store.AuditEvents(ctx, e.acc, 0, 100)
	refused := 0
	for _, ev := range events {
		if ev.Action == audit.LoginSSORefused {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refusals recorded in the owner's account, want 1 (the unverified email: the others name nobody of it)", refused)
	}
}

// A user with a second factor who signs in through the provider still gives the code.
func TestSingleSignOnAsksForTheSecondFactor(t *testing.T) {
	p := startProvider(t)
	e := newSecEnv(t, secOpts{allowPrivate: true, oidc: p.MockOIDC})
	ctx := context.Background()
	u, _ := e.app.Store.UserByID(ctx, e.user)
	as := access.With(ctx, u.ID, u.AccountID, u.Role)
	en, err := e.app.People.BeginTOTP(as)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.People.ConfirmTOTP(as, totpNow(t, en.Secret)); err != nil {
		t.Fatal(err)
	}
	b := e.newBrowser()
	p.QueueUser(&mockoidc.MockUser{Subject: "s", Email: ownerEmail, EmailVerified: true})
	st, _, h := b.get(e.leave(b, "/audit"))
	if st != http.StatusSeeOther || h.Get("Location") != "/login/2fa" || b.signedIn() {
		t.Fatalf("callback for a TOTP user: %d to %q", st, h.Get("Location"))
	}
}

func mustQuery(t *testing.T, pathAndQuery string) url.Values {
	t.Helper()
	u, err := url.Parse(pathAndQuery)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// totpNow is the authenticator app's code for the secret at this moment.
func totpNow(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
