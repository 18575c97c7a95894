package store_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/store"
)

func TestTimelineRecordsChangesOnly(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "timeline@example.com")
		apply := func(b store.Batch) store.BatchResult {
			t.Helper()
			b.AccountID, b.CounterID, b.TaskID = u.AccountID, c.ID, task.ID
			res, err := st.ApplyBatch(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		timeline := func(orderID string) []store.OrderEvent {
			t.Helper()
			ev, err := st.Timeline(ctx, u.AccountID, c.ID, orderID)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		run, err := st.CreateRun(ctx, u.AccountID, task.ID, store.RunScheduled)
		if err != nil {
			t.Fatal(err)
		}
		// The first import records nothing; nor does the same order again.
		first := row(1, "1", "2026-01-01 10:00:00", "100.10")
		apply(store.Batch{Upserts: []store.OrderRow{first, row(2, "2", "2026-01-02 10:00:00", "200")}})
		apply(store.Batch{Upserts: []store.OrderRow{first}})
		if ev := timeline("1"); len(ev) != 0 {
			t.Fatalf("a first import and an unchanged one recorded %+v", ev)
		}
		// A change of revenue and status: one event, those fields only, with its run and source.
		changed := row(1, "1", "2026-01-01 10:00:00", "150.00")
		changed.Status = "complete"
		apply(store.Batch{Upserts: []store.OrderRow{changed}, RunID: run.ID, State: &store.SyncState{TaskID: task.ID, Phase: "history"}})
		ev := timeline("1")
		want := map[string]store.Change{
			"revenue":      {Old: "100.10", New: "150.00"},
			"status":       {Old: "new", New: "complete"},
			"status_group": {Old: "", New: ""},
		}
		delete(want, "status_group") // no reference kept: both statuses are in no group
		if len(ev) != 1 || ev[0].RunID != run.ID || ev[0].Source != store.SourceHistory || !reflect.DeepEqual(ev[0].Changes, want) {
			t.Fatalf("after a change: %+v", ev)
		}
		// A hash that differs while every exported field is the same records nothing.
		same := changed
		same.Hash += "-raw-changed"
		if res := apply(store.Batch{Upserts: []store.OrderRow{same}}); res.Updated != 1 {
			t.Fatalf("a new hash was not written: %+v", res)
		}
		if ev := timeline("1"); len(ev) != 1 {
			t.Fatalf("a change of no exported field was recorded: %+v", ev)
		}
		// Deleted, then restored with a new tag: two events, the cause given.
		apply(store.Batch{Deletes: []int64{1}, Cause: store.SourceTrigger})
		back := same
		back.Tags = []string{"a", "b", "c"}
		back.Hash += "-back"
		apply(store.Batch{Upserts: []store.OrderRow{back}, Mark: 9})
		ev = timeline("1")
		if len(ev) != 3 {
			t.Fatalf("after deletion and restoration: %+v", ev)
		}
		if ev[1].Source != store.SourceTrigger || !reflect.DeepEqual(ev[1].Changes, map[string]store.Change{"deleted": {Old: false, New: true}}) {
			t.Errorf("the deletion: %+v", ev[1])
		}
		if ev[2].Source != store.SourceResync || !reflect.DeepEqual(ev[2].Changes, map[string]store.Change{
			"deleted": {Old: true, New: false},
			"tags":    {Old: []any{"a", "b"}, New: []any{"a", "b", "c"}},
		}) {
			t.Errorf("the restoration: %+v", ev[2])
		}
		// A re-sync's sweep flags what it did not see, and records it.
		if _, err := st.SweepUnmarked(ctx, u.AccountID, task.ID, 9, store.SyncState{TaskID: task.ID, Phase: "history"}); err != nil {
			t.Fatal(err)
		}
		if ev := timeline("2"); len(ev) != 1 || ev[0].Source != store.SourceResync || ev[0].Changes["deleted"].New != true {
			t.Errorf("the sweep's deletion: %+v", ev)
		}
		// Another account reads nothing.
		other, _, _ := seedAccount(t, st, "other-timeline@example.com")
		if ev, err := st.Timeline(ctx, other.AccountID, c.ID, "1"); err != nil || len(ev) != 0 {
			t.Errorf("another account read the timeline: %+v %v", ev, err)
		}
	})
}

func TestTimelineIsBounded(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "bounded@example.com")
		for i := range store.MaxOrderEvents + 15 {
			o := row(1, "1", "2026-01-01 10:00:00", fmt.Sprintf("%d.00", 100+i))
			if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{o}}); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := st.Timeline(ctx, u.AccountID, c.ID, "1")
		if err != nil || len(ev) != store.MaxOrderEvents {
			t.Fatalf("%d events, want %d: %v", len(ev), store.MaxOrderEvents, err)
		}
		// The newest are kept: the last change is to 314.00.
		if last := ev[len(ev)-1].Changes["revenue"]; last.New != fmt.Sprintf("%d.00", 100+store.MaxOrderEvents+14) {
			t.Errorf("the newest event: %+v", last)
		}
		// Old events go by age.
		n, err := st.DeleteOldEvents(ctx, time.Now().Add(time.Hour), 50)
		if err != nil || n != int64(store.MaxOrderEvents) {
			t.Fatalf("deleted %d old events, %v", n, err)
		}
		if ev, _ := st.Timeline(ctx, u.AccountID, c.ID, "1"); len(ev) != 0 {
			t.Errorf("%d events left", len(ev))
		}
		// The order's count of events followed: new changes are kept, none trimmed early.
		for i := range 3 {
			o := row(1, "1", "2026-01-01 10:00:00", fmt.Sprintf("%d.50", i))
			if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{o}}); err != nil {
				t.Fatal(err)
			}
		}
		if ev, _ := st.Timeline(ctx, u.AccountID, c.ID, "1"); len(ev) != 3 {
			t.Errorf("%d events after 3 new changes, want 3", len(ev))
		}
	})
}

func TestRawOrdersKeptAndRead(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "raw@example.com")
		b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
		for i := range 5 {
			o := row(int64(i+1), fmt.Sprint(i+1), "2026-01-01 10:00:00", "1")
			if i != 4 {
				o.Raw = []byte{0x28, 0xb5, 0x2f, 0xfd, byte(i), 0}
			}
			b.Upserts = append(b.Upserts, o)
		}
		if _, err := st.ApplyBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		// A change without a raw copy keeps the stored one; a new one replaces it.
		keep := row(1, "1", "2026-01-01 10:00:00", "2")
		replace := row(2, "2", "2026-01-01 10:00:00", "2")
		replace.Raw = []byte("new")
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{keep, replace}}); err != nil {
			t.Fatal(err)
		}
		// In batches of two by RetailCRM id, as a re-map reads them: the batch ends count every
		// row, the fifth (no copy) too.
		var got []store.RawOrder
		var ends []int64
		for after := int64(0); ; {
			end, err := st.RawBatchEnd(ctx, task.ID, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if end == 0 {
				break
			}
			ends = append(ends, end)
			page, err := st.RawOrdersIn(ctx, task.ID, after, end, false)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			after = end
		}
		if !reflect.DeepEqual(ends, []int64{2, 4, 5}) {
			t.Errorf("batch ends %v, want [2 4 5]", ends)
		}
		if len(got) != 4 {
			t.Fatalf("%d raw orders, want 4 (the fifth has none): %+v", len(got), got)
		}
		if string(got[0].Raw) != string([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}) || string(got[1].Raw) != "new" || got[3].CRMID != 4 {
			t.Errorf("raw orders: %+v", got)
		}
		// With their rows: the same copies, each with the tracker fields of the row it is kept with.
		whole, err := st.RawOrdersIn(ctx, task.ID, 0, 5, true)
		if err != nil || len(whole) != len(got) {
			t.Fatalf("raw orders with rows: %d, %v", len(whole), err)
		}
		for i, w := range whole {
			stored, err := st.Order(ctx, u.AccountID, c.ID, w.Row.OrderID)
			if err != nil {
				t.Fatal(err)
			}
			want := store.OrderRow{ID: stored.ID, TaskID: stored.TaskID, CRMID: stored.CRMID, Hash: stored.Hash, OrderID: stored.OrderID,
				OrderDate: stored.OrderDate, OrderLocal: stored.OrderLocal, SessionID: stored.SessionID, UserID: stored.UserID,
				ItemCount: stored.ItemCount, Profit: stored.Profit, Revenue: stored.Revenue, Comment: stored.Comment,
				ContactName: stored.ContactName, ContactPhone: stored.ContactPhone, ContactEmail: stored.ContactEmail, Tags: stored.Tags}
			if w.ID != got[i].ID || string(w.Raw) != string(got[i].Raw) || w.Digest != got[i].Digest || !reflect.DeepEqual(*w.Row, want) {
				t.Errorf("raw order %d with its row: %+v, stored %+v", i, w, stored)
			}
		}
	})
}

func TestMappingVersions(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, _, task := seedAccount(t, st, "versions@example.com")
		vs, err := st.MappingVersions(ctx, u.AccountID, task.ID)
		if err != nil || len(vs) != 1 || vs[0].Version != 1 || vs[0].CreatedByID != 0 || len(vs[0].Mapping) != 0 {
			t.Fatalf("a new task's versions: %+v %v", vs, err)
		}
		task.Mapping = map[string]string{"revenue": "order.totalSumm"}
		task.SavedBy = u.ID
		if task, err = st.UpdateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		task.Name = "renamed, same mapping"
		if task, err = st.UpdateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		vs, err = st.MappingVersions(ctx, u.AccountID, task.ID)
		if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[0].CreatedBy != u.Email || vs[0].Mapping["revenue"] != "order.totalSumm" {
			t.Fatalf("versions after a mapping change and a rename: %+v %v", vs, err)
		}
		v1, err := st.MappingVersionOf(ctx, u.AccountID, task.ID, 1)
		if err != nil || len(v1.Mapping) != 0 {
			t.Fatalf("version 1: %+v %v", v1, err)
		}
		other, _, _ := seedAccount(t, st, "other-versions@example.com")
		if _, err := st.MappingVersionOf(ctx, other.AccountID, task.ID, 1); err == nil {
			t.Error("another account read a mapping version")
		}
	})
}

func TestExpireOrdersDeletesWhatIsDue(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		days := 30
		u, c, task := seedRetention(t, st, "expire@example.com", days)
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		cutoff := now.AddDate(0, 0, -days)
		dates := []string{
			"2026-04-01 00:00:00", // due
			"2026-05-02 11:59:59", // due: one second before the cutoff
			"2026-05-02 12:00:00", // not due: at the cutoff
			"2026-05-20 08:00:00", // not due
		}
		b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
		for i, d := range dates {
			o := row(int64(i+1), fmt.Sprint(i+1), d, "10")
			o.ContactPhone, o.Raw = "79123456789", []byte("raw")
			b.Upserts = append(b.Upserts, o)
		}
		if _, err := st.ApplyBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		// Each due order has a timeline that must go with it.
		changed := row(1, "1", dates[0], "11")
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{changed}}); err != nil {
			t.Fatal(err)
		}
		tasks, err := st.RetainedTasks(ctx)
		if err != nil || len(tasks) != 1 || tasks[0].TaskID != task.ID || tasks[0].Days != days {
			t.Fatalf("retained tasks: %+v %v", tasks, err)
		}
		feedEnd, err := st.FeedEnd(ctx, u.AccountID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.ExpireOrders(ctx, tasks[0], cutoff, 1)
		if err != nil || n != 2 {
			t.Fatalf("expired %d, %v; want 2", n, err)
		}
		if n, err := st.ExpireOrders(ctx, tasks[0], cutoff, 1); err != nil || n != 0 {
			t.Fatalf("a second pass expired %d, %v", n, err)
		}
		// The feed tells readers both are gone, and nothing else.
		page, err := st.Feed(ctx, u.AccountID, c.ID, feedEnd, 10)
		if err != nil || len(page) != 2 {
			t.Fatalf("the feed after the expiry: %+v %v", page, err)
		}
		for _, o := range page {
			if !o.Deleted || o.ContactPhone != "" || o.Revenue != "" || (o.OrderID != "1" && o.OrderID != "2") {
				t.Errorf("an expired order in the feed: %+v", o)
			}
		}
		if ev, _ := st.Timeline(ctx, u.AccountID, c.ID, "1"); len(ev) != 0 {
			t.Errorf("an expired order kept its timeline: %+v", ev)
		}
		raws, err := st.RawOrdersIn(ctx, task.ID, 0, math.MaxInt64, false)
		if err != nil || len(raws) != 2 || raws[0].CRMID != 3 || raws[1].CRMID != 4 {
			t.Errorf("raw orders left: %+v %v", raws, err)
		}
		var kept []string
		err = st.TaskOrders(ctx, task.ID, false, func(o *store.OrderRow) error {
			kept = append(kept, o.OrderID)
			return nil
		})
		if err != nil || !reflect.DeepEqual(kept, []string{"3", "4"}) {
			t.Errorf("live orders: %v %v", kept, err)
		}
	})
}

// A task that keeps no clear contacts has none in its timeline or its runs' issues: those
// recorded before the switch are cleared, and the rewrite after it records no clear side.
func TestClearContactsForgotten(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "pii@example.com")
		apply := func(o store.OrderRow) {
			t.Helper()
			if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{o}}); err != nil {
				t.Fatal(err)
			}
		}
		o := row(1, "1", "2026-01-01 10:00:00", "1")
		o.ContactPhone, o.ContactName = "79123456789", "Анна"
		apply(o)
		o.ContactPhone, o.Hash = "79990000000", "2"
		apply(o)
		run, err := st.CreateRun(ctx, u.AccountID, task.ID, store.RunManual)
		if err != nil {
			t.Fatal(err)
		}
		issues := []store.Issue{{OrderID: "1", Field: "contact_phone", Value: "+7 912 BAD", Msg: locale.M("phone_invalid").WithDetail("+7 912 BAD")},
			{OrderID: "1", Field: "revenue", Value: "abc", Msg: locale.M("number_invalid")}}
		if err := st.UpdateRun(ctx, run.ID, store.RunProgress{NewIssues: issues, NewIssueCount: 2}); err != nil {
			t.Fatal(err)
		}
		task.PII = store.PIIHash
		if _, err := st.UpdateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if err := st.ForgetClearContacts(ctx, u.AccountID, task.ID); err != nil {
			t.Fatal(err)
		}
		hash := "5f0c6f2a8d3f6b7a0b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708"
		o.ContactPhone, o.ContactName, o.Hash = hash, "", "3"
		apply(o)
		ev, err := st.Timeline(ctx, u.AccountID, c.ID, "1")
		if err != nil || len(ev) != 2 {
			t.Fatalf("timeline: %+v %v", ev, err)
		}
		if ch := ev[0].Changes["contact_phone"]; ch.Old != nil || ch.New != nil {
			t.Errorf("a change recorded before the switch kept a clear phone: %+v", ch)
		}
		if ch := ev[1].Changes["contact_phone"]; ch.Old != nil || ch.New != hash {
			t.Errorf("the rewrite recorded %+v, want old withheld and the hash", ch)
		}
		if ch := ev[1].Changes["contact_name"]; ch.Old != nil || ch.New != "" {
			t.Errorf("the rewrite recorded the name %+v", ch)
		}
		got, err := st.Run(ctx, u.AccountID, run.ID)
		if err != nil || len(got.Issues) != 2 || got.Issues[0].Value != "" || got.Issues[0].Msg.Detail != "" || got.Issues[1].Value != "abc" {
			t.Errorf("issues: %+v %v", got.Issues, err)
		}
	})
}

// A re-map reads its batch's stored orders before it writes them: an order the daily expiry
// deleted in between stays deleted — the re-map's write of it is dropped, not a restore.
func TestRemapLeavesOrdersExpiredMeanwhileDeleted(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedRetention(t, st, "expire-remap@example.com", 30)
		old, recent := row(1, "1", "2026-04-01 00:00:00", "10"), row(2, "2", "2026-05-20 08:00:00", "20")
		old.ContactPhone, old.Raw, recent.Raw = "79123456789", []byte("raw"), []byte("raw")
		b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{old, recent}}
		if _, err := st.ApplyBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		// The re-map read both (their rows as RawOrdersIn returns them), then the expiry ran.
		read, err := st.RawOrdersIn(ctx, task.ID, 0, math.MaxInt64, true)
		if err != nil || len(read) != 2 {
			t.Fatalf("read: %+v %v", read, err)
		}
		tasks, err := st.RetainedTasks(ctx)
		if err != nil || len(tasks) != 1 {
			t.Fatalf("retained tasks: %+v %v", tasks, err)
		}
		if n, err := st.ExpireOrders(ctx, tasks[0], time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC), 10); err != nil || n != 1 {
			t.Fatalf("expired %d, %v; want 1", n, err)
		}
		feedEnd, err := st.FeedEnd(ctx, u.AccountID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		remapped := []store.OrderRow{row(1, "1", "2026-04-01 00:00:00", "11"), row(2, "2", "2026-05-20 08:00:00", "21")}
		remapped[0].ContactPhone = "79123456789"
		res, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: remapped, Cause: store.SourceRemap})
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 0 || res.Updated != 1 {
			t.Errorf("the re-map's batch: %+v, want the live order updated and nothing created", res)
		}
		page, err := st.Feed(ctx, u.AccountID, c.ID, feedEnd, 10)
		if err != nil || len(page) != 1 || page[0].OrderID != "2" || page[0].Revenue != "21" {
			t.Fatalf("the feed after the re-map: %+v %v", page, err)
		}
		var live []string
		err = st.TaskOrders(ctx, task.ID, true, func(o *store.OrderRow) error {
			live = append(live, fmt.Sprintf("%s deleted=%v phone=%q revenue=%q", o.OrderID, o.Deleted, o.ContactPhone, o.Revenue))
			return nil
		})
		want := []string{`1 deleted=true phone="" revenue=""`, `2 deleted=false phone="" revenue="21"`}
		if err != nil || !reflect.DeepEqual(live, want) {
			t.Errorf("orders after the re-map:\n%q\nwant\n%q (%v)", live, want, err)
		}
		if ev, _ := st.Timeline(ctx, u.AccountID, c.ID, "1"); len(ev) != 0 {
			t.Errorf("the expired order has a timeline again: %+v", ev)
		}
	})
}

// seedRetention seeds an account whose task deletes orders older than days.
func seedRetention(t *testing.T, st *store.Store, email string, days int) (store.User, store.Counter, store.Task) {
	t.Helper()
	u, c, task := seedAccount(t, st, email)
	task.OrdersRetentionDays = &days
	task, err := st.UpdateTask(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	return u, c, task
}
