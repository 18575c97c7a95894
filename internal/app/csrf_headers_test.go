package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"orderimport/internal/crmemu"
)

// checkHeaders holds one answer to the security headers every answer carries.
func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %s", what, csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: CSP %q allows %s", what, csp, bad)
		}
	}
	want := map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), v)
		}
	}
}

// TestCrossOriginRequestsAreRefused sends every state-changing browser request the service
// serves (every non-GET UI route, and the JSON API with the session cookie) from another
// site, with a valid session cookie and even a valid CSRF token: each is refused before any
// handler runs, and nothing changes. Same-site requests without the CSRF token are refused
// too. Every answer, refusals included, carries the security headers.
func TestCrossOriginRequestsAreRefused(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 8, Orders: 5}})
	ctx := context.Background()
	c, _ := e.app.Store.CreateCounter(ctx, e.acc, ownerMarker, "Europe/Moscow")
	in := ids{counter: c.ID, crm: e.crm, invite: map[string]string{asOwner: "oiv_none"}}
	st, body := e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", c.ID), e.token, apiCreateBody(in, asOwner))
	if st != 201 {
		t.Fatalf("task: %d %s", st, body)
	}
	var task struct {
		ID         int64
		TriggerURL string `json:"trigger_url"`
	}
	_ = jsonUnmarshal(body, &task)
	in.task = task.ID
	in.apiDelete, in.uiDelete = map[string]int64{asOwner: task.ID}, map[string]int64{asOwner: task.ID}
	in.trigger = strings.TrimPrefix(task.TriggerURL, e.base)
	b := e.login(ownerEmail, ownerPassword)
	before, _ := e.app.Store.AuditEvents(ctx, e.acc, 0, 1000)

	var stateChanging []string
	for _, r := range e.app.Routes() {
		method, _, ok := strings.Cut(r, " ")
		if ok && method != "GET" && method != "HEAD" {
			stateChanging = append(stateChanging, r)
		}
	}
	if len(stateChanging) < 15 {
		t.Fatalf("only %d state-changing routes found: %v", len(stateChanging), stateChanging)
	}
	attacks := []struct {
		name    string
		headers map[string]string
	}{
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"same-site other origin", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://evil." + strings.TrimPrefix(e.base, "http://")}},
		{"old browser, foreign Origin", map[string]string{"Origin": "https://evil.example"}},
	}
	for _, r := range stateChanging {
		if strings.HasPrefix(r, "POST /hooks/") {
			// RetailCRM's trigger: a server calls it, with the token in its path as the only
			// credential; no cookie counts there, so no origin is refused (App.Handler).
			continue
		}
		method, _, _ := strings.Cut(r, " ")
		rc := matrix[r]
		path := rc.path(in, asOwner)
		for _, a := range attacks {
			var req *http.Request
			if strings.HasPrefix(path, "/api/") {
				body := "{}"
				if rc.body != nil {
					body = rc.body(in, asOwner)
				}
				req, _ = http.NewRequest(method, e.base+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-CSRF-Token", b.csrf)
			} else {
				form := url.Values{"csrf": {b.csrf}}
				if rc.body != nil {
					extra, _ := url.ParseQuery(rc.body(in, asOwner))
					for k, v := range extra {
						form[k] = v
					}
				}
				req, _ = http.NewRequest(method, e.base+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for k, v := range a.headers {
				req.Header.Set(k, v)
			}
			st, body, h := e.request(b.c, req)
			if st != http.StatusForbidden {
				t.Errorf("%s from %s with the session cookie and token: %d, want 403: %.200s", r, a.name, st, body)
			}
			checkHeaders(t, r+" refused", h)
		}
		// Same site, session cookie, but no CSRF token: refused as well (the login form and
		// its second step have no session to bind a token to; the cross-origin check is their
		// protection, with the pending sign-in's own cookie for the second step).
		if r == "POST /login" || r == "POST /login/2fa" {
			continue
		}
		var req *http.Request
		if strings.HasPrefix(path, "/api/") {
			req, _ = http.NewRequest(method, e.base+path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
		} else {
			req, _ = http.NewRequest(method, e.base+path, strings.NewReader("name=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", e.base)
		st, body, h := e.request(b.c, req)
		// A cookie alone never authorises a change: the page's form or the API says why.
		if st != http.StatusForbidden || (strings.HasPrefix(path, "/api/") && !strings.Contains(body, `"code":"csrf_refused"`)) {
			t.Errorf("%s same-site without the CSRF token: %d, want 403: %.200s", r, st, body)
		}
		checkHeaders(t, r+" without token", h)
	}
	after, _ := e.app.Store.AuditEvents(ctx, e.acc, 0, 1000)
	if len(after) != len(before) {
		t.Errorf("refused requests changed something: %d audit events before, %d after: %+v", len(before), len(after), after[0])
	}
	if got, err := e.app.Store.Task(ctx, e.acc, task.ID); err != nil || got.Name != "Заказы" {
		t.Errorf("the task changed: %+v %v", got, err)
	}
	cs, _ := e.app.Store.Counters(ctx, e.acc)
	if len(cs) != 1 {
		t.Errorf("%d counters: a refused request created one", len(cs))
	}
}

// TestSecurityHeadersOnEveryAnswer asks for every route (as the owner and anonymously) and
// for the error answers (404, 401, 405, 413, cross-origin 403): all carry the headers.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 8, Orders: 5}})
	ctx := context.Background()
	c, _ := e.app.Store.CreateCounter(ctx, e.acc, ownerMarker, "Europe/Moscow")
	in := ids{counter: c.ID, task: 1, run: 1, crm: e.crm, apiDelete: map[string]int64{asOwner: 1}, uiDelete: map[string]int64{asOwner: 1},
		invite: map[string]string{asOwner: "oiv_none"}}
	b := e.login(ownerEmail, ownerPassword)
	anon := e.newBrowser()
	for _, r := range e.app.Routes() {
		if r == "POST /logout" {
			continue
		}
		method, _, ok := strings.Cut(r, " ")
		if !ok {
			method = "GET"
		}
		path := matrix[r].path(in, asOwner)
		for who, br := range map[string]*browser{"owner": b, "anonymous": anon} {
			req, _ := http.NewRequest(method, e.base+path, strings.NewReader(""))
			if method != "GET" {
				req.Header.Set("Sec-Fetch-Site", "same-origin")
			}
			st, _, h := e.request(br.c, req)
			checkHeaders(t, fmt.Sprintf("%s as %s (%d)", r, who, st), h)
			ct := h.Get("Content-Type")
			if st == 200 && (strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/csv")) &&
				h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s as %s: %s answer with Cache-Control %q, want no-store", r, who, ct, h.Get("Cache-Control"))
			}
		}
	}
	for _, x := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/counters", "{}"},
		{"GET", "/api/v1/counters", ""},
		{"POST", "/api/v1/counters", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`},
		{"GET", "/nothing", ""},
	} {
		st, _ := e.api(x.method, x.path, e.token, x.body)
		req, _ := http.NewRequest(x.method, e.base+x.path, strings.NewReader(x.body))
		_, _, h := e.request(http.DefaultClient, req)
		checkHeaders(t, fmt.Sprintf("%s %s (%d)", x.method, x.path, st), h)
	}
}

// Behind TLS the session cookie is Secure, HttpOnly, SameSite=Lax and scoped to the site, the
// session id changes at every login, and browsers are told to stay on HTTPS.
func TestSessionCookieOverTLS(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true})
	srv := httptest.NewTLSServer(e.app.Handler())
	defer srv.Close()
	login := func() *http.Cookie {
		jar, _ := cookiejar.New(nil)
		c := srv.Client()
		c.Jar = jar
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"email": {ownerEmail}, "password": {ownerPassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			if ck.Name == "oi_session" {
				return ck
			}
		}
		t.Fatalf("login over TLS: %d without a session cookie", resp.StatusCode)
		return nil
	}
	resp, err := srv.Client().Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=31536000") {
		t.Errorf("over TLS: Strict-Transport-Security %q", hsts)
	}
	if _, _, h := e.newBrowser().get("/login"); h.Get("Strict-Transport-Security") != "" {
		t.Errorf("over plain HTTP: Strict-Transport-Security %q", h.Get("Strict-Transport-Security"))
	}
	first, second := login(), login()
	if !first.Secure || !first.HttpOnly || first.SameSite != http.SameSiteLaxMode || first.Path != "/" || first.Domain != "" {
		t.Errorf("session cookie over TLS: %+v", first)
	}
	if first.Value == second.Value || !strings.HasPrefix(first.Value, "ois_") || len(first.Value) < 40 {
		t.Errorf("session ids %q, %q: want a fresh long random id per login", first.Value, second.Value)
	}
}
