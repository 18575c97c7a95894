package importer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/store"
)

// spreadAccount is n orders over the 20 days before a fixed "now".
func spreadAccount(seed int64, n int) crmemu.Options {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	return crmemu.Options{Seed: seed, Orders: n, OrderSize: "small", Start: now.Add(-20 * 24 * time.Hour),
		End: now.Add(-time.Hour), Now: func() time.Time { return now }}
}

// Acceptance-suite style: a run resumed from ANY checkpoint it saved — mid-backfill, between
// backfill and catch-up, mid-catch-up — ends with exactly the CRM's orders, and never moves
// the checkpoint behind the one it resumed from. Read a page at a time, and with pages in
// flight (RetailCRM answering in 5 ms, so that several are): the checkpoints are the same kind,
// fewer of them fall between two requests.
func TestResumeFromEveryCheckpoint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		inFlight int
		answer   time.Duration
		least    int
	}{
		{"page by page", 1, 0, 5},
		{"pages in flight", 3, 5 * time.Millisecond, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := spreadAccount(21, 300)
			opts.Latency = c.answer
			resumeFromEveryCheckpoint(t, opts, importer.Config{PageSize: 20, WindowTarget: 40, MaxInFlight: c.inFlight}, c.least)
		})
	}
}

func resumeFromEveryCheckpoint(t *testing.T, opts crmemu.Options, cfg importer.Config, least int) {
	ctx := context.Background()
	h := newHarness(t, opts, cfg, store.Task{})
	type snapshot struct {
		path string
		st   store.SyncState
	}
	var snaps []snapshot
	var last store.SyncState
	snapshotting := true
	h.emu.OnRequest(func(*http.Request) {
		if !snapshotting {
			return
		}
		st, err := h.st.SyncState(ctx, h.task.ID)
		if err != nil || st == last {
			return
		}
		last = st
		path := filepath.Join(t.TempDir(), fmt.Sprintf("cp%d.db", len(snaps)))
		// The importer is waiting for this answer, so no transaction of its is open.
		if _, err := h.st.DB().ExecContext(ctx, `VACUUM INTO '`+path+`'`); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snapshot{path, st})
	})
	h.mustRun()
	rng := rand.New(rand.NewPCG(21, 0))
	for range 120 {
		h.emu.RandomMutation(rng)
	}
	h.mustRun()
	snapshotting = false
	h.verify("after the second run")
	phases := map[string]int{}
	for _, s := range snaps {
		phases[s.st.Phase]++
	}
	t.Logf("checkpoints to resume from: %v", phases)
	if phases[importer.PhaseBackfill] < least || phases[importer.PhaseHistory] < least {
		t.Fatalf("too few checkpoints to resume from: %v", phases)
	}
	for i, s := range snaps {
		st, err := store.Open(ctx, store.Location{Engine: store.SQLite, Path: s.path})
		if err != nil {
			t.Fatal(err)
		}
		im := h.importerOn(st)
		back := ""
		h.emu.OnRequest(func(*http.Request) {
			cur, err := st.SyncState(ctx, h.task.ID)
			if err != nil || back != "" {
				return
			}
			switch {
			case cur.HistorySinceID < s.st.HistorySinceID:
				back = fmt.Sprintf("feed cursor %d < %d", cur.HistorySinceID, s.st.HistorySinceID)
			case cur.Phase == s.st.Phase && cur.Phase == importer.PhaseBackfill && cur.BackfillNext < s.st.BackfillNext:
				back = fmt.Sprintf("backfill position %s < %s", cur.BackfillNext, s.st.BackfillNext)
			case s.st.Phase == importer.PhaseHistory && cur.Phase == importer.PhaseBackfill:
				back = "back to the backfill"
			}
		})
		r, err := st.CreateRun(ctx, h.task.AccountID, h.task.ID, store.RunManual)
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Run(ctx, h.task, r.ID, time.Time{}); err != nil {
			t.Fatalf("resume from checkpoint %d (%+v): %v", i, s.st, err)
		}
		if back != "" {
			t.Errorf("resume from checkpoint %d (%s %d %s): went back: %s", i, s.st.Phase, s.st.HistorySinceID, s.st.BackfillNext, back)
		}
		h.verifyStore(st, fmt.Sprintf("resumed from checkpoint %d (%s)", i, s.st.Phase))
		st.Close()
		h.emu.OnRequest(func(*http.Request) {}) // hooks cannot be removed; this one is inert
		back = "done"
	}
}

// A cursor ahead of the feed (a feed that was reset, or a cursor copied from elsewhere) reads
// an empty page: no changes, no error, and the cursor does not move back.
func TestCursorAheadOfTheFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, spreadAccount(22, 50), importer.Config{}, store.Task{})
	h.mustRun()
	st, err := h.st.SyncState(ctx, h.task.ID)
	if err != nil {
		t.Fatal(err)
	}
	st.HistorySinceID = h.emu.HistoryLastID() + 1000
	if err := h.st.SaveSyncState(ctx, h.task.AccountID, st); err != nil {
		t.Fatal(err)
	}
	h.emu.ResetStats()
	r := h.mustRun()
	if c := r.Counts; c.Fetched+c.Created+c.Updated+c.Deleted != 0 {
		t.Errorf("a run past the feed's end changed something: %+v", c)
	}
	if got := h.emu.Stats().ByEndpoint; got["/api/v5/orders/history"] != 1 || got["/api/v5/orders"] != 0 {
		t.Errorf("requests %v", got)
	}
	after, _ := h.st.SyncState(ctx, h.task.ID)
	if after.HistorySinceID != st.HistorySinceID {
		t.Errorf("cursor moved from %d to %d", st.HistorySinceID, after.HistorySinceID)
	}
}

// Stored dates are instants: when the account's timezone changes, RetailCRM renders every
// time in the new zone, the importer reads them in it, and nothing stored changes. Orders read
// while the zone changed under a run are put right by the next run, which re-reads them.
func TestAccountTimezoneChangeKeepsInstants(t *testing.T) {
	t.Parallel()
	h := newHarness(t, spreadAccount(23, 120), importer.Config{PageSize: 20, WindowTarget: 40}, store.Task{})
	h.mustRun()
	if err := h.emu.SetTimezone("America/New_York"); err != nil {
		t.Fatal(err)
	}
	r := h.mustRun()
	if c := r.Counts; c.Created+c.Updated+c.Deleted != 0 || c.Fetched == 0 {
		t.Errorf("a timezone change must re-read (the rows may be wrong) and find nothing to write: %+v", c)
	}
	h.verify("after the zone changed between runs")

	pages := 0
	h.emu.OnRequest(func(r *http.Request) {
		if r.URL.Path == "/api/v5/orders" && r.URL.Query().Get("filter[ids][]") == "" {
			if pages++; pages == 4 {
				if err := h.emu.SetTimezone("Asia/Kathmandu"); err != nil {
					t.Error(err)
				}
			}
		}
	})
	if err := h.emu.UpdateOrder(h.emu.OrderIDs("")[0], crmemu.Change{Field: "status", Value: "complete"}); err != nil {
		t.Fatal(err)
	}
	if err := h.im.Resync(context.Background(), h.task); err != nil {
		t.Fatal(err)
	}
	h.mustRun() // reads half of the orders in one zone and half in the other
	h.mustRun() // sees the new zone in its preflight and re-reads
	h.verify("after the zone changed during a run")
}

// A key that loses a store can no longer see (or hear of) that store's orders: they leave the
// tracker. When the store comes back, so do they. Losing it in the middle of a run fails that
// run without parking the task.
func TestStoreAccessNarrowedAndWidened(t *testing.T) {
	t.Parallel()
	opts := spreadAccount(24, 150)
	opts.Keys = map[string]crmemu.KeyConfig{"k": crmemu.FullAccess()}
	h := newHarness(t, opts, importer.Config{PageSize: 20, WindowTarget: 40}, store.Task{})
	h.mustRun()
	narrow := crmemu.FullAccess()
	narrow.SiteAccess, narrow.Sites = crmemu.AccessSelective, []string{crmemu.SiteMain}
	h.emu.SetKey("k", narrow)
	r := h.mustRun()
	if r.Counts.Deleted == 0 {
		t.Errorf("orders of the lost store stayed: %+v", r.Counts)
	}
	h.verify("after the key lost a store")

	h.emu.SetKey("k", crmemu.FullAccess())
	h.mustRun()
	h.verify("after the key got it back")

	// A key limited to two stores asks for them by name (filter[sites]); RetailCRM denies the
	// request once one of them is gone.
	both := narrow
	both.Sites = []string{crmemu.SiteMain, crmemu.SiteOpt}
	h.emu.SetKey("k", both)
	h.mustRun()
	h.verify("with two stores")
	pages := 0
	h.emu.OnRequest(func(r *http.Request) {
		if r.URL.Path == "/api/v5/orders" {
			if pages++; pages == 3 {
				h.emu.SetKey("k", narrow)
			}
		}
	})
	if err := h.im.Resync(context.Background(), h.task); err != nil {
		t.Fatal(err)
	}
	_, err := h.run()
	var f *importer.Failure
	if !errors.As(err, &f) || f.Permanent {
		t.Fatalf("a store lost during the run: %v (want a failure that does not park the task)", err)
	}
	h.mustRun()
	h.verify("after the key lost a store during a run")
}

// A re-sync plans its windows from the first run's first day to today in the account's zone.
// When the zone moves west, today can be the day before that first day (here the first run
// found no orders, so its first day was its today); such an inverted plan must still read
// every order, or the re-sync's sweep flags them all deleted (model test, seeds 6147, 6308).
func TestResyncAfterTheZoneMovedTodayBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 13, 30, 0, 0, time.UTC) // 2 June in Kiritimati, 1 June in Los Angeles
	h := newHarness(t, crmemu.Options{Seed: 25, Orders: 0, OrderSize: "small", Timezone: "Pacific/Kiritimati",
		Now: func() time.Time { return now }}, importer.Config{PageSize: 20, WindowTarget: 40}, store.Task{})
	h.mustRun()
	for range 5 {
		h.emu.CreateOrder(crmemu.OrderInput{})
	}
	if r := h.mustRun(); r.Counts.Created != 5 {
		t.Fatalf("the feed brought %+v, want 5 created", r.Counts)
	}
	h.verify("after the orders came through the feed")
	if err := h.emu.SetTimezone("America/Los_Angeles"); err != nil {
		t.Fatal(err)
	}
	r := h.mustRun() // the zone is in the fingerprint: a re-sync from 2 June to 1 June
	if r.Counts.Deleted != 0 || r.Counts.Fetched != 5 {
		t.Errorf("the re-sync read %d orders and flagged %d deleted; want 5 read, none deleted", r.Counts.Fetched, r.Counts.Deleted)
	}
	h.verify("after the re-sync in the new zone")
}
