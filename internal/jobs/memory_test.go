package jobs

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"orderimport/internal/store"
)

// The daily order-memory job deletes exactly what is due, on both engines: the orders of a task
// with a retention whose date is older (a task without one keeps its old orders), and timeline
// events older than EventRetention.
func TestForgetDueDeletesExactlyWhatIsDue(t *testing.T) {
	t.Parallel()
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var st *store.Store
			if engine == store.Postgres {
				st = openSchema(t)
			} else {
				var err error
				if st, err = store.Open(ctx, store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "t.db")}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if _, err := st.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
			j, err := New(st, nil, nil, Config{EventRetention: 10 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			j.now = func() time.Time { return now }
			u, _, err := st.AddUser(ctx, "memory@example.com", "long enough password", "", false)
			if err != nil {
				t.Fatal(err)
			}
			c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
			if err != nil {
				t.Fatal(err)
			}
			days := 7
			kept, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "kept", Type: "retailcrm", FrequencyHours: 1})
			if err != nil {
				t.Fatal(err)
			}
			expiring, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "expiring", Type: "retailcrm",
				FrequencyHours: 1, OrdersRetentionDays: &days})
			if err != nil {
				t.Fatal(err)
			}
			order := func(crm int64, id string, date time.Time, revenue string) store.OrderRow {
				d := date.Format(time.DateTime)
				return store.OrderRow{CRMID: crm, OrderID: id, OrderDate: d, OrderLocal: d, Revenue: revenue, Hash: id + revenue}
			}
			var due, notDue []string
			var expiringOrders, keptOrders []store.OrderRow
			for i := range 30 {
				date := now.Add(-time.Duration(i) * 8 * time.Hour) // 0 h to 232 h old
				id := fmt.Sprintf("E%d", i)
				expiringOrders = append(expiringOrders, order(int64(i+1), id, date, "1"))
				keptOrders = append(keptOrders, order(int64(i+1), fmt.Sprintf("K%d", i), date, "1"))
				if date.Before(now.AddDate(0, 0, -days)) {
					due = append(due, id)
				} else {
					notDue = append(notDue, id)
				}
			}
			for _, b := range []store.Batch{
				{AccountID: u.AccountID, CounterID: c.ID, TaskID: expiring.ID, Upserts: expiringOrders},
				{AccountID: u.AccountID, CounterID: c.ID, TaskID: kept.ID, Upserts: keptOrders},
			} {
				if _, err := st.ApplyBatch(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if len(due) == 0 || len(notDue) == 0 {
				t.Fatalf("the fixture has %d due and %d other orders", len(due), len(notDue))
			}
			// One change of a kept task's order, recorded 11 days ago: its event is past the
			// retention of events; one recorded now stays.
			for i, at := range []time.Time{now.AddDate(0, 0, -11), now} {
				st.SetClock(func() time.Time { return at })
				changed := order(1, "K0", now, fmt.Sprint(2+i))
				if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: kept.ID, Upserts: []store.OrderRow{changed}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := j.ForgetDue(ctx); err != nil {
				t.Fatal(err)
			}
			live := func(taskID int64) []string {
				var out []string
				err := st.TaskOrders(ctx, taskID, false, func(o *store.OrderRow) error {
					out = append(out, o.OrderID)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(out)
				return out
			}
			slices.Sort(notDue)
			if got := live(expiring.ID); !slices.Equal(got, notDue) {
				t.Errorf("live orders of the expiring task: %v, want %v", got, notDue)
			}
			if got := live(kept.ID); len(got) != 30 {
				t.Errorf("the task without a retention kept %d orders, want 30", len(got))
			}
			ev, err := st.Timeline(ctx, u.AccountID, c.ID, "K0")
			if err != nil || len(ev) != 1 || ev[0].Changes["revenue"].New != "3" {
				t.Errorf("events after the job: %+v %v", ev, err)
			}
		})
	}
}
