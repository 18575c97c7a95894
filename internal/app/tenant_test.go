package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"orderimport/internal/crmemu"
)

// The principals every route is tried as.
const (
	asOwner   = "owner"
	asOther   = "user of another account"
	asAnon    = "anonymous"
	asRevoked = "revoked token"
)

// ids are the owner's resources the routes name.
type ids struct {
	counter, task, run, otherCounter int64
	task2                            int64 // deleted through the UI, after the API deleted task
	crm                              string
}

// routeCase says how to call one route and what each principal must get. Statuses of 0 mean
// "the default for this kind of route": API routes are 401 without valid credentials and 404
// for another account's ids; UI pages send anyone without a session to the login page and
// answer another account's ids with a 404 page.
type routeCase struct {
	path  func(ids) string
	body  func(ids) string // API: JSON; UI: a form, url-encoded
	owner []int            // what the owner may get
	other int              // what a user of another account gets; 0 = 404
	open  bool             // public: every principal gets an owner status
	// order puts routes that end something last: 1 deletes the owner's task, 2 ends the
	// owner's session.
	order int
	// check looks at what another account got from a route that answers it 2xx: nothing of
	// the owner's may be in it, not even a count.
	check func(t *testing.T, body string, in ids)
}

func apiCreateBody(in ids) string {
	return jsonOf(map[string]any{"name": "Заказы", "active": false, "retailcrm": map[string]any{"url": in.crm, "api_key": crmemu.DemoKey}})
}

// ownerMarker is in the names of everything the owner has; another account must never see it.
const ownerMarker = "Secret-Shop-7c1"

func noOwnerData(t *testing.T, body string, _ ids) {
	t.Helper()
	if strings.Contains(body, ownerMarker) || strings.Contains(body, ownerEmail) {
		t.Errorf("another account sees the owner's data: %.400s", body)
	}
}

func emptyList(member string) func(t *testing.T, body string, in ids) {
	return func(t *testing.T, body string, in ids) {
		t.Helper()
		noOwnerData(t, body, in)
		var v map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &v); err != nil || string(v[member]) != "[]" {
			t.Errorf("another account's %s: %s, want an empty list", member, body)
		}
	}
}

func p(format string, f func(ids) int64) func(ids) string {
	return func(in ids) string { return fmt.Sprintf(format, f(in)) }
}

func counterOf(in ids) int64 { return in.counter }
func taskOf(in ids) int64    { return in.task }
func runOf(in ids) int64     { return in.run }

var matrix = map[string]routeCase{
	// The JSON API.
	"POST /api/v1/counters": {path: func(ids) string { return "/api/v1/counters" }, body: func(ids) string { return `{"name":"Theirs"}` },
		owner: []int{201}, other: 201, check: noOwnerData},
	"GET /api/v1/counters":               {path: func(ids) string { return "/api/v1/counters" }, owner: []int{200}, other: 200, check: emptyListExceptTheirs},
	"GET /api/v1/counters/{id}":          {path: p("/api/v1/counters/%d", counterOf), owner: []int{200}},
	"POST /api/v1/counters/{id}/imports": {path: p("/api/v1/counters/%d/imports", counterOf), body: apiCreateBody, owner: []int{201}},
	"GET /api/v1/counters/{id}/imports":  {path: p("/api/v1/counters/%d/imports", counterOf), owner: []int{200}},
	"GET /api/v1/imports/{id}":           {path: p("/api/v1/imports/%d", taskOf), owner: []int{200}},
	"PATCH /api/v1/imports/{id}": {path: p("/api/v1/imports/%d", taskOf), body: func(ids) string { return `{"name":"` + ownerMarker + ` 2"}` },
		owner: []int{200}},
	"DELETE /api/v1/imports/{id}":      {path: p("/api/v1/imports/%d", taskOf), owner: []int{204}, order: 1},
	"POST /api/v1/imports/{id}/runs":   {path: p("/api/v1/imports/%d/runs", taskOf), owner: []int{202}},
	"GET /api/v1/imports/{id}/runs":    {path: p("/api/v1/imports/%d/runs", taskOf), owner: []int{200}},
	"POST /api/v1/imports/{id}/resync": {path: p("/api/v1/imports/%d/resync", taskOf), owner: []int{202, 409}},
	"GET /api/v1/runs/{id}":            {path: p("/api/v1/runs/%d", runOf), owner: []int{200}},
	"POST /api/v1/retailcrm/check": {path: func(ids) string { return "/api/v1/retailcrm/check" },
		body: func(in ids) string { return jsonOf(map[string]any{"url": in.crm, "api_key": crmemu.DemoKey}) }, owner: []int{200}, other: 200,
		check: noOwnerData},
	"POST /api/v1/imports/preview": {path: func(ids) string { return "/api/v1/imports/preview" },
		body: func(in ids) string {
			return jsonOf(map[string]any{"task_id": in.task, "counter_id": in.counter, "limit": 3})
		}, owner: []int{200}},
	"GET /api/v1/counters/{id}/orders": {path: func(in ids) string { return fmt.Sprintf("/api/v1/counters/%d/orders?include_deleted=true", in.counter) },
		owner: []int{200}},
	"GET /api/v1/counters/{id}/orders/summary": {path: p("/api/v1/counters/%d/orders/summary", counterOf), owner: []int{200}},
	"GET /api/v1/fields":                       {path: func(ids) string { return "/api/v1/fields" }, owner: []int{200}, other: 200, check: noOwnerData},
	"GET /api/v1/audit":                        {path: func(ids) string { return "/api/v1/audit?limit=1000" }, owner: []int{200}, other: 200, check: noOwnerData},
	"/api/":                                    {path: func(ids) string { return "/api/v1/nothing-here" }, owner: []int{404}, other: 404},

	// The web UI.
	"GET /static/": {path: func(ids) string { return "/static/app.css" }, owner: []int{200}, open: true},
	"GET /login":   {path: func(ids) string { return "/login" }, owner: []int{200, 303}, open: true},
	// An empty password is refused before the password hash is computed: a wrong one would
	// cost an argon2id derivation per principal for nothing this test looks at.
	"POST /login":                     {path: func(ids) string { return "/login" }, body: func(ids) string { return "email=nobody%40example.com&password=" }, owner: []int{422}, open: true},
	"POST /logout":                    {path: func(ids) string { return "/logout" }, owner: []int{303}, other: 303, order: 2},
	"GET /{$}":                        {path: func(ids) string { return "/" }, owner: []int{200}, other: 200, check: noOwnerData},
	"POST /counters":                  {path: func(ids) string { return "/counters" }, body: func(ids) string { return "name=Theirs&timezone=Europe%2FMoscow" }, owner: []int{303}, other: 303},
	"GET /counters/{id}":              {path: p("/counters/%d", counterOf), owner: []int{303}},
	"GET /counters/{id}/settings":     {path: p("/counters/%d/settings", counterOf), owner: []int{200}},
	"GET /counters/{id}/imports":      {path: p("/counters/%d/imports", counterOf), owner: []int{200}},
	"GET /counters/{id}/imports/new":  {path: p("/counters/%d/imports/new", counterOf), owner: []int{200}},
	"POST /counters/{id}/imports/new": {path: p("/counters/%d/imports/new", counterOf), body: uiFormBody, owner: []int{303}},
	"GET /imports/{id}":               {path: p("/imports/%d", taskOf), owner: []int{200}},
	"GET /imports/{id}/edit":          {path: p("/imports/%d/edit", taskOf), owner: []int{200}},
	"POST /imports/{id}/edit":         {path: p("/imports/%d/edit", taskOf), body: uiFormBody, owner: []int{303}},
	"POST /imports/{id}/run":          {path: p("/imports/%d/run", taskOf), owner: []int{303}},
	"POST /imports/{id}/active":       {path: p("/imports/%d/active", taskOf), body: func(ids) string { return "active=false" }, owner: []int{303}},
	"POST /imports/{id}/resync":       {path: p("/imports/%d/resync", taskOf), owner: []int{303}},
	"GET /imports/{id}/delete":        {path: p("/imports/%d/delete", taskOf), owner: []int{200}},
	"POST /imports/{id}/delete":       {path: p("/imports/%d/delete", func(in ids) int64 { return in.task2 }), owner: []int{303}, order: 1},
	"GET /counters/{id}/orders":       {path: func(in ids) string { return fmt.Sprintf("/counters/%d/orders?format=csv", in.counter) }, owner: []int{200}},
	"GET /audit":                      {path: func(ids) string { return "/audit" }, owner: []int{200}, other: 200, check: noOwnerData},
	"/":                               {path: func(ids) string { return "/no/such/page" }, owner: []int{404}, other: 404, open: true},
	"GET /healthz":                    {path: func(ids) string { return "/healthz" }, owner: []int{200}, open: true},
	"GET /readyz":                     {path: func(ids) string { return "/readyz" }, owner: []int{200}, open: true},
	"GET /metrics":                    {path: func(ids) string { return "/metrics" }, owner: []int{200}, open: true, check: noOwnerData},
}

// emptyListExceptTheirs: another account's counter list holds its own counter only.
func emptyListExceptTheirs(t *testing.T, body string, in ids) {
	t.Helper()
	noOwnerData(t, body, in)
	var v struct{ Counters []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Counters {
		if c.ID == in.counter {
			t.Errorf("another account lists the owner's counter %d", in.counter)
		}
	}
}

func uiFormBody(in ids) string {
	return taskForm(ownerMarker+" UI", in.crm, crmemu.DemoKey, "save").Encode()
}

// TestEveryRouteIsolatesTenants tries every route the service serves, enumerated from its
// mux, as the owner of the resources it names, as a user of another account, anonymously
// and with a revoked token. A route added without a row in the matrix fails the test.
func TestEveryRouteIsolatesTenants(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 5, Orders: 20}})
	ctx := context.Background()
	var in ids
	in.crm = e.crm
	st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"`+ownerMarker+`"}`)
	if st != 201 {
		t.Fatalf("counter: %d %s", st, body)
	}
	var obj struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &obj)
	in.counter = obj.ID
	st, body = e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", in.counter), e.token, jsonOf(map[string]any{"name": ownerMarker,
		"active": true, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}}))
	if st != 201 {
		t.Fatalf("task: %d %s", st, body)
	}
	_ = json.Unmarshal([]byte(body), &obj)
	in.task = obj.ID
	in.run = e.lastRun(in.task).ID
	st, body = e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", in.counter), e.token, jsonOf(map[string]any{"name": ownerMarker + " 2",
		"active": false, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}}))
	if st != 201 {
		t.Fatalf("second task: %d %s", st, body)
	}
	_ = json.Unmarshal([]byte(body), &obj)
	in.task2 = obj.ID

	// The other account: its own user, token, browser and counter.
	ou, _, err := e.app.Store.AddUser(ctx, "other@example.com", "another long password", "Other", false)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, _, _ := e.app.Store.CreateToken(ctx, ou.ID)
	oc, _ := e.app.Store.CreateCounter(ctx, ou.AccountID, "Theirs", "Europe/Moscow")
	in.otherCounter = oc.ID
	revoked, tok, _ := e.app.Store.CreateToken(ctx, e.user)
	if err := e.app.Store.RevokeToken(ctx, e.acc, tok.ID); err != nil {
		t.Fatal(err)
	}
	owner := e.login(ownerEmail, ownerPassword)
	other := e.login("other@example.com", "another long password")

	routes := e.app.Routes()
	for _, r := range routes {
		if _, ok := matrix[r]; !ok {
			t.Errorf("route %q has no row in the tenant isolation matrix: add one", r)
		}
	}
	for r := range matrix {
		if !slices.Contains(routes, r) {
			t.Errorf("the matrix names %q, which the service no longer serves", r)
		}
	}
	slices.SortStableFunc(routes, func(a, b string) int { return matrix[a].order - matrix[b].order })

	for _, r := range routes {
		c, ok := matrix[r]
		if !ok {
			continue
		}
		method, _, _ := strings.Cut(r, " ")
		if !strings.Contains(r, " ") {
			method = "GET"
		}
		path := c.path(in)
		isAPI := strings.HasPrefix(path, "/api/")
		var body string
		if c.body != nil {
			body = c.body(in)
		}
		send := func(who string) (int, string, http.Header) {
			t.Helper()
			if isAPI || c.open && !strings.HasPrefix(r, "POST /login") {
				token := map[string]string{asOwner: e.token, asOther: otherToken, asRevoked: revoked}[who]
				req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				req.Header.Set("Content-Type", "application/json")
				return e.request(http.DefaultClient, req)
			}
			b := map[string]*browser{asOwner: owner, asOther: other}[who]
			if b == nil {
				b = e.newBrowser()
			}
			var req *http.Request
			if method == "GET" {
				req, _ = http.NewRequest(method, e.base+path, nil)
			} else {
				form, _ := url.ParseQuery(body)
				if b.csrf != "" {
					form.Set("csrf", b.csrf)
				}
				req, _ = http.NewRequest(method, e.base+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", e.base)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
			}
			if who == asRevoked {
				req.Header.Set("Authorization", "Bearer "+revoked)
			}
			return e.request(b.c, req)
		}
		// The owner goes last, so that the others try the resources as they are.
		for _, who := range []string{asOther, asAnon, asRevoked, asOwner} {
			st, got, h := send(who)
			want := []int{404}
			switch {
			case who == asOwner || c.open:
				want = c.owner
			case who == asOther && c.other != 0:
				want = []int{c.other}
			case who == asOther:
			case isAPI:
				want = []int{401}
			default:
				want = []int{303}
			}
			if !slices.Contains(want, st) {
				t.Errorf("%s as %s: %d, want %v: %.300s", r, who, st, want, got)
				continue
			}
			if st == 303 && who != asOwner && who != asOther && !c.open {
				if loc := h.Get("Location"); !strings.HasPrefix(loc, "/login") {
					t.Errorf("%s as %s: sent to %q, want the login page", r, who, loc)
				}
			}
			if who != asOwner && c.check != nil && st < 300 {
				c.check(t, got, in)
			}
			if who == asOther && st == 404 && strings.Contains(got, ownerMarker) {
				t.Errorf("%s as %s: the 404 names the owner's data", r, who)
			}
			if who == asOwner && (strings.Contains(r, "runs") || strings.Contains(r, "resync") || strings.Contains(r, "/run")) {
				if run, err := e.app.Store.LastRun(ctx, e.acc, in.task); err == nil && run != nil {
					e.waitRun(run.ID)
				}
			}
		}
	}

	// Counts do not leak either: another account's own counter, filtered by the owner's task,
	// has nothing; its audit log has only its own logins.
	st, body = e.api("GET", fmt.Sprintf("/api/v1/counters/%d/orders?import_id=%d&include_deleted=true", in.otherCounter, in.task), otherToken, "")
	if st != 200 || !strings.Contains(body, `"orders":[]`) {
		t.Errorf("another account filtering by the owner's task: %d %s", st, body)
	}
	st, body = e.api("GET", fmt.Sprintf("/api/v1/counters/%d/orders/summary?import_id=%d", in.otherCounter, in.task), otherToken, "")
	if st != 200 || !strings.Contains(body, `"orders":0`) {
		t.Errorf("another account's summary filtered by the owner's task: %d %s", st, body)
	}
	st, body = e.api("GET", "/api/v1/audit?limit=1000", otherToken, "")
	var audit struct {
		Events []struct{ Actor, Action, Target string }
	}
	_ = json.Unmarshal([]byte(body), &audit)
	for _, ev := range audit.Events {
		if ev.Actor != "other@example.com" {
			t.Errorf("another account's audit log shows %+v", ev)
		}
	}
	// Nothing the others sent changed the owner's task, except what the owner did.
	runs, _ := e.app.Store.Runs(ctx, e.acc, in.task, 100)
	for _, r := range runs {
		if r.TaskID != in.task {
			t.Errorf("run %d of another task listed", r.ID)
		}
	}
}
