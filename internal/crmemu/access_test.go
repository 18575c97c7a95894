package crmemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/crmfixture"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 31, Orders: 10, Keys: map[string]KeyConfig{
		"full":      FullAccess(),
		"no-orders": {Scopes: []string{"reference_read"}, SiteAccess: AccessFull},
	}})
	cases := []struct {
		name, key, path string
		status          int
		body            string
	}{
		{"missing key", "", "/api/v5/orders", 403, `{"success":false,"errorMsg":"\"apiKey\" is missing."}`},
		{"wrong key", "nope", "/api/v5/orders", 403, `{"success":false,"errorMsg":"Wrong \"apiKey\" value."}`},
		{"wrong key credentials", "nope", "/api/credentials", 403, `{"success":false,"errorMsg":"Wrong \"apiKey\" value."}`},
		{"no order_read", "no-orders", "/api/v5/orders", 403, `{"success":false,"errorMsg":"Access denied."}`},
		{"no order_read history", "no-orders", "/api/v5/orders/history", 403, `{"success":false,"errorMsg":"Access denied."}`},
		{"no custom_fields_read", "no-orders", "/api/v5/custom-fields", 403, `{"success":false,"errorMsg":"Access denied."}`},
		{"reference allowed", "no-orders", "/api/v5/reference/statuses", 200, ""},
		{"unknown path", "full", "/api/v5/nothing", 404, `{"success":false,"errorMsg":"API method not found"}`},
		{"unknown version", "full", "/api/v9/orders", 404, `{"success":false,"errorMsg":"API method not found"}`},
		{"key in query", "", "/api/v5/orders?apiKey=full", 200, ""},
	}
	for _, c := range cases {
		r := get(t, e, c.key, c.path)
		if r.status != c.status || (c.body != "" && string(r.body) != c.body) {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	cred := get(t, e, "no-orders", "/api/credentials").json(t)
	if cred["siteAccess"] != AccessFull || len(cred["scopes"].([]any)) != 1 {
		t.Errorf("credentials %v", cred)
	}
	e.RemoveKey("full")
	if r := get(t, e, "full", "/api/v5/orders"); r.status != 403 {
		t.Errorf("removed key: %d", r.status)
	}
	e.SetKey("late", FullAccess())
	if r := get(t, e, "late", "/api/v5/orders"); r.status != 200 {
		t.Errorf("added key: %d", r.status)
	}
	post := httptest.NewRequest(http.MethodPost, "/api/v5/orders", nil)
	post.Header.Set("X-API-KEY", "late")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, post)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestSelectiveKeySeesItsSiteOnly(t *testing.T) {
	t.Parallel()
	sel := KeyConfig{Scopes: DefaultScopes, SiteAccess: AccessSelective, Sites: []string{SiteOpt}}
	e := newTestEmu(t, Options{Seed: 32, Orders: 400, Keys: map[string]KeyConfig{"all": FullAccess(), "opt": sel}})
	cred := get(t, e, "opt", "/api/credentials").json(t)
	if cred["siteAccess"] != AccessSelective || len(cred["sitesAvailable"].([]any)) != 1 || cred["sitesAvailable"].([]any)[0] != SiteOpt {
		t.Errorf("credentials %v", cred)
	}
	want := 0
	var other int64
	for _, b := range e.Orders("") {
		var o struct {
			ID   int64
			Site string
		}
		must(t, json.Unmarshal(b, &o))
		if o.Site == SiteOpt {
			want++
		} else if other == 0 {
			other = o.ID
		}
	}
	got, total := walkOrders(t, e, "opt", "", 100)
	if total != want || len(got) != want || len(e.Orders("opt")) != want {
		t.Fatalf("selective key sees %d/%d, want %d", len(got), total, want)
	}
	for _, o := range got {
		if o["site"] != SiteOpt {
			t.Fatalf("order %d of site %v", id(o), o["site"])
		}
	}
	if r := get(t, e, "opt", "/api/v5/orders?filter[sites][]="+SiteMain); r.status != 403 || r.json(t)["errorMsg"] != "Access denied." {
		t.Errorf("asking for another site: %d %s", r.status, r.body)
	}
	if r := get(t, e, "opt", "/api/v5/orders?filter[sites][]="+SiteOpt); r.status != 200 {
		t.Errorf("asking for its site: %d", r.status)
	}
	if r := get(t, e, "opt", "/api/v5/orders/"+jsonInt(int(other))+"?by=id"); r.status != 404 {
		t.Errorf("order of another site: %d", r.status)
	}
	if r := get(t, e, "opt", "/api/v5/orders/1?by=id&site="+SiteMain); r.status != 403 {
		t.Errorf("site parameter of another site: %d", r.status)
	}
	hist := walkHistory(t, e, "opt", 0, "")
	if len(hist) != want {
		t.Errorf("selective history: %d entries, want %d", len(hist), want)
	}
	for _, h := range hist {
		if h["order"].(entry)["site"] != SiteOpt {
			t.Fatalf("history entry of site %v", h["order"].(entry)["site"])
		}
	}
}

func TestRateLimitSlidingWindow(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 33, Orders: 5, RateLimit: 4, Keys: map[string]KeyConfig{"a": FullAccess(), "b": FullAccess()}})
	for i := range 4 {
		if r := get(t, e, "a", "/api/v5/orders"); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := get(t, e, "a", "/api/v5/orders")
	if r.status != 503 || r.header.Get("Content-Type") != "text/html" || !strings.Contains(string(r.body), "<title>503 Service Temporarily Unavailable</title>") {
		t.Errorf("over the limit: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if r := get(t, e, "b", "/api/v5/orders"); r.status != 200 {
		t.Errorf("another key is limited separately: %d", r.status)
	}
	st := e.Stats()
	if st.RateLimited != 1 || st.MaxInWindow["a"] != 5 || st.MaxInWindow["b"] != 1 || st.Requests != 6 || st.ByEndpoint["/api/v5/orders"] != 6 {
		t.Errorf("stats %+v", st)
	}
	e.SetRateLimit(0)
	if r := get(t, e, "a", "/api/v5/orders"); r.status != 200 {
		t.Errorf("unlimited: %d", r.status)
	}
	e.ResetStats()
	if st := e.Stats(); st.Requests != 0 || st.RateLimited != 0 || len(st.MaxInWindow) != 0 {
		t.Errorf("after reset %+v", st)
	}
}

// The window slides: requests older than one second stop counting.
func TestRateLimitWindowSlides(t *testing.T) {
	t.Parallel()
	var l limiter
	l.init(2)
	t0 := time.Unix(1000, 0)
	if l.arrive("k", t0) || l.arrive("k", t0.Add(300*time.Millisecond)) {
		t.Fatal("first two limited")
	}
	if !l.arrive("k", t0.Add(999*time.Millisecond)) {
		t.Error("third within the second admitted")
	}
	if l.arrive("k", t0.Add(1000*time.Millisecond+time.Nanosecond)) {
		t.Error("a second after the first, still limited")
	}
	if !l.arrive("k", t0.Add(1200*time.Millisecond)) {
		t.Error("two admitted within (0.2s, 1.2s]: the next must wait")
	}
	if l.maxIn["k"] != 4 {
		t.Errorf("max in window %d", l.maxIn["k"])
	}
}

func TestScriptedFaults(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 34, Orders: 300, Faults: FaultConfig{Slow: 30 * time.Millisecond}})
	srv := httptest.NewServer(e)
	defer srv.Close()
	// without keep-alive: net/http silently retries a GET whose reused
	// connection was reset, which would hide FaultReset
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	do := func() (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v5/orders?limit=100", nil)
		req.Header.Set("X-API-KEY", DemoKey)
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	mock := crmfixture.Read(t, "rate-limit-503.go-sdk-mock.json")
	html := func(status int) func(*http.Response, []byte, error) string {
		return func(resp *http.Response, b []byte, err error) string {
			if err != nil || resp.StatusCode != status || resp.Header.Get("Content-Type") != "text/html" || !strings.HasPrefix(string(b), "<html>") {
				return "want nginx HTML"
			}
			return ""
		}
	}
	cases := []struct {
		kind  Fault
		check func(*http.Response, []byte, error) string
	}{
		{Fault503, html(503)},
		{Fault429, html(429)},
		{FaultHTMLError, html(502)},
		{Fault503JSON, func(resp *http.Response, b []byte, err error) string {
			if err != nil || resp.StatusCode != 503 || strings.TrimSpace(string(mock)) != string(b) {
				return "want the SDK mock body"
			}
			return ""
		}},
		{Fault500, func(resp *http.Response, b []byte, err error) string {
			if err != nil || resp.StatusCode != 500 {
				return "want 500"
			}
			return ""
		}},
		{FaultTruncated, func(resp *http.Response, b []byte, err error) string {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				return "want an unexpected EOF (Content-Length lies)"
			}
			return ""
		}},
		{FaultTruncated, func(resp *http.Response, b []byte, err error) string {
			if err != nil || resp.StatusCode != 200 || json.Valid(b) || len(b) < 1000 {
				return "want a cut JSON body with an honest length"
			}
			return ""
		}},
		{FaultReset, func(resp *http.Response, b []byte, err error) string {
			if err == nil {
				return "want a transport error"
			}
			return ""
		}},
		{FaultGarbage, func(resp *http.Response, b []byte, err error) string {
			if err != nil || resp.StatusCode != 200 || json.Valid(b) {
				return "want 200 with garbage"
			}
			return ""
		}},
	}
	for _, c := range cases {
		e.InjectFault(c.kind, 1, "/api/v5/orders")
		resp, b, err := do()
		if msg := c.check(resp, b, err); msg != "" {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("%v: %s; got %d %q %v", c.kind, msg, status, truncate(b), err)
		}
		if resp, b, err := do(); err != nil || resp.StatusCode != 200 || !json.Valid(b) {
			t.Errorf("after %v: the next request is not clean: %v", c.kind, err)
		}
	}
	start := time.Now()
	e.InjectFault(FaultSlow, 1, "")
	if resp, b, err := do(); err != nil || resp.StatusCode != 200 || !json.Valid(b) || time.Since(start) < 30*time.Millisecond {
		t.Errorf("slow: %v after %v", err, time.Since(start))
	}
	// a fault scripted for another path leaves this one alone
	e.InjectFault(Fault500, 2, "/api/v5/orders/history")
	if resp, _, _ := do(); resp.StatusCode != 200 {
		t.Errorf("fault for another path hit /orders")
	}
	st := e.Stats()
	if st.Faults != len(cases)+1 || st.FaultsByKind[FaultTruncated] != 2 {
		t.Errorf("fault stats %+v", st)
	}
}

func TestRandomFaultsAreSeeded(t *testing.T) {
	t.Parallel()
	run := func(seed int64) []int {
		e := newTestEmu(t, Options{Seed: seed, Orders: 20, Faults: FaultConfig{Rate503: 0.2, Rate500: 0.1, RateHTML: 0.1}})
		var statuses []int
		for range 200 {
			statuses = append(statuses, get(t, e, DemoKey, "/api/v5/orders").status)
		}
		return statuses
	}
	a, b, c := run(1), run(1), run(2)
	faults := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, request %d: %d vs %d", i, a[i], b[i])
		}
		if a[i] != 200 {
			faults++
		}
	}
	if faults < 60 || faults > 100 {
		t.Errorf("%d faults in 200 requests at rate 0.4", faults)
	}
	if slicesEqual(a, c) {
		t.Error("different seeds, same faults")
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A mutation made between two pages of one walk shows on the next page:
// offset pages drift, which the importer has to survive.
func TestMutationBetweenPagesShowsOnNextPage(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 35, Orders: 250})
	calls := 0
	var created int64
	e.OnRequest(func(r *http.Request) {
		if r.URL.Path != "/api/v5/orders" {
			return
		}
		calls++
		if calls == 2 {
			created = e.CreateOrder(OrderInput{})
		}
	})
	p1 := get(t, e, DemoKey, "/api/v5/orders?limit=100&page=1").json(t)
	p2 := get(t, e, DemoKey, "/api/v5/orders?limit=100&page=2").json(t)
	last1 := p1["orders"].([]any)[99].(map[string]any)
	first2 := p2["orders"].([]any)[0].(map[string]any)
	if id(first2) != id(last1) {
		t.Errorf("page 2 starts with %d, want %d again (shifted by the new order)", id(first2), id(last1))
	}
	if p2["pagination"].(map[string]any)["totalCount"] != 251.0 || created != 251 {
		t.Errorf("after insert: %v, created %d", p2["pagination"], created)
	}
	p1again := get(t, e, DemoKey, "/api/v5/orders?limit=100&page=1").json(t)
	if id(p1again["orders"].([]any)[0].(map[string]any)) != created {
		t.Errorf("the new order is not first")
	}
	hist := get(t, e, DemoKey, "/api/v5/orders/history?filter[sinceId]=250").json(t)["history"].([]any)
	if len(hist) != 1 || hist[0].(entry)["created"] != true {
		t.Errorf("history after insert: %v", hist)
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 36, Orders: 3})
	ctx, cancel := context.WithCancel(context.Background())
	url, err := e.Serve(ctx, "127.0.0.1:0")
	must(t, err)
	req, _ := http.NewRequest(http.MethodGet, url+"/api/v5/orders", nil)
	req.Header.Set("X-API-KEY", DemoKey)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url + "/api/api-versions")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if info := get(t, e, DemoKey, "/api/system-info").json(t); !strings.HasPrefix(info["publicUrl"].(string), "http://") {
		t.Errorf("system-info %v", info)
	}
}

// The answer time has a fixed part and a part per order (or feed entry) in the answer, and can
// be changed while the emulator serves. Only lower bounds are checked: a loaded machine may
// answer later, never sooner.
func TestAnswerTimeScalesWithPageSize(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 35, Orders: 300, Latency: 20 * time.Millisecond, LatencyPerOrder: time.Millisecond})
	if got, want := e.wait.of(100), 120*time.Millisecond; got != want {
		t.Errorf("a page of 100 takes %v, want %v", got, want)
	}
	for _, c := range []struct {
		target string
		least  time.Duration
	}{
		{"/api/v5/settings", 20 * time.Millisecond},
		{"/api/v5/orders?limit=50", 70 * time.Millisecond},
		{"/api/v5/orders/history?limit=20", 40 * time.Millisecond},
	} {
		start := time.Now()
		if r := get(t, e, DemoKey, c.target); r.status != 200 {
			t.Fatalf("%s: %d", c.target, r.status)
		}
		if took := time.Since(start); took < c.least {
			t.Errorf("%s answered after %v, want at least %v", c.target, took, c.least)
		}
	}
	e.SetAnswerTime(time.Second, 10*time.Millisecond)
	if got, want := e.wait.of(100), 2*time.Second; got != want {
		t.Errorf("after SetAnswerTime a page of 100 takes %v, want %v", got, want)
	}
	e.SetAnswerTime(-time.Second, 0)
	if got := e.wait.of(100); got != 0 {
		t.Errorf("a negative answer time counts as none, got %v", got)
	}
}

// Stats.MaxInFlight is the most requests being answered at once.
func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 36, Orders: 30})
	var arrived sync.WaitGroup
	arrived.Add(3)
	var n atomic.Int32
	e.OnRequest(func(*http.Request) {
		if n.Add(1) <= 3 {
			arrived.Done()
			arrived.Wait() // each of the first three waits until all three are being answered
		}
	})
	var done sync.WaitGroup
	for range 3 {
		done.Go(func() { get(t, e, DemoKey, "/api/v5/orders") })
	}
	done.Wait()
	if got := e.Stats().MaxInFlight; got != 3 {
		t.Errorf("MaxInFlight %d, want 3", got)
	}
	e.ResetStats()
	get(t, e, DemoKey, "/api/v5/settings")
	if got := e.Stats().MaxInFlight; got != 1 {
		t.Errorf("after a reset and one request: MaxInFlight %d, want 1", got)
	}
}
