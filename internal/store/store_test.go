package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"orderimport/internal/store"
)

func seedAccount(t *testing.T, st *store.Store, email string) (store.User, store.Counter, store.Task) {
	t.Helper()
	ctx := context.Background()
	u, _, err := st.AddUser(ctx, email, "long enough password", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	task, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "Заказы", Active: true, Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed", CRMKeyHint: "…abcd", RateLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return u, c, task
}

func TestMigrateIsIdempotent(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		v1, err := st.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v2, err := st.Migrate(context.Background())
		if err != nil || v1 != v2 || v1 < 1 {
			t.Fatalf("second migrate: version %d → %d, err %v", v1, v2, err)
		}
	})
}

func TestUsersAndTokens(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, acc, err := st.AddUser(ctx, " Owner@Example.com ", "long enough password", "Acme", false)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "owner@example.com" || acc.Name != "Acme" {
			t.Fatalf("user %+v account %+v", u, acc)
		}
		if _, _, err := st.AddUser(ctx, "owner@example.com", "another long password", "", false); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate email: %v", err)
		}
		if _, _, err := st.AddUser(ctx, "x@example.com", "short", "", false); err == nil {
			t.Fatal("a 5-character password was accepted")
		}
		u2, acc2, err := st.AddUser(ctx, "colleague@example.com", "long enough password", "Acme", true)
		if err != nil || acc2.ID != acc.ID || u2.AccountID != acc.ID {
			t.Fatalf("join account: %+v %v", acc2, err)
		}
		if _, _, err := st.AddUser(ctx, "nobody@example.com", "long enough password", "Missing", true); err == nil {
			t.Fatal("joining a missing account succeeded")
		}
		if _, err := st.Authenticate(ctx, "OWNER@example.com", "long enough password"); err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		if _, err := st.Authenticate(ctx, "owner@example.com", "wrong password!"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("wrong password: %v", err)
		}
		if _, err := st.Authenticate(ctx, "ghost@example.com", "whatever password"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}

		value, tok, err := st.CreateToken(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.UserByToken(ctx, value)
		if err != nil || got.ID != u.ID {
			t.Fatalf("token lookup: %+v %v", got, err)
		}
		list, err := st.Tokens(ctx, acc.ID)
		if err != nil || len(list) != 1 || list[0].Hint != "…"+value[len(value)-4:] {
			t.Fatalf("tokens: %+v %v", list, err)
		}
		other, _, _ := st.AddUser(ctx, "stranger@example.com", "long enough password", "", false)
		if err := st.RevokeToken(ctx, other.AccountID, tok.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another account revoked the token: %v", err)
		}
		if err := st.RevokeToken(ctx, acc.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UserByToken(ctx, value); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked token still works: %v", err)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, ca, ta := seedAccount(t, st, "a@example.com")
		b, _, _ := seedAccount(t, st, "b@example.com")
		if _, err := st.Counter(ctx, b.AccountID, ca.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("counter of another account: %v", err)
		}
		if _, err := st.Task(ctx, b.AccountID, ta.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("task of another account: %v", err)
		}
		if _, err := st.CreateTask(ctx, store.Task{AccountID: b.AccountID, CounterID: ca.ID, Name: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("task on another account's counter: %v", err)
		}
		if err := st.DeleteTask(ctx, b.AccountID, ta.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete another account's task: %v", err)
		}
		tasks, _ := st.Tasks(ctx, b.AccountID, 0)
		for _, x := range tasks {
			if x.AccountID != b.AccountID {
				t.Errorf("task list leaks task %d", x.ID)
			}
		}
		orders, _, err := st.Orders(ctx, b.AccountID, ca.ID, store.OrderFilter{})
		if err != nil || len(orders) != 0 {
			t.Errorf("orders of another account's counter: %d %v", len(orders), err)
		}
		_ = a
	})
}

func row(crmID int64, orderID, local, revenue string) store.OrderRow {
	r := store.OrderRow{CRMID: crmID, OrderID: orderID, OrderDate: local, OrderLocal: local, Revenue: revenue, Profit: "1.5",
		Tags: []string{"a", "b"}, Status: "new", Site: "shop"}
	r.Hash = fmt.Sprint(orderID, local, revenue)
	return r
}

func TestApplyBatchCountsAndIdempotence(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "a@example.com")
		b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
		b.Upserts = []store.OrderRow{row(1, "1", "2026-01-01 10:00:00", "100.10"), row(2, "2", "2026-01-02 10:00:00", "200")}
		res, err := st.ApplyBatch(ctx, b)
		if err != nil || res.Created != 2 || res.Updated != 0 {
			t.Fatalf("first batch: %+v %v", res, err)
		}
		res, err = st.ApplyBatch(ctx, b)
		if err != nil || res.Created+res.Updated+res.Deleted != 0 || res.Unchanged != 2 {
			t.Fatalf("same batch again must write nothing: %+v %v", res, err)
		}
		b.Upserts = []store.OrderRow{row(1, "1", "2026-01-01 10:00:00", "100.20")}
		b.Deletes = []int64{2}
		st2 := store.SyncState{TaskID: task.ID, Phase: "history", HistorySinceID: 42}
		b.State = &st2
		res, err = st.ApplyBatch(ctx, b)
		if err != nil || res.Updated != 1 || res.Deleted != 1 {
			t.Fatalf("update+delete: %+v %v", res, err)
		}
		got, err := st.SyncState(ctx, task.ID)
		if err != nil || got.HistorySinceID != 42 || got.Phase != "history" {
			t.Fatalf("state written with the batch: %+v %v", got, err)
		}
		// The mapped order id of RetailCRM order 1 changes: the old row goes, the new one comes.
		b = store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{row(1, "A-1", "2026-01-01 10:00:00", "100.20")}}
		res, err = st.ApplyBatch(ctx, b)
		if err != nil || res.Created != 1 || res.Deleted != 1 {
			t.Fatalf("renamed order: %+v %v", res, err)
		}
		live, _, _ := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{})
		if len(live) != 1 || live[0].OrderID != "A-1" || !slices.Equal(live[0].Tags, []string{"a", "b"}) {
			t.Fatalf("live orders: %+v", live)
		}
		all, _, _ := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{IncludeDeleted: true})
		if len(all) != 3 {
			t.Fatalf("with deleted: %d rows", len(all))
		}
		// A deleted order that comes back is live again.
		b = store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{row(2, "2", "2026-01-02 10:00:00", "200")}}
		res, err = st.ApplyBatch(ctx, b)
		if err != nil || res.Created != 1 {
			t.Fatalf("resurrected: %+v %v", res, err)
		}
	})
}

func TestOrdersPagingAndFilters(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "a@example.com")
		var rows []store.OrderRow
		for i := 1; i <= 25; i++ {
			rows = append(rows, row(int64(i), fmt.Sprint(i), fmt.Sprintf("2026-03-%02d 12:00:00", i), fmt.Sprintf("%d.01", i)))
		}
		rows[3].ContactPhone = "79123456789"
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: rows}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{Limit: 10, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page {
				seen = append(seen, o.OrderID)
			}
			if next == "" {
				break
			}
			cursor = next
			if pages > 5 {
				t.Fatal("paging does not end")
			}
		}
		if len(seen) != 25 || seen[0] != "25" || seen[24] != "1" {
			t.Fatalf("paged %v", seen)
		}
		in, _, _ := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{From: "2026-03-05", To: "2026-03-07"})
		if len(in) != 3 {
			t.Fatalf("from/to inclusive: %d", len(in))
		}
		found, _, _ := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{Search: "79123456789"})
		if len(found) != 1 || found[0].OrderID != "4" {
			t.Fatalf("search by phone: %+v", found)
		}
		if _, _, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{Cursor: "garbage!"}); !errors.Is(err, store.ErrBadCursor) {
			t.Fatalf("bad cursor: %v", err)
		}
		n := 0
		if err := st.EachOrder(ctx, u.AccountID, c.ID, store.OrderFilter{}, func(*store.OrderRow) error { n++; return nil }); err != nil || n != 25 {
			t.Fatalf("stream: %d %v", n, err)
		}
	})
}

func TestSweepUnmarked(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "a@example.com")
		base := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID,
			Upserts: []store.OrderRow{row(1, "1", "2026-01-01 00:00:00", "1"), row(2, "2", "2026-01-01 00:00:00", "2")}}
		if _, err := st.ApplyBatch(ctx, base); err != nil {
			t.Fatal(err)
		}
		// A re-sync sees only order 1 (unchanged: it is marked without being rewritten).
		marked := base
		marked.Upserts = base.Upserts[:1]
		marked.Mark = 99
		if _, err := st.ApplyBatch(ctx, marked); err != nil {
			t.Fatal(err)
		}
		if next, err := st.NextSyncMark(ctx, task.ID); err != nil || next != 100 {
			t.Fatalf("next sync mark after 99: %d %v", next, err)
		}
		n, err := st.SweepUnmarked(ctx, u.AccountID, task.ID, 99, store.SyncState{TaskID: task.ID, Phase: "history", Fingerprint: "fp"})
		if err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		live, _, _ := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{})
		if len(live) != 1 || live[0].OrderID != "1" {
			t.Fatalf("after sweep: %+v", live)
		}
		if got, err := st.SyncState(ctx, task.ID); err != nil || got.Fingerprint != "fp" || got.Phase != "history" {
			t.Fatalf("checkpoint saved by the sweep: %+v %v", got, err)
		}
	})
}

func TestLease(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		_, _, task := seedAccount(t, st, "a@example.com")
		until := timeNow().Add(60e9)
		ok, err := st.AcquireLease(ctx, task.ID, "w1", until)
		if err != nil || !ok {
			t.Fatalf("first lease: %v %v", ok, err)
		}
		if ok, _ := st.AcquireLease(ctx, task.ID, "w2", until); ok {
			t.Fatal("a second worker got a held lease")
		}
		if err := st.ReleaseLease(ctx, task.ID, "w1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.AcquireLease(ctx, task.ID, "w2", until); !ok {
			t.Fatal("a released lease could not be taken")
		}
		// At the start of the single SQLite process every lease is a dead process's.
		n, err := st.ReleaseAllLeases(ctx)
		if st.Engine() == store.SQLite && (err != nil || n != 1) {
			t.Fatalf("release all leases: %d %v", n, err)
		}
		if st.Engine() == store.SQLite {
			if ok, _ := st.AcquireLease(ctx, task.ID, "w3", until); !ok {
				t.Fatal("a lease freed at start could not be taken")
			}
		}
	})
}

func timeNow() time.Time { return time.Now() }
