package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// feedReader follows a counter's feed as a consumer does: it passes each cursor on and keeps
// the latest state it read of every order.
type feedReader struct {
	t       *testing.T
	account int64
	counter int64
	cursor  store.FeedCursor
	seen    map[string]store.OrderRow // order_id → the latest state read
	entries int
}

func newFeedReader(t *testing.T, account, counter int64) *feedReader {
	return &feedReader{t: t, account: account, counter: counter, seen: map[string]store.OrderRow{}}
}

// readToEnd reads pages of up to limit changes until one comes back short.
func (r *feedReader) readToEnd(st *store.Store, limit int) {
	r.t.Helper()
	for {
		n := r.readPage(st, limit)
		if n < 0 {
			r.t.FailNow()
		}
		if n < limit {
			return
		}
	}
}

// readPage reads one page; every change must come after the cursor, in feed order. It fails
// the test without stopping it (readers run on goroutines of their own), reporting -1.
func (r *feedReader) readPage(st *store.Store, limit int) int {
	r.t.Helper()
	page, err := st.Feed(context.Background(), r.account, r.counter, r.cursor, limit)
	if err != nil {
		r.t.Errorf("read the feed after %s: %v", r.cursor, err)
		return -1
	}
	for _, o := range page {
		c := o.Cursor()
		if c.Seq < r.cursor.Seq || c.Seq == r.cursor.Seq && c.ID <= r.cursor.ID {
			r.t.Errorf("change %s of order %s came after the cursor %s: out of order or read twice", c, o.OrderID, r.cursor)
			return -1
		}
		r.cursor = c
		r.seen[o.OrderID] = o
		r.entries++
	}
	return len(page)
}

// TestFeedFollowsEveryChange plays random mutations — new orders, changes, re-imports of
// unchanged orders, deletions, renamed order ids, a re-sync's sweep, the store closed and
// opened again — against a reader that reads a page now and then. At the end the reader has
// every order in its current state, read no change twice, and re-imports of unchanged orders
// added nothing to the feed.
func TestFeedFollowsEveryChange(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "feed@example.com")
		other, err := st.CreateCounter(ctx, u.AccountID, "Other shop", "Europe/Moscow")
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 11))
		r := newFeedReader(t, u.AccountID, c.ID)
		version := map[int64]int{} // crm id → its current version (0: not imported)
		ids := map[int64]string{}  // crm id → its current order id
		live := map[int64]bool{}
		orderRow := func(crm int64) store.OrderRow {
			return row(crm, ids[crm], "2026-01-01 10:00:00", strconv.Itoa(100+version[crm]))
		}
		for step := range 300 {
			b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
			switch k := rng.IntN(10); {
			case k < 4: // new orders and changes
				for range 1 + rng.IntN(30) {
					crm := int64(1 + rng.IntN(400))
					if ids[crm] == "" {
						ids[crm] = strconv.FormatInt(crm, 10)
					}
					version[crm]++
					live[crm] = true
					b.Upserts = append(b.Upserts, orderRow(crm))
				}
			case k < 6: // the same orders again: nothing changes, nothing enters the feed
				for crm := range live {
					if live[crm] && len(b.Upserts) < 50 {
						b.Upserts = append(b.Upserts, orderRow(crm))
					}
				}
				r.readToEnd(st, 1000)
				before := r.entries
				if _, err := st.ApplyBatch(ctx, b); err != nil {
					t.Fatal(err)
				}
				r.readToEnd(st, 1000)
				if r.entries != before {
					t.Fatalf("step %d: re-importing %d unchanged orders made %d feed entries", step, len(b.Upserts), r.entries-before)
				}
				continue
			case k < 8: // deletions
				for range 1 + rng.IntN(5) {
					crm := int64(1 + rng.IntN(400))
					b.Deletes = append(b.Deletes, crm)
					live[crm] = false
				}
			case k < 9: // an order id that changes under a new mapping: the old row is deleted
				for crm := range live {
					if live[crm] {
						ids[crm] = "R-" + ids[crm]
						b.Upserts = append(b.Upserts, orderRow(crm))
						break
					}
				}
			default: // a re-sync that sees only some of the live orders
				mark, err := st.NextSyncMark(ctx, task.ID)
				if err != nil {
					t.Fatal(err)
				}
				b.Mark = mark
				for crm := range live {
					if live[crm] && rng.IntN(4) > 0 {
						b.Upserts = append(b.Upserts, orderRow(crm))
					}
				}
				if _, err := st.ApplyBatch(ctx, b); err != nil {
					t.Fatal(err)
				}
				for crm := range live {
					if live[crm] && !containsCRM(b.Upserts, crm) {
						live[crm] = false
					}
				}
				if _, err := st.SweepUnmarked(ctx, u.AccountID, task.ID, mark, store.SyncState{TaskID: task.ID, Phase: "history"}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := st.ApplyBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
			// Another counter's orders never show in this feed.
			if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: other.ID, TaskID: task.ID + 1000,
				Upserts: []store.OrderRow{row(int64(step), "other-"+strconv.Itoa(step), "2026-01-01 10:00:00", "1")}}); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(3) == 0 {
				r.readPage(st, 1+rng.IntN(40))
			}
			if step == 150 && st.Engine() == store.SQLite {
				// The reader keeps its cursor across a restart of the service.
				path := st.Path()
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				if st, err = store.Open(ctx, store.Location{Engine: store.SQLite, Path: path}); err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			}
		}
		r.readToEnd(st, 77)
		all, _, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{IncludeDeleted: true, Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(r.seen) {
			t.Errorf("the counter has %d orders, the reader read %d", len(all), len(r.seen))
		}
		for _, o := range all {
			got, ok := r.seen[o.OrderID]
			if !ok || got.Revenue != o.Revenue || got.Deleted != o.Deleted || got.FeedSeq != o.FeedSeq {
				t.Errorf("order %s: read %+v, stored %+v", o.OrderID, got, o)
			}
		}
		// Nothing more to read; the end of the feed is where the reader stands or before.
		if n := r.readPage(st, 10); n != 0 {
			t.Errorf("%d changes after the end", n)
		}
		end, err := st.FeedEnd(ctx, u.AccountID, c.ID)
		if err != nil || end.Seq <= r.cursor.Seq {
			t.Errorf("feed end %s, reader at %s: %v", end, r.cursor, err)
		}
	})
}

// A re-evaluation of what counts writes orders without an import: the orders whose status
// group or counted flag changes enter the feed with their new values, the others do not, and a
// re-evaluation that changes nothing adds nothing.
func TestFeedFollowsRecount(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		st.SetRecountBatch(7)
		u, c, task := seedAccount(t, st, "recount@example.com")
		statuses := []string{"new", "complete", "no-call"}
		b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
		for i := range 30 {
			o := row(int64(i+1), strconv.Itoa(i+1), "2026-01-01 10:00:00", "100")
			o.Status = statuses[i%len(statuses)]
			b.Upserts = append(b.Upserts, o)
		}
		if _, err := st.ApplyBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recount(ctx, u.AccountID, task.ID, &store.Reference{}, classes(false, testGroups, "new", "complete")); err != nil {
			t.Fatal(err)
		}
		r := newFeedReader(t, u.AccountID, c.ID)
		r.readToEnd(st, 1000)
		before := r.entries
		// "complete" no longer counts: its 10 orders change, the others stay as they are.
		res, err := st.Recount(ctx, u.AccountID, task.ID, nil, classes(false, testGroups, "new"))
		if err != nil || res.Changed != 10 {
			t.Fatalf("recount: %+v %v", res, err)
		}
		r.readToEnd(st, 3)
		if got := r.entries - before; got != 10 {
			t.Errorf("the recount added %d feed entries, want the 10 orders it changed", got)
		}
		for id, o := range r.seen {
			if want := o.Status == "new"; o.Counted != want || o.StatusGroup != testGroups[o.Status] {
				t.Errorf("order %s (%s) read as group %q counted %v", id, o.Status, o.StatusGroup, o.Counted)
			}
		}
		before = r.entries
		if _, err := st.Recount(ctx, u.AccountID, task.ID, nil, classes(false, testGroups, "new")); err != nil {
			t.Fatal(err)
		}
		if r.readToEnd(st, 10); r.entries != before {
			t.Errorf("a recount that changes nothing added %d entries", r.entries-before)
		}
	})
}

func containsCRM(rows []store.OrderRow, crm int64) bool {
	for _, o := range rows {
		if o.CRMID == crm {
			return true
		}
	}
	return false
}

func TestFeedCursorText(t *testing.T) {
	for _, ok := range []string{"0-0", "12-345"} {
		c, err := store.ParseFeedCursor(ok)
		if err != nil || c.String() != ok {
			t.Errorf("%q: %+v %v", ok, c, err)
		}
	}
	for _, bad := range []string{"", "12", "-1-2", "1-", "01-2", "1-2-3", "a-b", "99999999999999999999-1", " 1-2"} {
		if _, err := store.ParseFeedCursor(bad); err == nil {
			t.Errorf("%q was taken as a cursor", bad)
		}
	}
}

// TestFeedConcurrentWriters is the feed's concurrency proof on PostgreSQL. Several writers —
// each with a store of its own, as separate processes (serve and workers) have — commit
// batches of one counter at once: new orders, changes of orders other writers made, deletions.
// A reader follows the feed all the while. No change may become visible behind the reader's
// cursor: at the end the reader has read every order ever written, each in its final state.
// (A feed numbered by a sequence fails this within a few hundred batches: positions taken in
// one order, committed in another.)
func TestFeedConcurrentWriters(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	open := func() *store.Store {
		s, err := store.Open(context.Background(), store.Location{Engine: store.Postgres, URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	st := open()
	ctx := context.Background()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, c, task := seedAccount(t, st, "race@example.com")
	const writers, batches = 6, 60
	stores := make([]*store.Store, writers)
	for i := range stores {
		stores[i] = open()
	}
	var done atomic.Bool
	r := newFeedReader(t, u.AccountID, c.ID)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for !done.Load() {
			r.readPage(st, 1+int(r.entries%50))
		}
	}()
	var wg sync.WaitGroup
	final := map[string]store.OrderRow{} // order_id → the last state committed
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws := stores[w]
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for b := range batches {
				batch := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
				for i := range 1 + rng.IntN(40) {
					// Mostly orders of the writer's own, plus orders shared by all writers, so
					// that rows written by one are changed by another.
					id := fmt.Sprintf("w%d-%d-%d", w, b, i)
					crm := int64(w*1_000_000 + b*100 + i)
					if rng.IntN(5) == 0 {
						id, crm = fmt.Sprintf("shared-%d", rng.IntN(20)), int64(9_000_000+rng.IntN(20))
					}
					o := row(crm, id, "2026-01-01 10:00:00", fmt.Sprintf("%d.%d", w, b))
					batch.Upserts = append(batch.Upserts, o)
				}
				if _, err := ws.ApplyBatch(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Meanwhile what counts keeps changing: re-evaluations write the counter's orders too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rs := open()
		rs.SetRecountBatch(97)
		for i := range 30 {
			counted := []string{"new"}
			if i%2 == 0 {
				counted = nil
			}
			if _, err := rs.Recount(ctx, u.AccountID, task.ID, &store.Reference{}, classes(true, testGroups, counted...)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	done.Store(true)
	<-readerDone
	r.readToEnd(st, 500)
	all, _, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{IncludeDeleted: true, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		final[o.OrderID] = o
	}
	if len(final) != len(r.seen) {
		t.Errorf("%d orders were written, the reader read %d", len(final), len(r.seen))
	}
	missing := 0
	for id, o := range final {
		got, ok := r.seen[id]
		if !ok || got.FeedSeq != o.FeedSeq || got.Revenue != o.Revenue || got.Counted != o.Counted || got.StatusGroup != o.StatusGroup {
			missing++
			if missing < 10 {
				t.Errorf("order %s: the reader has %+v, the store %+v", id, got, o)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d orders missed or stale", missing, len(final))
	}
	t.Logf("%d writers × %d batches: %d orders, %d feed entries read", writers, batches, len(final), r.entries)
}
