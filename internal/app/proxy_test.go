package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"orderimport/internal/audit"
)

// loginFrom posts the login form as a browser behind a proxy that says the client is client.
func (e *secEnv) loginFrom(client, email, password string) int {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+"/login", strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.base)
	req.Header.Set("X-Forwarded-For", client)
	st, _, _ := e.request(e.newBrowser().c, req)
	return st
}

// Behind a proxy in ORDERIMPORT_TRUSTED_PROXIES the per-address login limit counts each client
// apart, and the audit log records the client's address; a peer outside them cannot name an
// address at all.
func TestClientAddressBehindTrustedProxy(t *testing.T) {
	e := newSecEnv(t, secOpts{proxies: "127.0.0.1/32, ::1/128"})
	for i := 0; i < 20; i++ {
		if st := e.loginFrom("203.0.113.1", "nobody"+string(rune('a'+i))+"@example.com", "wrong password"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, st)
		}
	}
	if st := e.loginFrom("203.0.113.1", "more@example.com", "wrong password"); st != http.StatusTooManyRequests {
		t.Errorf("the 21st failure from one client: %d, want 429", st)
	}
	if st := e.loginFrom("203.0.113.2", "more@example.com", "wrong password"); st != http.StatusUnauthorized {
		t.Errorf("another client behind the same proxy: %d, want 401 (not throttled)", st)
	}
	// A client that forges the header in front of the proxy gains nothing: the proxy appends
	// the real address, and that is the one taken.
	if st := e.loginFrom("198.51.100.99, 203.0.113.1", "more@example.com", "wrong password"); st != http.StatusTooManyRequests {
		t.Errorf("a forged hop: %d, want 429 for the real client", st)
	}
	if st := e.loginFrom("198.51.100.7", ownerEmail, ownerPassword); st != http.StatusSeeOther {
		t.Fatalf("login: %d", st)
	}
	events, _ := e.app.Store.AuditEvents(context.Background(), e.acc, 0, 10)
	if len(events) == 0 || events[0].Action != audit.Login || events[0].IP != "198.51.100.7" {
		t.Errorf("the login is recorded as %+v, want from 198.51.100.7", events)
	}

	// Without trusted proxies the header is the client's to invent, and ignored.
	plain := newSecEnv(t, secOpts{})
	for i := 0; i < 20; i++ {
		plain.loginFrom("203.0.113."+string(rune('1'+i%9)), "x"+string(rune('a'+i))+"@example.com", "wrong password")
	}
	if st := plain.loginFrom("203.0.113.200", "y@example.com", "wrong password"); st != http.StatusTooManyRequests {
		t.Errorf("a peer naming new addresses escapes the per-address limit: %d", st)
	}
}
