package app_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/store"
)

// exportRows reads the CSV export without failing the test, so that an emulator hook (another
// goroutine) can look at the reports in the middle of a run.
func (e *env) exportRows(counterID int64, query string) ([][]string, error) {
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/counters/%d/orders?format=csv%s", e.base, counterID, query), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("csv export: status %d", resp.StatusCode)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		return nil, err
	}
	return recs[1:], nil
}

// expectedWith is expectedCSV for a task with its own mapping.
func (e *env) expectedWith(t *testing.T, spec map[string]string, counterTZ string) [][]string {
	t.Helper()
	return e.expectedTask(t, store.Task{Mapping: spec}, counterTZ)
}

func (e *env) runNow(taskID int64) runOut {
	e.t.Helper()
	var r runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", taskID), nil, &r); st != 202 {
		e.t.Fatalf("run now: %d", st)
	}
	return e.waitRun(r.ID)
}

func succeeded(r runOut) bool {
	return r.Status == store.RunSucceeded || r.Status == store.RunSucceededWithWarnings
}

// A re-sync re-reads everything without deleting anything first: an order that is in the
// reports stays there for as long as RetailCRM has it, at every instant of the re-sync (looked
// at between any two requests the re-sync makes), including orders created while it runs.
// Afterwards, orders RetailCRM lost without a trace in the change feed are flagged deleted.
func TestResyncNeverHidesOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, crmemu.Options{Seed: 31, Orders: 400, OrderSize: "small"})
	c := e.counter()
	task := e.emuTask(c, "t")
	if r := e.lastRun(task.ID); !succeeded(r) {
		t.Fatalf("first run: %+v", r)
	}
	// Orders dated after the first run's day (pre-orders, or simply later days) reach the
	// tracker through the change feed; the re-sync must read them too.
	for d := 1; d <= 3; d++ {
		e.emu.CreateOrder(crmemu.OrderInput{CreatedAt: time.Now().AddDate(0, 0, d)})
	}
	if r := e.runNow(task.ID); !succeeded(r) || r.Created != 3 {
		t.Fatalf("run after the new orders: %+v", r)
	}
	// Orders disappear from RetailCRM in a way the change feed does not show: the task's
	// cursor is moved past their deletion entries, as a feed that lost entries would.
	ids := e.emu.OrderIDs(crmemu.DemoKey)
	lost := []int64{ids[3], ids[50], ids[399]}
	for _, id := range lost {
		if err := e.emu.DeleteOrder(id); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := e.app.Store.SyncState(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	st.HistorySinceID = e.emu.HistoryLastID()
	if err := e.app.Store.SaveSyncState(ctx, e.acc, st); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	shown := map[string]bool{} // orders the reports have shown during the re-sync
	var problems []string
	looks, created, watching := 0, 0, true
	rng := rand.New(rand.NewPCG(31, 1))
	e.emu.OnRequest(func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !watching {
			return
		}
		if r.URL.Path == "/api/v5/orders" && created < 10 {
			e.emu.CreateOrder(crmemu.OrderInput{}) // new orders keep coming during the re-sync
			e.emu.RandomMutation(rng)
			created++
		}
		rows, err := e.exportRows(c, "")
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		looks++
		now := map[string]bool{}
		for _, row := range rows {
			now[row[0]] = true
		}
		live := map[string]bool{}
		for _, id := range e.emu.OrderIDs(crmemu.DemoKey) {
			live[fmt.Sprint(id)] = true
		}
		for id := range shown {
			if live[id] && !now[id] {
				problems = append(problems, fmt.Sprintf("order %s vanished from the reports before %s", id, r.URL.RequestURI()))
			}
		}
		for id := range now {
			shown[id] = true
		}
	})
	var r runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/resync", task.ID), nil, &r); st != 202 {
		t.Fatalf("resync: %d", st)
	}
	r = e.waitRun(r.ID)
	mu.Lock()
	watching = false
	mu.Unlock()
	if !succeeded(r) {
		t.Fatalf("re-sync: %+v", r)
	}
	for _, p := range problems[:min(len(problems), 10)] {
		t.Error(p)
	}
	if looks < 5 {
		t.Fatalf("the reports were looked at only %d times during the re-sync", looks)
	}
	deleted := map[string]bool{}
	for _, row := range e.csv(c, "&include_deleted=true")[1:] {
		if row[14] == "true" {
			deleted[row[0]] = true
		}
	}
	for _, id := range lost {
		if !deleted[fmt.Sprint(id)] {
			t.Errorf("order %d, gone from RetailCRM, is not flagged deleted after the re-sync", id)
		}
	}
	// Changes made while the re-sync made its last requests are the next run's to replay.
	if r := e.runNow(task.ID); !succeeded(r) {
		t.Fatalf("the run after the re-sync: %+v", r)
	}
	assertRows(t, "after the re-sync and one more run", e.csv(c, "")[1:], e.expectedCSV(t, "Europe/Moscow"))
}

// Changing the mapping re-applies it to the orders already stored: through the re-sync run the
// change starts, and — when a run was already going and the re-sync could not be queued —
// through the next run, which notices that the rows were made with another mapping.
func TestMappingChangeReappliesToStoredOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, crmemu.Options{Seed: 32, Orders: 300, OrderSize: "small"})
	c := e.counter()
	task := e.emuTask(c, "t")
	if r := e.lastRun(task.ID); !succeeded(r) {
		t.Fatalf("first run: %+v", r)
	}
	spec := map[string]string{"order_id": "number", "session_id": "customFields." + crmemu.FieldSessionID, "revenue": "summ"}
	var patched taskOut
	if st := e.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", task.ID), map[string]any{"mapping": spec}, &patched); st != 200 {
		t.Fatalf("patch mapping: %d", st)
	}
	r := e.lastRun(task.ID)
	if !succeeded(r) {
		t.Fatalf("re-sync after the mapping change: %+v", r)
	}
	assertRows(t, "after the mapping change", e.csv(c, "")[1:], e.expectedWith(t, spec, "Europe/Moscow"))

	// Now change it back while a run is in the middle of its work.
	hold, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.emu.OnRequest(func(r *http.Request) {
		if r.URL.Path == "/api/v5/orders/history" {
			once.Do(func() {
				close(hold)
				<-release
			})
		}
	})
	var running runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &running); st != 202 {
		t.Fatalf("run now: %d", st)
	}
	<-hold
	if st := e.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", task.ID), map[string]any{"mapping": map[string]any{
		"order_id": nil, "session_id": nil, "revenue": nil}}, &patched); st != 200 {
		close(release)
		t.Fatalf("patch mapping: %d", st)
	}
	close(release)
	if r := e.waitRun(running.ID); !succeeded(r) {
		t.Fatalf("the run that was going: %+v", r)
	}
	if r := e.runNow(task.ID); !succeeded(r) {
		t.Fatalf("the next run: %+v", r)
	}
	assertRows(t, "after the mapping changed during a run", e.csv(c, "")[1:], e.expectedWith(t, nil, "Europe/Moscow"))
}

// A run that fails part-way keeps what it committed and says so: its counts, the checkpoint it
// reached and the error in words. The next run resumes there: nothing is read twice into the
// tracker, nothing is missing.
func TestFailedRunKeepsWhatItCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, crmemu.Options{Seed: 33, Orders: 300, OrderSize: "small"})
	// Windows of 100 orders, read a page at a time: the fault lands in the second window.
	e.app.Importer.Config.WindowTarget, e.app.Importer.Config.MaxInFlight = 100, 1
	c := e.counter()
	var once sync.Once
	e.emu.OnRequest(func(r *http.Request) {
		// The second backfill window: the first one is committed and checkpointed.
		if r.URL.Path == "/api/v5/orders" && r.URL.Query().Get("filter[createdAtFrom]") != "" {
			once.Do(func() { e.emu.InjectFault(crmemu.Fault500, 5, "/api/v5/orders") })
		}
	})
	task := e.emuTask(c, "t")
	failed := e.lastRun(task.ID)
	var full struct {
		runOut
		Cursor string `json:"cursor"`
		Phase  string `json:"phase"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/runs/%d", failed.ID), nil, &full)
	t.Logf("failed run: %+v", full)
	if failed.Status != store.RunFailed || !strings.Contains(failed.Error, "RetailCRM had an internal error") {
		t.Fatalf("the run should have failed in words: %+v", failed)
	}
	if failed.Created == 0 || failed.Requests == 0 || !strings.HasPrefix(full.Cursor, "backfill:") {
		t.Fatalf("the failed run must say what it did and where it stopped: %+v", full)
	}
	if rows := e.csv(c, "")[1:]; int64(len(rows)) != failed.Created {
		t.Fatalf("%d orders in the reports, the failed run says it created %d", len(rows), failed.Created)
	}
	next := e.runNow(task.ID)
	if !succeeded(next) {
		t.Fatalf("the next run: %+v", next)
	}
	want := e.expectedCSV(t, "Europe/Moscow")
	if failed.Created+next.Created != int64(len(want)) || next.Updated != 0 {
		t.Errorf("resumed: %d + %d created (%d updated), want %d in all", failed.Created, next.Created, next.Updated, len(want))
	}
	assertRows(t, "after the resumed run", e.csv(c, "")[1:], want)
}

// RetailCRM throttling: every request is retried a bounded number of times with backoff, the
// account's pace (10 requests a second) holds even while retrying, and a run that cannot get
// through fails in words instead of hammering.
func TestThrottledRunsStayPolite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, crmemu.Options{Seed: 34, Orders: 40, OrderSize: "small", RateLimit: 10})
	c := e.counter()
	// After a 503 the pace drops to what RetailCRM evidently tolerated, so the test keeps its
	// requests few: a backfill start instead of the search for the oldest order.
	from := time.Now().AddDate(0, 0, -200).Format("2006-01-02") // the emulator's orders span 180 days
	task := e.createTask(c, map[string]any{"name": "t", "active": false, "backfill_from": from,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}})
	e.emu.ResetStats()
	// The key check is throttled: the requests that go alongside it (settings, the first
	// run's read of the feed and count of the orders) get through.
	e.emu.InjectFault(crmemu.Fault503, 7, "/api/credentials")
	first := e.runNow(task.ID)
	st := e.emu.Stats()
	if first.Status != store.RunFailed || !strings.Contains(first.Error, "slow down") {
		t.Fatalf("a run throttled on every attempt: %+v", first)
	}
	if n := st.ByEndpoint["/api/credentials"]; n != 5 || first.Requests != int64(st.Requests) {
		t.Errorf("a throttled request was tried %d times (the run says it made %d requests, RetailCRM saw %d), want the 5 attempts",
			n, first.Requests, st.Requests)
	}
	second := e.runNow(task.ID)
	if !succeeded(second) {
		t.Fatalf("the run after the burst: %+v", second)
	}
	st = e.emu.Stats()
	if got := st.MaxInWindow[crmemu.DemoKey]; got > 10 {
		t.Errorf("%d requests arrived within one second; the account allows 10", got)
	}
	if st.RateLimited != 0 {
		t.Errorf("the emulator's own limit answered 503 %d times: the pace was not kept", st.RateLimited)
	}
	assertRows(t, "after the burst", e.csv(c, "")[1:], e.expectedCSV(t, "Europe/Moscow"))
	if !slices.Contains([]string{store.TaskOK}, e.task(task.ID).Status) {
		t.Errorf("task status %s after a recovered run", e.task(task.ID).Status)
	}
}
