package importer_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/store"
)

// paceAccount is n small orders over the 60 days before a fixed "now", with RetailCRM's pace of
// rps requests a second enforced by the emulator (and kept by the task) and answers taking
// answer.
func paceAccount(seed int64, n, rps int, answer time.Duration) (crmemu.Options, store.Task) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	return crmemu.Options{Seed: seed, Orders: n, OrderSize: "small", RateLimit: rps, Latency: answer,
			Start: now.Add(-60 * 24 * time.Hour), End: now.Add(-time.Hour), Now: func() time.Time { return now }},
		store.Task{RateLimit: float64(rps)}
}

// onOrderPage calls fn once, before the k-th page of an order list is answered.
func onOrderPage(emu *crmemu.Emulator, k int64, fn func()) {
	var pages atomic.Int64
	var once sync.Once
	emu.OnRequest(func(r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path == "/api/v5/orders" && q.Get("limit") == "100" && q.Get("filter[ids][]") == "" && pages.Add(1) == k {
			once.Do(fn)
		}
	})
}

// RetailCRM slows down in the middle of a first run: the pages in flight wait for the slow
// answers, the answer times measured rise, and the run keeps more pages in flight to hold the
// pace. Nothing is skipped or doubled and the pace is never exceeded.
func TestSlowDownMidImport(t *testing.T) {
	t.Parallel()
	opts, task := paceAccount(51, 2_500, 20, 50*time.Millisecond)
	h := newHarness(t, opts, importer.Config{RequestTimeout: 10 * time.Second, RetryBaseDelay: time.Millisecond,
		RetryMaxDelay: 5 * time.Millisecond}, task)
	onOrderPage(h.emu, 4, func() { h.emu.SetAnswerTime(time.Second, 0) })
	h.mustRun()
	h.verify("after a run that slowed down")
	st := h.emu.Stats()
	if st.RateLimited != 0 || st.MaxInWindow[h.key] > 20 {
		t.Errorf("the pace was exceeded: %d × 503, %d requests in a second", st.RateLimited, st.MaxInWindow[h.key])
	}
	// At 20 requests a second and 1 s an answer, holding the pace takes 20 in flight; before
	// the slow-down 50 ms answers took 3.
	t.Logf("%d requests, at most %d at once", st.Requests, st.MaxInFlight)
	if st.MaxInFlight < 10 {
		t.Errorf("at most %d requests were answered at once after answers slowed to 1 s, want the depth to follow", st.MaxInFlight)
	}
}

// Pages answered 503 (and 502, 500) while other pages are in flight: the throttled ones are
// retried within the account's pace, which drops after a 503, and the run is exact.
func TestFaultsWhilePagesAreInFlight(t *testing.T) {
	t.Parallel()
	for _, f := range []crmemu.Fault{crmemu.Fault503, crmemu.FaultHTMLError, crmemu.Fault500} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			opts, task := paceAccount(52, 1_200, 10, 300*time.Millisecond)
			h := newHarness(t, opts, importer.Config{MaxAttempts: 5}, task)
			onOrderPage(h.emu, 3, func() { h.emu.InjectFault(f, 2, "/api/v5/orders") })
			r := h.mustRun()
			h.verify("after faults among pages in flight")
			st := h.emu.Stats()
			if st.FaultsByKind[f] != 2 {
				t.Errorf("%d faults served, want 2", st.FaultsByKind[f])
			}
			if st.MaxInFlight < 3 {
				t.Errorf("at most %d requests in flight at 300 ms an answer, want pages in flight", st.MaxInFlight)
			}
			if st.RateLimited != 0 {
				t.Errorf("the emulator's own limit answered 503 %d times", st.RateLimited)
			}
			if r.Counts.Created != 1_200 {
				t.Errorf("created %d, want each order once", r.Counts.Created)
			}
		})
	}
}

// The list's page count changes while its pages are in flight: orders created in the window
// (more pages) and deleted from it (fewer). The concurrent walk sees the total change and reads
// the window again a page at a time; the run is exact.
func TestPageCountChangesWhilePagesAreInFlight(t *testing.T) {
	t.Parallel()
	for _, grow := range []bool{true, false} {
		name := "orders deleted"
		if grow {
			name = "orders created"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts, task := paceAccount(53, 1_000, 1000, 20*time.Millisecond)
			h := newHarness(t, opts, importer.Config{}, task)
			ids := h.emu.OrderIDs("")
			onOrderPage(h.emu, 2, func() {
				for i := range 150 {
					if grow {
						h.emu.CreateOrder(crmemu.OrderInput{CreatedAt: opts.End.Add(-time.Duration(i) * time.Hour)})
					} else if err := h.emu.DeleteOrder(ids[i*3]); err != nil {
						t.Error(err)
					}
				}
			})
			h.mustRun()
			h.verify("after the page count changed")
			if st := h.emu.Stats(); st.MaxInFlight < 3 {
				t.Errorf("at most %d requests in flight, want pages in flight", st.MaxInFlight)
			}
		})
	}
}

// The end of the change feed is found without walking the day before it: an account whose feed
// holds thousands of entries from the last hours costs a read of the day and a jump.
func TestFeedEndFoundWithoutWalking(t *testing.T) {
	t.Parallel()
	opts, task := paceAccount(54, 300, 1000, 0)
	now := opts.Now()
	opts.End = now.Add(-10 * time.Minute)
	opts.Start = now.Add(-20 * time.Hour) // 300 creations in the feed's last day…
	h := newHarness(t, opts, importer.Config{}, task)
	rng := rand.New(rand.NewPCG(54, 0))
	for range 3_000 { // …and 3,000 changes
		h.emu.RandomMutation(rng)
	}
	var mu sync.Mutex
	feed, paged := 0, false
	h.emu.OnRequest(func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/api/v5/orders" && r.URL.Query().Get("limit") == "100":
			paged = true
		case r.URL.Path == "/api/v5/orders/history" && !paged:
			feed++
		}
	})
	h.mustRun()
	h.verify("after the first run")
	if feed > 3 {
		t.Errorf("%d feed requests before the first order page, want the end found in a read and a jump or two", feed)
	}
}

// A run continued over several time slices asks RetailCRM for the key's access and the
// account's settings once, in its first slice; the next run asks again. Its progress counts the
// orders read across the slices.
func TestPreflightOncePerRun(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	opts := crmemu.Options{Seed: 55, Orders: 600, OrderSize: "small", Start: now.Add(-60 * 24 * time.Hour),
		End: now.Add(-time.Hour), Now: func() time.Time { return now }}
	h := newHarness(t, opts, importer.Config{WindowTarget: 100}, store.Task{})
	var mu sync.Mutex
	clock := now
	h.im.Now = func() time.Time { // every reading of the importer's is a minute later: slices end soon
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Minute)
		return clock
	}
	ctx := context.Background()
	r, err := h.st.CreateRun(ctx, h.task.AccountID, h.task.ID, store.RunManual)
	if err != nil {
		t.Fatal(err)
	}
	slices, done := 1, int64(0)
	for ; ; slices++ {
		err := h.im.Run(ctx, h.task, r.ID, h.im.Now().Add(6*time.Minute))
		if err == nil {
			break
		}
		if err != importer.ErrSliceDone || slices > 100 {
			t.Fatalf("slice %d: %v", slices, err)
		}
		// The backfill's progress counts the orders read of the 600 there are, across slices.
		p, err := h.st.RunForWorker(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Phase == importer.PhaseBackfill && (p.ProgressTotal != 600 || p.ProgressDone < done || p.ProgressDone > 600) {
			t.Errorf("slice %d: progress %d of %d after %d", slices, p.ProgressDone, p.ProgressTotal, done)
		}
		done = p.ProgressDone
	}
	h.verify("after the sliced run")
	st := h.emu.Stats()
	if slices < 2 || st.ByEndpoint["/api/credentials"] != 2 || st.ByEndpoint["/api/v5/settings"] != 1 {
		t.Errorf("%d slices asked for the key %d times and the settings %d times, want once each (and the key check at the end)",
			slices, st.ByEndpoint["/api/credentials"], st.ByEndpoint["/api/v5/settings"])
	}
	h.emu.ResetStats()
	h.mustRun()
	if got := h.emu.Stats().ByEndpoint["/api/v5/settings"]; got != 1 {
		t.Errorf("the next run asked for the settings %d times, want once", got)
	}
}

// The catch-up after a long pause reads the feed with pages asked for ahead (its ids are dense)
// and re-fetches the changed orders with several requests in flight, wasting none: one request
// per page of entries, and no more re-fetches than batches of changed orders.
func TestCatchUpAfterALongPause(t *testing.T) {
	t.Parallel()
	opts, task := paceAccount(56, 2_000, 1000, 10*time.Millisecond)
	h := newHarness(t, opts, importer.Config{}, task)
	h.mustRun()
	rng := rand.New(rand.NewPCG(56, 0))
	entries := h.emu.HistoryLastID()
	for range 3_000 {
		h.emu.RandomMutation(rng)
	}
	entries = h.emu.HistoryLastID() - entries
	h.emu.ResetStats()
	var mu sync.Mutex
	var batches []int // ids asked for by each re-fetch
	h.emu.OnRequest(func(r *http.Request) {
		if ids := r.URL.Query()["filter[ids][]"]; len(ids) > 0 {
			mu.Lock()
			batches = append(batches, len(ids))
			mu.Unlock()
		}
	})
	h.mustRun()
	h.verify("after the catch-up")
	st := h.emu.Stats()
	pages := int((entries + 99) / 100)
	if got := st.ByEndpoint["/api/v5/orders/history"]; got > pages+1 {
		t.Errorf("%d feed requests for %d entries, want at most %d", got, entries, pages+1)
	}
	// Batches of up to 100 ids: an entry naming ids that would not fit (up to three: the order,
	// the one it was merged into, the one it was split from) starts the next one.
	slices.Sort(batches)
	if len(batches) > 1 && batches[1] < 98 {
		t.Errorf("re-fetches of %v ids: more than the last asked for fewer than 98", batches)
	}
	if st.MaxInFlight < 3 {
		t.Errorf("at most %d requests in flight, want the feed and the re-fetches in flight", st.MaxInFlight)
	}
	t.Logf("%d entries: %d requests (%v), at most %d at once", entries, st.Requests, st.ByEndpoint, st.MaxInFlight)
}

// A first run asks for its first pages while the reference (statuses, groups, stores) is still
// on its way: the reference is needed to map orders, not to ask for them. Here the answer of the
// stores holds until an order page has arrived (at most 10 s, which a run that waits for the
// reference before its pages would spend). The plan is stored with its fingerprint all the
// same: the next run finds nothing to re-read, and the stored orders are exact.
func TestFirstPagesGoBeforeTheReferenceArrives(t *testing.T) {
	t.Parallel()
	opts, task := paceAccount(54, 600, 20, 20*time.Millisecond)
	h := newHarness(t, opts, importer.Config{}, task)
	paged := make(chan struct{})
	var pageOnce sync.Once
	var pageFirst atomic.Bool
	h.emu.OnRequest(func(r *http.Request) {
		switch q := r.URL.Query(); {
		case r.URL.Path == "/api/v5/orders" && q.Get("limit") == "100" && q.Get("filter[ids][]") == "":
			pageOnce.Do(func() { close(paged) })
		case r.URL.Path == "/api/v5/reference/sites":
			select {
			case <-paged:
				pageFirst.Store(true)
			case <-time.After(10 * time.Second):
			}
		}
	})
	first := h.mustRun()
	if !pageFirst.Load() {
		t.Error("the first run asked for no order page until the reference had answered")
	}
	h.verify("after the first run")
	st, err := h.st.SyncState(context.Background(), h.task.ID)
	if err != nil || st.Fingerprint == "" || st.Phase != importer.PhaseHistory {
		t.Fatalf("the first run's plan is stored as %+v (%v), want its fingerprint and the catch-up phase", st, err)
	}
	h.emu.ResetStats()
	second := h.mustRun()
	if n := h.emu.Stats().ByEndpoint["/api/v5/orders"]; n != 0 || second.Counts.Fetched != 0 {
		t.Errorf("the run after the first read %d order lists (%d orders): the first stored its plan with another fingerprint", n, second.Counts.Fetched)
	}
	if first.Counts.Created != 600 {
		t.Errorf("created %d, want each order once", first.Counts.Created)
	}
}

// An account whose last change is a little over 13 hours old: the first run's probe reads the
// feed from 13 hours back (an hour in every zone) and finds it empty. The run's cursor is that
// instant, not an hour before it: the hour's entries are older than the end the probe found,
// and the window's check would take them for changes made while the window was read, and read
// every page of it again.
func TestFirstRunAfterAQuietHalfDayReadsEachPageOnce(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// The probe asks from "2026-05-31 23:00:00", which the account (Moscow) reads as 20:00 UTC;
	// the last orders were created in the half hour before.
	end := time.Date(2026, 5, 31, 19, 50, 0, 0, time.UTC)
	opts := crmemu.Options{Seed: 55, Orders: 600, OrderSize: "small", Start: end.Add(-48 * time.Hour), End: end,
		Now: func() time.Time { return now }}
	h := newHarness(t, opts, importer.Config{}, store.Task{})
	var pages atomic.Int64
	h.emu.OnRequest(func(r *http.Request) {
		if q := r.URL.Query(); r.URL.Path == "/api/v5/orders" && q.Get("limit") == "100" && q.Get("filter[ids][]") == "" {
			pages.Add(1)
		}
	})
	late := 0
	for _, raw := range h.emu.Orders(h.key) {
		var o struct {
			CreatedAt string `json:"createdAt"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if at, err := time.ParseInLocation(time.DateTime, o.CreatedAt, h.emu.Location()); err == nil && at.After(end.Add(-30*time.Minute)) {
			late++
		}
	}
	if late == 0 {
		t.Fatal("no order was created in the half hour before the probe's start: the account does not test the case")
	}
	h.mustRun()
	h.verify("after the first run")
	if n := pages.Load(); n != 6 {
		t.Errorf("the first run asked for %d pages of 100 for 600 orders, want each of the 6 once", n)
	}
}
