package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/audit"
)

// The users API as an owner uses it: invite (the link once, valid 72 hours), list, change a
// role (it applies to the user's token at its next request), remove (their token and session end
// at once), and the last owner kept. Every change is in the audit log.
func TestUsersThroughTheAPI(t *testing.T) {
	e := newSecEnv(t, secOpts{})
	ctx := context.Background()

	st, body := e.api("POST", "/api/v1/users", e.token, `{"email":"Colleague@Example.com","role":"editor"}`)
	var inv struct {
		ID              int64
		Email, Role     string
		Status          string
		InviteURL       string    `json:"invite_url"`
		InviteExpiresAt time.Time `json:"invite_expires_at"`
		InviteEmailed   bool      `json:"invite_emailed"`
	}
	if st != 201 || json.Unmarshal([]byte(body), &inv) != nil {
		t.Fatalf("invite: %d %s", st, body)
	}
	if inv.Email != "colleague@example.com" || inv.Role != "editor" || inv.Status != "invited" || inv.InviteEmailed ||
		!strings.HasPrefix(inv.InviteURL, e.base+"/invite/oiv_") || time.Until(inv.InviteExpiresAt) < 71*time.Hour {
		t.Fatalf("invited %+v", inv)
	}
	for _, c := range []struct {
		body string
		st   int
		code string
	}{
		{`{"email":"colleague@example.com"}`, 201, ""}, // invited again: a new link
		{`{"email":"owner@example.com"}`, 409, "email_taken"},
		{`{"email":"nobody"}`, 422, "user_email_invalid"},
		{`{"email":"x@example.com","role":"admin"}`, 422, "role_invalid"},
		{`{"email":"x@example.com","admin":true}`, 400, "field_unknown"},
	} {
		st, body := e.api("POST", "/api/v1/users", e.token, c.body)
		if st != c.st || (c.code != "" && !strings.Contains(body, `"code":"`+c.code+`"`)) {
			t.Errorf("invite %s: %d %s, want %d %s", c.body, st, body, c.st, c.code)
		}
	}
	// The first link no longer works; the second sets the password.
	if st, _, _ := e.newBrowser().get(strings.TrimPrefix(inv.InviteURL, e.base)); st != http.StatusGone {
		t.Errorf("the replaced link: %d, want 410", st)
	}

	// A viewer with a token: their role applies at once, both ways.
	viewer, viewerToken, viewerBrowser := e.roleUser("viewer@example.com", access.Viewer)
	if st, body := e.api("POST", "/api/v1/counters", viewerToken, `{"name":"x"}`); st != 403 || !strings.Contains(body, `"code":"forbidden"`) {
		t.Fatalf("a viewer creating a counter: %d %s", st, body)
	}
	st, body = e.api("PATCH", fmt.Sprintf("/api/v1/users/%d", viewer.ID), e.token, `{"role":"editor"}`)
	if st != 200 || !strings.Contains(body, `"role":"editor"`) {
		t.Fatalf("promote: %d %s", st, body)
	}
	if st, _ := e.api("POST", "/api/v1/counters", viewerToken, `{"name":"By the editor"}`); st != 201 {
		t.Errorf("the promoted user's token: %d, want 201", st)
	}
	// The last owner: neither demoted nor removed.
	for _, c := range []struct{ method, body string }{{"PATCH", `{"role":"viewer"}`}, {"DELETE", ""}} {
		st, body := e.api(c.method, fmt.Sprintf("/api/v1/users/%d", e.user), e.token, c.body)
		if st != 409 || !strings.Contains(body, `"code":"last_owner"`) {
			t.Errorf("%s the last owner: %d %s", c.method, st, body)
		}
	}
	// Removed: the token and the session end at once.
	if st, _ := e.api("DELETE", fmt.Sprintf("/api/v1/users/%d", viewer.ID), e.token, ""); st != 204 {
		t.Fatalf("remove: %d", st)
	}
	if st, _ := e.api("GET", "/api/v1/counters", viewerToken, ""); st != 401 {
		t.Errorf("the removed user's token: %d, want 401", st)
	}
	if st, _, h := viewerBrowser.get("/"); st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("the removed user's session: %d", st)
	}
	st, body = e.api("GET", "/api/v1/users", e.token, "")
	var list struct {
		Users []struct{ Email, Role, Status string }
	}
	_ = json.Unmarshal([]byte(body), &list)
	if st != 200 || len(list.Users) != 2 || list.Users[0].Email != "colleague@example.com" || list.Users[0].Status != "invited" {
		t.Errorf("list: %d %s", st, body)
	}

	events, _ := e.app.Store.AuditEvents(ctx, e.acc, 0, 100)
	seen := map[string]int{}
	for _, ev := range events {
		seen[ev.Action]++
	}
	if seen[audit.UserInvite] != 2 || seen[audit.UserRole] != 1 || seen[audit.UserRemove] != 1 {
		t.Errorf("audit log: %v", seen)
	}
	_, body = e.api("GET", "/api/v1/audit?limit=1000", e.token, "")
	if !strings.Contains(body, "viewer@example.com: viewer → editor.") {
		t.Errorf("the role change in the API's audit log: %.600s", body)
	}
}

// The invitation page: the link sets a password once; a signed-in browser is refused; the form
// keeps the password rules.
func TestInvitationPage(t *testing.T) {
	e := newSecEnv(t, secOpts{})
	_, body := e.api("POST", "/api/v1/users", e.token, `{"email":"new@example.com","role":"viewer"}`)
	var inv struct {
		InviteURL string `json:"invite_url"`
	}
	_ = json.Unmarshal([]byte(body), &inv)
	path := strings.TrimPrefix(inv.InviteURL, e.base)
	owner := e.login(ownerEmail, ownerPassword)
	if st, body, _ := owner.get(path); st != http.StatusConflict || !strings.Contains(body, "Вы уже вошли") {
		t.Errorf("a signed-in browser: %d", st)
	}
	b := e.newBrowser()
	if st, body, _ := b.get(path); st != 200 || !strings.Contains(body, "new@example.com") || !strings.Contains(body, "наблюдатель") {
		t.Fatalf("the page: %d %.300s", st, body)
	}
	form := url.Values{"password": {"12345678"}, "password_confirm": {"12345678"}}
	if st, body, _ := b.post(path, form); st != 422 || !strings.Contains(body, "среди самых распространённых") {
		t.Errorf("a common password: %d", st)
	}
	form = url.Values{"password": {"новый пароль зрителя"}, "password_confirm": {"новый пароль зрителя"}}
	if st, _, h := b.post(path, form); st != http.StatusSeeOther || h.Get("Location") != "/?done=welcome" {
		t.Fatalf("accept: %d %s", st, h.Get("Location"))
	}
	if st, _, _ := b.get("/"); st != 200 {
		t.Errorf("signed in after accepting: %d", st)
	}
	if st, _, _ := e.newBrowser().post(path, form); st != http.StatusGone {
		t.Errorf("the link used twice: %d, want 410", st)
	}
	if st, _, _ := e.newBrowser().get("/invite/oiv_unknown"); st != http.StatusGone {
		t.Errorf("an unknown link: %d", st)
	}
}
