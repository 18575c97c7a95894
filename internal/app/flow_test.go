package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/api"
	"orderimport/internal/crmemu"
	"orderimport/internal/export"
	"orderimport/internal/jobs"
	"orderimport/internal/pgtest"
	"orderimport/internal/servicetest"
	"orderimport/internal/store"
	"orderimport/internal/webhook"
)

// The orders' way out, end to end on both engines: the changes feed, the webhooks, the
// RetailCRM trigger and the alerts, each against the emulator as the oracle.

// flowEnv is a running service on one engine, restartable, with a counter and an importing task.
type flowEnv struct {
	*env
	svc     *servicetest.Service
	counter int64
	task    int64
	tz      string
}

// engineDB is the database of a test leg: SQLite in a temp directory, or a schema of its own
// on the PostgreSQL test server.
func engineDB(t *testing.T, engine store.Engine) store.Location {
	if engine == store.Postgres {
		return store.Location{Engine: store.Postgres, URL: pgtest.Schema(t)}
	}
	return store.Location{}
}

// bothEngines runs fn on SQLite and on PostgreSQL.
func bothEngines(t *testing.T, fn func(t *testing.T, engine store.Engine)) {
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}

func newFlowEnv(t *testing.T, engine store.Engine, emu crmemu.Options, jc jobs.Config, more ...func(*servicetest.Options)) *flowEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := servicetest.Options{Emulator: emu, Jobs: jc, Log: log, Dir: t.TempDir(), DB: engineDB(t, engine)}
	for _, m := range more {
		m(&o)
	}
	s, err := servicetest.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop the service: %v", err)
		}
	})
	f := &flowEnv{env: &env{t: t, app: s.App, base: s.URL, token: s.Token, emu: s.Emu, crm: s.CRM, acc: s.AccountID}, svc: s, tz: "Europe/Moscow"}
	var counter struct{ ID int64 }
	if st := f.do("POST", "/api/v1/counters", map[string]any{"name": "Shop", "timezone": f.tz}, &counter); st != 201 {
		t.Fatalf("create counter: %d", st)
	}
	f.counter = counter.ID
	return f
}

// addTask creates the importing task; its first run starts at once.
func (f *flowEnv) addTask() int64 {
	f.t.Helper()
	var task struct{ ID int64 }
	if st := f.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", f.counter), map[string]any{
		"name": "Заказы", "retailcrm": map[string]any{"url": f.crm, "api_key": crmemu.DemoKey},
	}, &task); st != 201 {
		f.t.Fatalf("create task: %d", st)
	}
	f.task = task.ID
	return task.ID
}

// restart stops the service and starts it again on the same database.
func (f *flowEnv) restart() {
	f.t.Helper()
	if err := f.svc.Restart(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.app, f.base = f.svc.App, f.svc.URL
}

// runNow runs the task and waits for the run.
func (f *flowEnv) runNow() runOut {
	f.t.Helper()
	var r runOut
	if st := f.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", f.task), nil, &r); st != 202 {
		f.t.Fatalf("run now: %d", st)
	}
	r = f.waitRun(r.ID)
	if r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings {
		f.t.Fatalf("run: %+v", r)
	}
	return r
}

// waitIdle waits for the task's runs to be over.
func (f *flowEnv) waitIdle() {
	f.t.Helper()
	if _, err := f.svc.WaitRuns(context.Background(), f.task, time.Minute); err != nil {
		f.t.Fatal(err)
	}
}

// apiReader follows a counter's feed through the API as a consumer does.
type apiReader struct {
	f      *flowEnv
	after  string
	last   store.FeedCursor
	seen   map[string]export.Order
	reads  int
	limit  int
	counts int
}

func (f *flowEnv) reader(limit int) *apiReader {
	return &apiReader{f: f, seen: map[string]export.Order{}, limit: limit}
}

// readToEnd reads pages until `more` is false; it reports how many changes it read.
func (r *apiReader) readToEnd() int {
	r.f.t.Helper()
	n := 0
	for {
		var page struct {
			Changes []export.Change `json:"changes"`
			Next    string          `json:"next"`
			More    bool            `json:"more"`
		}
		q := fmt.Sprintf("/api/v1/counters/%d/orders/changes?limit=%d", r.f.counter, r.limit)
		if r.after != "" {
			q += "&after=" + r.after
		}
		if st := r.f.do("GET", q, nil, &page); st != 200 {
			r.f.t.Fatalf("read the feed: %d", st)
		}
		for _, c := range page.Changes {
			cur, err := store.ParseFeedCursor(c.Seq)
			if err != nil {
				r.f.t.Fatalf("seq %q: %v", c.Seq, err)
			}
			if cur.Seq < r.last.Seq || cur.Seq == r.last.Seq && cur.ID <= r.last.ID {
				r.f.t.Fatalf("change %s after %s: read twice or out of order", c.Seq, r.last)
			}
			if (c.Op == export.OpDelete) != c.Order.Deleted {
				r.f.t.Fatalf("change %s: op %s for an order with deleted=%t", c.Seq, c.Op, c.Order.Deleted)
			}
			r.last = cur
			r.seen[c.Order.OrderID] = c.Order
		}
		n += len(page.Changes)
		if page.Next == "" {
			r.f.t.Fatal("the feed answered without next")
		}
		r.after = page.Next
		if !page.More {
			r.counts += n
			return n
		}
	}
}

// liveRows are the orders the reader holds as not deleted, as export rows.
func liveRows(seen map[string]export.Order) [][]string {
	var rows [][]string
	for _, o := range seen {
		if o.Deleted {
			continue
		}
		row := store.OrderRow{OrderID: o.OrderID, OrderLocal: o.OrderDate, SessionID: o.SessionID, UserID: o.UserID,
			ItemCount: o.ItemCount, Profit: o.Profit, Revenue: o.Revenue, Comment: o.Comment, ContactName: o.ContactName,
			ContactPhone: o.ContactPhone, ContactEmail: o.ContactEmail, Tags: o.Tags, Status: o.Status, Site: o.Site,
			StatusGroup: o.StatusGroup, Currency: o.Currency, Counted: o.Counted,
			Source: store.Source{Source: o.UTMSource, Medium: o.UTMMedium, Campaign: o.UTMCampaign}}
		rows = append(rows, api.CSVRecord(&row))
	}
	return rows
}

// A consumer of the changes feed that passes each `next` on ends up with exactly the orders
// RetailCRM has, across new orders, changes, deletions and merges, a re-sync, re-imports of
// unchanged orders (which add nothing) and a restart of the service; it never reads a change
// twice or out of order.
func TestFeedMatchesTheCRM(t *testing.T) {
	bothEngines(t, func(t *testing.T, engine store.Engine) {
		f := newFlowEnv(t, engine, crmemu.Options{Seed: 21, Orders: 320}, jobsConfigForTests())
		r := f.reader(57)
		if n := r.readToEnd(); n != 0 {
			t.Fatalf("an empty counter's feed has %d changes", n)
		}
		f.addTask()
		f.waitIdle()
		r.readToEnd()
		assertRows(t, "after the first run", liveRows(r.seen), f.expectedCSV(t, f.tz))

		rng := rand.New(rand.NewPCG(5, 9))
		for round := range 4 {
			for range 15 {
				f.emu.RandomMutation(rng)
			}
			f.runNow()
			r.readToEnd()
			assertRows(t, fmt.Sprintf("after round %d", round), liveRows(r.seen), f.expectedCSV(t, f.tz))
			if round == 1 {
				f.restart()
			}
		}
		// Nothing changed: nothing enters the feed.
		f.runNow()
		if n := r.readToEnd(); n != 0 {
			t.Errorf("a run without changes added %d changes", n)
		}
		// A re-sync re-reads every order; only what differs enters the feed.
		for range 5 {
			f.emu.RandomMutation(rng)
		}
		var rs runOut
		if st := f.do("POST", fmt.Sprintf("/api/v1/imports/%d/resync", f.task), nil, &rs); st != 202 {
			t.Fatalf("resync: %d", st)
		}
		f.waitRun(rs.ID)
		n := r.readToEnd()
		assertRows(t, "after the re-sync", liveRows(r.seen), f.expectedCSV(t, f.tz))
		if n > 10 {
			t.Errorf("a re-sync after 5 changes added %d feed entries", n)
		}
		// A reader starting from scratch reads the same, each order once.
		fresh := f.reader(1000)
		fresh.readToEnd()
		if len(fresh.seen) != fresh.counts {
			t.Errorf("a reader from the start read %d changes for %d orders", fresh.counts, len(fresh.seen))
		}
		assertRows(t, "from the start", liveRows(fresh.seen), f.expectedCSV(t, f.tz))
		// Bad input.
		for _, q := range []string{"after=garbage", "after=1-2-3", "limit=0", "limit=1001", "limit=x"} {
			var e struct{ Error struct{ Code, Field string } }
			if st := f.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders/changes?%s", f.counter, q), nil, &e); st != 400 {
				t.Errorf("%s: status %d", q, st)
			}
		}
		if st := f.do("GET", "/api/v1/counters/999999/orders/changes", nil, nil); st != 404 {
			t.Errorf("another counter's feed: %d", st)
		}
	})
}

// receiver is a webhook receiver that checks every signature, fails when told to, and keeps
// what it was sent: the changes in the order they arrived.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	failNext int  // answer 503 to this many more messages
	down     bool // answer 503 to everything
	ids      map[string]int
	failedID map[string]bool
	changes  []export.Change
	seen     map[string]export.Order
	last     store.FeedCursor
	bad      []string
	arrived  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, ids: map[string]int{}, failedID: map[string]bool{}, seen: map[string]export.Order{}, arrived: make(chan struct{}, 1)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := webhook.Verify(rc.secret, r.Header, body, time.Now()); err != nil {
		rc.bad = append(rc.bad, "bad signature: "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	rc.ids[id]++
	if rc.down || rc.failNext > 0 {
		if rc.failNext > 0 {
			rc.failNext--
		}
		rc.failedID[id] = true
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.bad = append(rc.bad, "body: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if len(ev.Data.Changes) > webhook.MaxChanges {
		rc.bad = append(rc.bad, fmt.Sprintf("%d changes in one message", len(ev.Data.Changes)))
	}
	for _, c := range ev.Data.Changes {
		cur, err := store.ParseFeedCursor(c.Seq)
		if err != nil || cur.Seq < rc.last.Seq || cur.Seq == rc.last.Seq && cur.ID <= rc.last.ID {
			rc.bad = append(rc.bad, fmt.Sprintf("change %s after %s: out of order or twice", c.Seq, rc.last))
			continue
		}
		rc.last = cur
		rc.changes = append(rc.changes, c)
		rc.seen[c.Order.OrderID] = c.Order
	}
	w.WriteHeader(http.StatusNoContent)
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
}

func (rc *receiver) set(fn func(rc *receiver)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fn(rc)
}

// waitCaughtUp waits until the receiver has every change of the feed a reader reads now.
func (f *flowEnv) waitCaughtUp(rc *receiver, feed *apiReader, timeout time.Duration) {
	f.t.Helper()
	feed.readToEnd()
	deadline := time.Now().Add(timeout)
	for {
		rc.mu.Lock()
		done := rc.last == feed.last
		rc.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the receiver is at %s, the feed at %s", rc.last, feed.last)
		}
		select {
		case <-rc.arrived:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Every change reaches a webhook whose receiver checks signatures, fails the first attempts,
// and is down while the service restarts: in feed order, none lost, none twice, every retry
// under the same webhook-id, at most 100 changes a message.
func TestWebhookDeliversEveryChange(t *testing.T) {
	bothEngines(t, func(t *testing.T, engine store.Engine) {
		jc := jobsConfigForTests()
		jc.WebhookRetryBase = 5 * time.Millisecond // 5 ms, 300 ms, 1.8 s, 7.2 s…
		f := newFlowEnv(t, engine, crmemu.Options{Seed: 33, Orders: 350}, jc)
		rc := newReceiver(t)
		var hook struct {
			ID     int64
			Secret string
			URL    string
		}
		if st := f.do("POST", fmt.Sprintf("/api/v1/counters/%d/webhooks", f.counter), map[string]any{"url": rc.srv.URL + "/orders?token=abc"}, &hook); st != 201 {
			t.Fatalf("create webhook: %d", st)
		}
		if !strings.HasPrefix(hook.Secret, "whsec_") || hook.URL != rc.srv.URL+"/orders?token=abc" {
			t.Fatalf("webhook %+v", hook)
		}
		rc.set(func(rc *receiver) { rc.secret, rc.failNext = hook.Secret, 2 })
		feed := f.reader(1000)
		f.addTask()
		f.waitIdle()
		f.waitCaughtUp(rc, feed, time.Minute)

		rng := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			f.emu.RandomMutation(rng)
		}
		// The receiver goes down; the service restarts meanwhile; changes pile up.
		rc.set(func(rc *receiver) { rc.down = true })
		f.runNow()
		f.restart()
		for range 20 {
			f.emu.RandomMutation(rng)
		}
		f.runNow()
		rc.set(func(rc *receiver) { rc.down = false })
		f.waitCaughtUp(rc, feed, 2*time.Minute)

		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.bad) > 0 {
			t.Errorf("the receiver saw: %v", rc.bad)
		}
		assertRows(t, "at the receiver", liveRows(rc.seen), f.expectedCSV(t, f.tz))
		if len(rc.changes) != feed.counts {
			t.Errorf("the receiver got %d changes, the feed has %d", len(rc.changes), feed.counts)
		}
		// Every message that failed came again with its id, and got through.
		retried := 0
		for id := range rc.failedID {
			if rc.ids[id] < 2 {
				t.Errorf("message %s failed and was never sent again", id)
			}
			retried++
		}
		if retried < 2 {
			t.Errorf("%d messages failed, want the first two at least", retried)
		}
		// The deliveries log names each attempt.
		var log struct{ Deliveries []map[string]any }
		if st := f.do("GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=200", hook.ID), nil, &log); st != 200 || len(log.Deliveries) == 0 {
			t.Fatalf("deliveries: %d %d", st, len(log.Deliveries))
		}
		statuses := map[string]int{}
		for _, d := range log.Deliveries {
			statuses[fmt.Sprint(d["status"])]++
		}
		if statuses["failed"] < 2 || statuses["succeeded"] == 0 {
			t.Errorf("deliveries log: %v", statuses)
		}
	})
}

// A webhook whose receiver keeps failing is retried with growing delays for WebhookGiveUp,
// then switched off, and an alert goes out (here to an alert webhook); switched on again, it
// delivers what it missed, and the incident's end is alerted too. The test message goes
// through at once.
func TestWebhookGivesUpAndAlerts(t *testing.T) {
	jc := jobsConfigForTests()
	jc.WebhookRetryBase = 5 * time.Millisecond
	jc.WebhookGiveUp = 500 * time.Millisecond
	f := newFlowEnv(t, store.SQLite, crmemu.Options{Seed: 3, Orders: 40}, jc)
	rc := newReceiver(t)
	alerts := newAlertReceiver(t)
	var ch struct {
		ID     int64
		Secret string
	}
	if st := f.do("POST", "/api/v1/alerts/channels", map[string]any{"type": "webhook", "url": alerts.srv.URL}, &ch); st != 201 || ch.Secret == "" {
		t.Fatalf("alert channel: %d %+v", st, ch)
	}
	alerts.secret = ch.Secret
	var hook struct {
		ID     int64
		Secret string
	}
	if st := f.do("POST", fmt.Sprintf("/api/v1/counters/%d/webhooks", f.counter), map[string]any{"url": rc.srv.URL}, &hook); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	rc.set(func(rc *receiver) { rc.secret, rc.down = hook.Secret, true })
	var test struct {
		OK         bool
		HTTPStatus int `json:"http_status"`
		ErrorCode  string
	}
	if st := f.do("POST", fmt.Sprintf("/api/v1/webhooks/%d/test", hook.ID), nil, &test); st != 200 || test.OK || test.HTTPStatus != 503 {
		t.Fatalf("test message to a failing receiver: %d %+v", st, test)
	}
	f.addTask()
	f.waitIdle()
	var got struct {
		Enabled            bool
		DisabledReasonCode string `json:"disabled_reason_code"`
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if st := f.do("GET", fmt.Sprintf("/api/v1/webhooks/%d", hook.ID), nil, &got); st != 200 {
			t.Fatalf("get webhook: %d", st)
		}
		if !got.Enabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook was not switched off")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.DisabledReasonCode != "webhook_gave_up" {
		t.Errorf("disabled because %q", got.DisabledReasonCode)
	}
	started := alerts.wait(t, 1)
	if started[0].Type != "incident.started" || started[0].Data.Kind != "webhook_disabled" {
		t.Errorf("alert %+v", started[0])
	}
	rc.set(func(rc *receiver) { rc.down = false })
	if st := f.do("POST", fmt.Sprintf("/api/v1/webhooks/%d/test", hook.ID), nil, &test); st != 200 || !test.OK {
		t.Fatalf("test message: %d %+v", st, test)
	}
	if st := f.do("POST", fmt.Sprintf("/api/v1/webhooks/%d/enable", hook.ID), nil, nil); st != 200 {
		t.Fatalf("enable: %d", st)
	}
	f.waitCaughtUp(rc, f.reader(1000), time.Minute)
	ended := alerts.wait(t, 2)
	if ended[1].Type != "incident.ended" || ended[1].Data.IncidentID != started[0].Data.IncidentID {
		t.Errorf("end alert %+v", ended[1])
	}
}

// alertReceiver keeps the alerts posted to it, after checking their signatures.
type alertReceiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []alertMsg
	bad    []string
}

type alertMsg struct {
	Type string `json:"type"`
	Text string `json:"text"`
	Data struct {
		IncidentID int64  `json:"incident_id"`
		Kind       string `json:"kind"`
		Link       string `json:"link"`
		Message    string `json:"message"`
	} `json:"data"`
}

func newAlertReceiver(t *testing.T) *alertReceiver {
	a := &alertReceiver{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		defer a.mu.Unlock()
		if err := webhook.Verify(a.secret, r.Header, body, time.Now()); err != nil {
			a.bad = append(a.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m alertMsg
		if err := json.Unmarshal(body, &m); err != nil {
			a.bad = append(a.bad, err.Error())
		}
		a.got = append(a.got, m)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// wait waits for n alerts and returns them.
func (a *alertReceiver) wait(t *testing.T, n int) []alertMsg {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a.mu.Lock()
		got, bad := slices.Clone(a.got), slices.Clone(a.bad)
		a.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("alert receiver: %v", bad)
		}
		if len(got) >= n {
			if len(got) > n {
				t.Fatalf("%d alerts, want %d: %+v", len(got), n, got)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts after a minute, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// triggerURL is the task's trigger URL, from the API.
func (f *flowEnv) triggerURL() string {
	f.t.Helper()
	var task struct {
		TriggerURL string `json:"trigger_url"`
	}
	if st := f.do("GET", fmt.Sprintf("/api/v1/imports/%d", f.task), nil, &task); st != 200 {
		f.t.Fatalf("get task: %d", st)
	}
	return task.TriggerURL
}

func call(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"order": {"id": 1, "status": "spoofed"}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// A change in RetailCRM is visible in the export within 10 seconds of the trigger's call
// (p95 over 20 trials, logged with p50); a burst of 20 calls starts at most 2 runs; a flood of
// 10,000 calls starts no more and leaves no queue behind; a rotated URL is refused.
func TestTriggerNearRealTime(t *testing.T) {
	bothEngines(t, func(t *testing.T, engine store.Engine) {
		jc := jobsConfigForTests()
		jc.TriggerEvery = 50 * time.Millisecond
		f := newFlowEnv(t, engine, crmemu.Options{Seed: 8, Orders: 60}, jc)
		f.addTask()
		f.waitIdle()
		url := f.triggerURL()
		if !strings.HasPrefix(url, f.base+"/hooks/retailcrm/") || len(url) < len(f.base+"/hooks/retailcrm/")+22 {
			t.Fatalf("trigger url %q", url)
		}
		ids := f.emu.OrderIDs(crmemu.DemoKey)
		var lat []time.Duration
		for i := range 20 {
			id := ids[i]
			comment := fmt.Sprintf("trial %d", i)
			if err := f.emu.UpdateOrder(id, crmemu.Change{Field: "customer_comment", Value: comment}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			method := http.MethodPost
			if i%2 == 1 {
				method = http.MethodGet
			}
			if st := call(t, method, url); st != 202 {
				t.Fatalf("trigger: %d", st)
			}
			for !f.exported(strconv.FormatInt(id, 10), comment) {
				if time.Since(start) > 30*time.Second {
					t.Fatalf("trial %d: the change is not in the export after 30 s", i)
				}
				time.Sleep(10 * time.Millisecond)
			}
			lat = append(lat, time.Since(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100-1]
		t.Logf("%s: trigger to visible in the export over %d trials: p50 %s, p95 %s, max %s", engine, len(lat), p50, p95, lat[len(lat)-1])
		if p95 > 10*time.Second {
			t.Errorf("p95 %s > 10 s", p95)
		}
		var task struct {
			LastRun struct{ Kind string } `json:"last_run"`
		}
		f.do("GET", fmt.Sprintf("/api/v1/imports/%d", f.task), nil, &task)
		if task.LastRun.Kind != store.RunTrigger {
			t.Errorf("the last run is %q, want trigger", task.LastRun.Kind)
		}

		// A call that says where it comes from, as a browser or a proxy might, is taken too: the
		// token is the credential, no cookie is involved.
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{}`))
		req.Header.Set("Origin", "https://shop.retailcrm.ru")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 202 {
			t.Fatalf("a trigger call with an Origin: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}

		// Rotation: the old URL is refused, the new one works.
		var rotated struct {
			TriggerURL string `json:"trigger_url"`
		}
		if st := f.do("POST", fmt.Sprintf("/api/v1/imports/%d/trigger/rotate", f.task), nil, &rotated); st != 200 || rotated.TriggerURL == url {
			t.Fatalf("rotate: %d %q", st, rotated.TriggerURL)
		}
		if st := call(t, "POST", url); st != 404 {
			t.Errorf("the rotated URL answers %d", st)
		}
		// A token one character off the real one.
		near := rotated.TriggerURL[:len(rotated.TriggerURL)-1] + "A"
		if strings.HasSuffix(rotated.TriggerURL, "A") {
			near = rotated.TriggerURL[:len(rotated.TriggerURL)-1] + "B"
		}
		for _, u := range []string{f.base + "/hooks/retailcrm/", f.base + "/hooks/retailcrm/x", rotated.TriggerURL + "x", near} {
			if st := call(t, "POST", u); st != 404 {
				t.Errorf("%s answers %d", u, st)
			}
		}
		f.waitIdle()
	})
}

// exported reports whether the order's comment in the JSON export is the given one.
func (f *flowEnv) exported(orderID, comment string) bool {
	var page struct{ Orders []export.Order }
	f.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders?q=%s", f.counter, orderID), nil, &page)
	return len(page.Orders) == 1 && page.Orders[0].Comment == comment
}

// Calls of the trigger are folded and paced: a burst of 20 starts at most 2 runs (one now,
// one after the running one, at least 10 s later), a flood of 10,000 no more, and the queue
// holds at most one waiting trigger job at any time.
func TestTriggerBurstAndFlood(t *testing.T) {
	f := newFlowEnv(t, store.SQLite, crmemu.Options{Seed: 8, Orders: 60}, jobsConfigForTests())
	f.addTask()
	f.waitIdle()
	url := f.triggerURL()
	before := f.triggerRuns()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st := call(t, "POST", url); st != 202 {
				t.Errorf("trigger: %d", st)
			}
		}()
	}
	wg.Wait()
	f.waitTriggersSettled(30 * time.Second)
	if n := f.triggerRuns() - before; n < 1 || n > 2 {
		t.Errorf("a burst of 20 calls started %d runs", n)
	}
	before = f.triggerRuns()
	floodStart := time.Now()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var next sync.Mutex
	sent, maxQueued := 0, 0
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				if sent == 10000 {
					next.Unlock()
					return
				}
				sent++
				check := sent%500 == 0
				next.Unlock()
				resp, err := client.Post(url, "application/json", strings.NewReader(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 202 {
					t.Errorf("flood: %d", resp.StatusCode)
					return
				}
				if check {
					q := f.queuedTriggers()
					next.Lock()
					maxQueued = max(maxQueued, q)
					next.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	flood := time.Since(floodStart)
	f.waitTriggersSettled(30 * time.Second)
	runs := f.triggerRuns() - before
	// One run at once, then at most one per 10 s while the calls go on.
	bound := 2 + int(flood/(10*time.Second))
	t.Logf("10,000 calls in %s: %d runs (at most %d allowed), at most %d trigger jobs in the queue", flood.Round(time.Millisecond), runs, bound, maxQueued)
	if runs > bound || maxQueued > 2 {
		t.Errorf("a flood of 10,000 calls started %d runs with up to %d trigger jobs in the queue", runs, maxQueued)
	}
}

func (f *flowEnv) triggerRuns() int {
	f.t.Helper()
	runs, err := f.app.Store.Runs(context.Background(), f.acc, f.task, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.Kind == store.RunTrigger {
			n++
		}
	}
	return n
}

func (f *flowEnv) queuedTriggers() int {
	f.t.Helper()
	var n int
	if err := f.app.Store.DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'retailcrm_trigger' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// waitTriggersSettled waits until no trigger job waits and no run of the task is going.
func (f *flowEnv) waitTriggersSettled(timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// The calls reach the queue through a coalescer: idle, it has handed every call on.
		idle := f.app.Jobs.TriggersIdle()
		active, err := f.app.Store.ActiveRun(context.Background(), f.acc, f.task)
		if err != nil {
			f.t.Fatal(err)
		}
		if idle && active == nil && f.queuedTriggers() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatal("trigger jobs or runs still going")
}
