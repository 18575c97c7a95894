package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// openSmallPool opens a migrated PostgreSQL store in a schema of its own with a pool of
// maxConns connections and a short wait for one.
func openSmallPool(t *testing.T, maxConns int, wait time.Duration) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.Postgres, URL: pgtest.Schema(t), MaxConns: maxConns, ConnWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// holdAll takes every connection of the store's query pool (ORDERIMPORT_DB_MAX_CONNS less River's
// LISTEN session) and returns a function that gives them back.
func holdAll(t *testing.T, st *store.Store, maxConns int) func() {
	t.Helper()
	var held []*sql.Conn
	for range maxConns - 1 {
		c, err := st.DB().Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	return func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
}

// A process whose connections are all in use waits a bounded time for one and then fails
// with ErrBusy (the API's 503), instead of waiting as long as the caller does.
func TestPoolExhaustedIsBusy(t *testing.T) {
	const wait = 300 * time.Millisecond
	st := openSmallPool(t, store.MinMaxConns, wait)
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, "busy@example.com", "long enough password", "", false)
	if err != nil {
		t.Fatal(err)
	}
	release := holdAll(t, st, store.MinMaxConns)
	start := time.Now()
	_, err = st.Counters(ctx, u.AccountID)
	took := time.Since(start)
	if !errors.Is(err, store.ErrBusy) || !store.IsBusy(err) {
		t.Fatalf("with every connection in use: %v; want ErrBusy", err)
	}
	if took < wait || took > wait+5*time.Second {
		t.Errorf("gave up after %s; the wait is %s", took, wait)
	}
	if !strings.Contains(err.Error(), "all 2 connections") {
		t.Errorf("the error does not say why: %v", err)
	}
	release()
	if _, err := st.Counters(ctx, u.AccountID); err != nil {
		t.Fatalf("with connections free again: %v", err)
	}
}

// An import run's operations wait for the database instead of failing: here for a
// connection of an exhausted pool, given back while the operation waits.
func TestPatienceWaitsForTheDatabase(t *testing.T) {
	st := openSmallPool(t, store.MinMaxConns, 200*time.Millisecond)
	ctx := context.Background()
	_, _, task := seedAccount(t, st, "patient@example.com")
	release := holdAll(t, st, store.MinMaxConns)
	var waited, back atomic.Int32
	pctx := store.WithPatience(ctx, store.Patience{
		Max: time.Minute,
		OnWait: func(err error) {
			if !store.IsBusy(err) {
				t.Errorf("waits for %v", err)
			}
			waited.Add(1)
			release()
		},
		OnBack: func(time.Duration) { back.Add(1) },
	})
	got, err := st.TaskForWorker(pctx, task.ID)
	if err != nil || got.ID != task.ID {
		t.Fatalf("patient read: %+v %v", got, err)
	}
	if waited.Load() != 1 || back.Load() != 1 {
		t.Errorf("told of the wait %d times and of the return %d times; want once each", waited.Load(), back.Load())
	}

	// Without patience the same operation fails at once with ErrBusy.
	release = holdAll(t, st, store.MinMaxConns)
	defer release()
	if _, err := st.TaskForWorker(ctx, task.ID); !errors.Is(err, store.ErrBusy) {
		t.Fatalf("impatient read with every connection in use: %v", err)
	}
	// And patience ends with Max.
	short := store.WithPatience(ctx, store.Patience{Max: 300 * time.Millisecond})
	if _, err := st.TaskForWorker(short, task.ID); !errors.Is(err, store.ErrBusy) {
		t.Fatalf("patience past its Max: %v", err)
	}
}

// A full disk fails the page's transaction whole: no order, no checkpoint, no progress of it
// is stored, reads go on, and the same page applies once there is room. SQLite's
// max_page_count makes the database file full the way a full file system does (SQLITE_FULL).
func TestDiskFullLeavesNothingHalfWritten(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "full.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, c, task := seedAccount(t, st, "full@example.com")
	run, err := st.CreateRun(ctx, u.AccountID, task.ID, store.RunManual)
	if err != nil {
		t.Fatal(err)
	}
	first := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: benchRows(0), RunID: run.ID,
		State:    &store.SyncState{TaskID: task.ID, Phase: "backfill", BackfillFrom: "2026-01-01", BackfillTo: "2026-05-14", BackfillNext: "2026-02-01"},
		Progress: &store.RunProgress{Phase: "backfill", Counts: store.Counts{Fetched: 100, Pages: 1}}}
	if _, err := st.ApplyBatch(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The writer is one connection: the limit holds for every write of the store.
	var pages int64
	if err := st.DB().QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `PRAGMA max_page_count = `+strconv.FormatInt(pages, 10)); err != nil {
		t.Fatal(err)
	}
	rows := benchRows(1)
	for i := range rows {
		rows[i].Comment = strings.Repeat("комментарий ", 200)
	}
	second := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: rows, RunID: run.ID,
		State:    &store.SyncState{TaskID: task.ID, Phase: "backfill", BackfillFrom: "2026-01-01", BackfillTo: "2026-05-14", BackfillNext: "2026-03-01"},
		Progress: &store.RunProgress{Phase: "backfill", Counts: store.Counts{Fetched: 200, Pages: 2}}}
	_, err = st.ApplyBatch(ctx, second)
	if !store.IsDiskFull(err) || store.IsBusy(err) {
		t.Fatalf("a page that does not fit: %v; want a disk-full error", err)
	}
	orders, _, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{Limit: 1000})
	if err != nil || len(orders) != 100 {
		t.Fatalf("reads on a full disk: %d orders, %v; want the first page's 100", len(orders), err)
	}
	ss, err := st.SyncState(ctx, task.ID)
	if err != nil || ss.BackfillNext != "2026-02-01" {
		t.Fatalf("checkpoint after the failed page: %+v %v; want the first page's", ss, err)
	}
	r, err := st.RunForWorker(ctx, run.ID)
	if err != nil || r.Counts.Pages != 1 || r.Counts.Created != 100 {
		t.Fatalf("run after the failed page: %+v %v", r.Counts, err)
	}

	if _, err := st.DB().ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	res, err := st.ApplyBatch(ctx, second)
	if err != nil || res.Created != 100 {
		t.Fatalf("the same page with room again: %+v %v", res, err)
	}
}
