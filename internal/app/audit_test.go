package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"orderimport/internal/crmemu"
)

type auditEvent struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Detail    string    `json:"detail"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
}

// The audit log records who did what, when and from where, for the account's users to read
// (GET /api/v1/audit), and writes the same as a log line.
func TestAuditLogRecordsWhoWhatWhenWhere(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 12, Orders: 5,
		Keys: map[string]crmemu.KeyConfig{crmemu.DemoKey: crmemu.FullAccess(), "second-key-0001": crmemu.FullAccess()}}})
	start := time.Now().Add(-time.Second)

	// The browser: a failed login, a login, and at the end a logout.
	b := e.newBrowser()
	post := func(path string, form url.Values) int {
		req, _ := http.NewRequest("POST", e.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", "AuditTest/1.0 (browser)")
		st, _, _ := e.request(b.c, req)
		return st
	}
	if st := post("/login", url.Values{"email": {ownerEmail}, "password": {"not the password"}}); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	if st := post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"whatever password"}}); st != 401 {
		t.Fatalf("unknown email: %d", st)
	}
	if st := post("/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}}); st != 303 {
		t.Fatalf("login: %d", st)
	}

	// The API: a task created, changed, its key replaced, run, re-synced, deleted.
	st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"Shop"}`)
	var counter struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &counter)
	st, body = e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), e.token, jsonOf(map[string]any{"name": "Заказы", "active": false,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}}))
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	var task struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &task)
	tp := fmt.Sprintf("/api/v1/imports/%d", task.ID)
	if st, body := e.api("PATCH", tp, e.token, `{"frequency_hours":3,"retailcrm":{"api_key":"second-key-0001"}}`); st != 200 {
		t.Fatalf("patch: %d %s", st, body)
	}
	if st, body := e.api("POST", tp+"/runs", e.token, ""); st != 202 {
		t.Fatalf("run: %d %s", st, body)
	}
	e.lastRun(task.ID)
	if st, body := e.api("POST", tp+"/resync", e.token, ""); st != 202 {
		t.Fatalf("resync: %d %s", st, body)
	}
	e.lastRun(task.ID)
	if st, body := e.api("DELETE", tp, e.token, ""); st != 204 {
		t.Fatalf("delete: %d %s", st, body)
	}
	_, home, _ := b.get("/")
	csrf := csrfMeta.FindStringSubmatch(home)[1]
	req, _ := http.NewRequest("POST", e.base+"/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "AuditTest/1.0 (browser)")
	if st, _, _ := e.request(b.c, req); st != 303 {
		t.Fatalf("logout: %d", st)
	}

	st, body = e.api("GET", "/api/v1/audit", e.token, "")
	var out struct {
		Events     []auditEvent `json:"events"`
		NextBefore int64        `json:"next_before"`
	}
	if st != 200 || json.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("audit: %d %s", st, body)
	}
	var actions []string
	for i := len(out.Events) - 1; i >= 0; i-- {
		ev := out.Events[i]
		actions = append(actions, ev.Action)
		if ev.At.Before(start) || ev.At.After(time.Now().Add(time.Second)) || ev.IP != "127.0.0.1" || ev.UserAgent == "" || ev.Actor != ownerEmail {
			t.Errorf("event without who, when or where: %+v", ev)
		}
		if strings.HasPrefix(ev.Action, "log") && ev.UserAgent != "AuditTest/1.0 (browser)" {
			t.Errorf("%s: user agent %q", ev.Action, ev.UserAgent)
		}
		if strings.HasPrefix(ev.Action, "import.") && ev.Target != fmt.Sprintf("import:%d", task.ID) {
			t.Errorf("%s: target %q", ev.Action, ev.Target)
		}
		if ev.Action == "import.key_replaced" && (!strings.Contains(ev.Detail, "…-key") || !strings.Contains(ev.Detail, "0001")) {
			t.Errorf("key replaced: %q, want the two keys' hints", ev.Detail)
		}
		if ev.Action == "import.update" && !strings.Contains(ev.Detail, "frequency (every hour → every 3 hours)") {
			t.Errorf("update: %q, want what changed", ev.Detail)
		}
	}
	want := []string{"login.failed", "login", "import.create", "import.update", "import.key_replaced", "import.run", "import.resync", "import.delete", "logout"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("audit log, oldest first:\n got %v\nwant %v", actions, want)
	}
	// The unknown email is nobody's: not in the account's log, in the operator's log without
	// what was typed.
	if strings.Contains(body, "nobody@example.com") {
		t.Error("the account's log shows another email's failed login")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "msg=audit action=login.failed account_id=0") || strings.Contains(logs, "nobody@example.com") {
		t.Error("the failed login for an unknown email is not logged, or logged with what was typed")
	}
	for _, a := range want {
		if !strings.Contains(logs, "msg=audit action="+a+" ") {
			t.Errorf("no log line for %s", a)
		}
	}
	// Paging, newest first.
	st, body = e.api("GET", "/api/v1/audit?limit=2", e.token, "")
	var page struct {
		Events     []auditEvent `json:"events"`
		NextBefore int64        `json:"next_before"`
	}
	_ = json.Unmarshal([]byte(body), &page)
	if len(page.Events) != 2 || page.Events[0].Action != "logout" || page.NextBefore != page.Events[1].ID {
		t.Fatalf("first page: %s", body)
	}
	st, body = e.api("GET", fmt.Sprintf("/api/v1/audit?limit=2&before=%d", page.NextBefore), e.token, "")
	_ = json.Unmarshal([]byte(body), &page)
	if len(page.Events) != 2 || page.Events[0].Action != "import.resync" {
		t.Fatalf("second page: %s", body)
	}
	for _, q := range []string{"limit=0", "limit=1001", "before=x", "before=-1"} {
		if st, _ := e.api("GET", "/api/v1/audit?"+q, e.token, ""); st != 400 {
			t.Errorf("audit?%s: %d", q, st)
		}
	}
}

// Failed logins past the limit are refused without checking the password, with a message
// that says when to try again, and recorded.
func TestThrottledLoginIsAudited(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true})
	b := e.newBrowser()
	for i := 0; i < 5; i++ {
		if st, _, _ := b.post("/login", url.Values{"email": {ownerEmail}, "password": {fmt.Sprintf("guess number %d", i)}}); st != 401 {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	st, body, h := b.post("/login", url.Values{"email": {ownerEmail}, "password": {ownerPassword}})
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(body, "15") {
		t.Fatalf("sixth attempt: %d %q", st, h.Get("Retry-After"))
	}
	events, _ := e.app.Store.AuditEvents(t.Context(), e.acc, 0, 10)
	if len(events) != 6 || events[0].Action != "login.throttled" || events[1].Action != "login.failed" {
		t.Fatalf("audit: %+v", events)
	}
}
