package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/web"
	"orderimport/internal/web/uitest"
)

func sessionCookie(t *testing.T, p page) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "oi_session" {
			return c
		}
	}
	return nil
}

// The "Паспорт" step of the original K50 help page: a page opened while logged out leads to the login page and,
// after login, straight back to it. Only paths on this site are accepted as the way back.
func TestLoginReturnsToThePageThatAskedForIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	c := e.counter("Shop")
	want := "/counters/" + itoa(c.ID) + "/imports/new"

	p := e.get(want)
	if p.status != http.StatusSeeOther || p.location != "/login?next="+url.QueryEscape(want) {
		t.Fatalf("logged out: %d → %q, want the login page with next=%s", p.status, p.location, want)
	}
	p = e.get(p.location)
	if p.status != 200 || !strings.Contains(p.body, `name="next" value="`+want+`"`) || !strings.Contains(text(p.body), "Войдите, чтобы продолжить") {
		t.Fatalf("login page: %d %s", p.status, text(p.body))
	}
	p = e.post("/login", url.Values{"email": {uitest.Email}, "password": {uitest.Password}, "next": {want}})
	if p.status != http.StatusSeeOther || p.location != want {
		t.Fatalf("after login: %d → %q, want %q", p.status, p.location, want)
	}
	if p = e.get(want); p.status != 200 || !strings.Contains(text(p.body), "Новое подключение RetailCRM") {
		t.Fatalf("the form after login: %d", p.status)
	}
	// Already logged in, the login page just sends the browser on.
	if p = e.get("/login?next=" + url.QueryEscape(want)); p.status != http.StatusSeeOther || p.location != want {
		t.Fatalf("login page while logged in: %d → %q", p.status, p.location)
	}

	for _, evil := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		fresh := newClient()
		p := e.postWith(fresh, "/login", url.Values{"email": {uitest.Email}, "password": {uitest.Password}, "next": {evil}})
		if p.status != http.StatusSeeOther || p.location != "/" {
			t.Errorf("next=%q: redirected to %q, want /", evil, p.location)
		}
	}
}

func TestLoginErrorsAndCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)

	p := e.post("/login", url.Values{"email": {""}, "password": {""}})
	if p.status != http.StatusUnprocessableEntity || fieldError(t, p.body, "email") != "Введите email." || fieldError(t, p.body, "password") != "Введите пароль." {
		t.Fatalf("empty form: %d %s", p.status, text(p.body))
	}
	p = e.post("/login", url.Values{"email": {uitest.Email}, "password": {"wrong password"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(text(p.body), "Неверный email или пароль.") {
		t.Fatalf("wrong password: %d %s", p.status, text(p.body))
	}
	if !strings.Contains(p.body, `value="`+uitest.Email+`"`) || strings.Contains(p.body, "wrong password") {
		t.Fatal("the form keeps the email and never the password")
	}
	p = e.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"whatever-it-is"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(text(p.body), "Неверный email или пароль.") {
		t.Fatalf("unknown email must read like a wrong password: %d", p.status)
	}

	p = e.post("/login", url.Values{"email": {" Owner@Example.com "}, "password": {uitest.Password}})
	ck := sessionCookie(t, p)
	if p.status != http.StatusSeeOther || ck == nil {
		t.Fatalf("login: %d, cookie %v", p.status, ck)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over plain http", ck)
	}
	if exp := time.Until(ck.Expires); exp < 6*24*time.Hour || exp > 7*24*time.Hour+time.Minute {
		t.Fatalf("cookie expires in %v, want the absolute timeout of 7 days", exp)
	}

	// Behind a TLS-terminating proxy the cookie is Secure.
	req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"email": {uitest.Email}, "password": {uitest.Password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	if ck := sessionCookie(t, e.do(newClient(), req)); ck == nil || !ck.Secure {
		t.Fatalf("behind https: cookie %+v, want Secure", ck)
	}
}

// A new login gets a new session id and ends the old one; logout ends it on the server, so a
// stolen cookie value is worth nothing afterwards.
func TestSessionRotationAndLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.login()
	first := e.cookieValue()
	e.login()
	second := e.cookieValue()
	if first == "" || first == second {
		t.Fatalf("the session id was not rotated at login: %q → %q", first, second)
	}
	if p := e.withCookie(first, "/"); p.status != http.StatusSeeOther {
		t.Fatalf("the session replaced at login still works: %d", p.status)
	}
	if p := e.withCookie(second, "/"); p.status != 200 {
		t.Fatalf("the current session: %d", p.status)
	}
	p := e.post("/logout", url.Values{"csrf": {e.csrf()}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login") {
		t.Fatalf("logout: %d → %q", p.status, p.location)
	}
	if ck := sessionCookie(t, p); ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("logout must expire the cookie: %+v", ck)
	}
	if p := e.withCookie(second, "/"); p.status != http.StatusSeeOther {
		t.Fatalf("the session still works after logout: %d", p.status)
	}
	if p := e.get("/login?done=logged_out"); !strings.Contains(text(p.body), "Вы вышли из системы.") {
		t.Fatal("no logout notice")
	}
}

func (e *env) cookieValue() string {
	u, _ := url.Parse(e.srv.URL)
	for _, c := range e.client.Jar.Cookies(u) {
		if c.Name == "oi_session" {
			return c.Value
		}
	}
	return ""
}

func (e *env) withCookie(value, path string) page {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: "oi_session", Value: value})
	return e.do(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
}

// Idle for longer than the idle timeout, or older than the absolute timeout however active:
// the session is over and the next page asks for a login.
func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e.srv.App.Web.SetClock(clock)

	e.login()
	advance(web.DefaultIdleTimeout - time.Minute)
	if p := e.get("/"); p.status != 200 {
		t.Fatalf("active within the idle timeout: %d", p.status)
	}
	advance(web.DefaultIdleTimeout + time.Minute)
	if p := e.get("/"); p.status != http.StatusSeeOther {
		t.Fatalf("idle past the timeout: %d, want the login page", p.status)
	}

	e.login()
	for since := 6 * time.Hour; since < web.DefaultAbsoluteTimeout; since += 6 * time.Hour {
		advance(6 * time.Hour)
		if p := e.get("/"); p.status != 200 {
			t.Fatalf("active session refused %v after login: %d", since, p.status)
		}
	}
	advance(7 * time.Hour)
	if p := e.get("/"); p.status != http.StatusSeeOther {
		t.Fatalf("past the absolute timeout, however active: %d, want the login page", p.status)
	}
}

// Failed logins are limited per email and per IP; the answer says when to try again, and the
// right password does not get through while the limit holds.
func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	for i := 0; i < 5; i++ {
		if p := e.post("/login", url.Values{"email": {uitest.Email}, "password": {"guess-" + itoa(int64(i))}}); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, p.status)
		}
	}
	p := e.post("/login", url.Values{"email": {uitest.Email}, "password": {uitest.Password}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" ||
		!strings.Contains(text(p.body), "Слишком много неудачных попыток. Попробуйте снова через 15 мин.") {
		t.Fatalf("sixth attempt: %d %q %s", p.status, p.header.Get("Retry-After"), text(p.body))
	}
	// Per IP: many accounts tried from one place.
	for i := 0; i < 15; i++ {
		e.post("/login", url.Values{"email": {"user" + itoa(int64(i)) + "@example.com"}, "password": {"guess-guess"}})
	}
	p = e.post("/login", url.Values{"email": {"another@example.com"}, "password": {"guess-guess"}})
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("21st failure from one IP: %d, want 429", p.status)
	}
}

// Every state-changing browser request needs the session's CSRF token: the forms carry it,
// the script sends it in X-CSRF-Token to the JSON API.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.login()
	token := e.csrf()
	for _, form := range []url.Values{{"name": {"X"}}, {"name": {"X"}, "csrf": {"wrong"}}} {
		p := e.post("/counters", form)
		if p.status != http.StatusForbidden || !strings.Contains(text(p.body), "Форма устарела") {
			t.Fatalf("counter without a valid token: %d", p.status)
		}
	}
	if p := e.post("/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("logout without a token: %d", p.status)
	}
	if p := e.post("/counters", url.Values{"name": {"Shop"}, "timezone": {"Europe/Moscow"}, "csrf": {token}}); p.status != http.StatusSeeOther {
		t.Fatalf("with the token: %d", p.status)
	}

	apiPost := func(header string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/counters", strings.NewReader(`{"name":"API"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if header != "" {
			req.Header.Set("X-CSRF-Token", header)
		}
		return e.do(e.client, req).status
	}
	if st := apiPost(""); st != http.StatusForbidden {
		t.Fatalf("API POST with the session cookie but no token: %d, want 403", st)
	}
	if st := apiPost("wrong"); st != http.StatusForbidden {
		t.Fatalf("API POST with a wrong token: %d", st)
	}
	if st := apiPost(token); st != http.StatusCreated {
		t.Fatalf("API POST with the token: %d", st)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/counters", nil)
	p := e.do(e.client, req)
	var out struct{ Counters []struct{ Name string } }
	if p.status != 200 || json.Unmarshal([]byte(p.body), &out) != nil || len(out.Counters) != 2 {
		t.Fatalf("API GET with the session: %d %s", p.status, p.body)
	}
	// A cross-site form post is refused before any handler runs.
	req, _ = http.NewRequest("POST", e.srv.URL+"/counters", strings.NewReader(url.Values{"name": {"Evil"}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := e.do(e.client, req); p.status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", p.status)
	}
	cs, _ := e.srv.App.Store.Counters(context.Background(), e.srv.AccountID)
	if len(cs) != 2 {
		t.Fatalf("%d counters: a refused request changed something", len(cs))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A form post larger than any legitimate one is refused without being read whole.
func TestOversizedFormRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.login()
	p := e.post("/counters", url.Values{"csrf": {e.csrf()}, "name": {strings.Repeat("x", 2<<20)}})
	if p.status != http.StatusRequestEntityTooLarge || !strings.Contains(text(p.body), "Слишком большая форма") {
		t.Fatalf("a 2 MiB form: %d, want 413 with words", p.status)
	}
	cs, _ := e.srv.App.Store.Counters(context.Background(), e.srv.AccountID)
	if len(cs) != 0 {
		t.Fatal("an oversized form created a counter")
	}
}
