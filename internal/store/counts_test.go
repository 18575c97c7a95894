package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"orderimport/internal/store"
)

// classes counts every status of groups, the rest not; unknown statuses count when unknown.
func classes(unknown bool, groups map[string]string, counted ...string) store.Classes {
	c := store.Classes{Statuses: map[string]store.StatusClass{}, Unknown: unknown}
	for status, group := range groups {
		c.Statuses[status] = store.StatusClass{Group: group}
	}
	for _, s := range counted {
		sc := c.Statuses[s]
		sc.Counted = true
		c.Statuses[s] = sc
	}
	return c
}

var testGroups = map[string]string{"new": "new", "complete": "complete", "no-call": "cancel", "cancel-other": "cancel"}

// stateOf reads every order of the task as (status group, counted) by RetailCRM id.
func stateOf(t *testing.T, st *store.Store, taskID int64) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	if err := st.TaskOrders(context.Background(), taskID, true, func(o *store.OrderRow) error {
		out[o.CRMID] = fmt.Sprintf("%s/%v", o.StatusGroup, o.Counted)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecount(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		st.SetRecountBatch(7) // several batches, and batches that end inside a run of one crm id
		u, c, task := seedAccount(t, st, "a@example.com")
		statuses := []string{"new", "complete", "no-call", "cancel-other", "mystery"}
		// Before the task has a reference every order counts, as before there were classes.
		b := store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID}
		for i := range 40 {
			r := row(int64(i+1), fmt.Sprint(i+1), "2026-01-01 10:00:00", "100")
			r.Status = statuses[i%len(statuses)]
			b.Upserts = append(b.Upserts, r)
		}
		if _, err := st.ApplyBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		for id, s := range stateOf(t, st, task.ID) {
			if s != "/true" {
				t.Fatalf("order %d before any reference: %s", id, s)
			}
		}
		// An order renamed under the mapping keeps its old row (deleted) under the same crm id:
		// both rows are re-evaluated.
		renamed := row(3, "renamed-3", "2026-01-01 10:00:00", "100")
		renamed.Status = "no-call"
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{renamed}}); err != nil {
			t.Fatal(err)
		}

		ref := store.Reference{DefaultCurrency: "RUB"}
		def := classes(true, testGroups, "new", "complete")
		res, err := st.Recount(ctx, u.AccountID, task.ID, &ref, def)
		if err != nil || !res.Recounted || res.Changed != 41-8 || res.Batches < 6 { // the "mystery" orders stay as they were: no group, counted
			t.Fatalf("first recount: %+v %v", res, err)
		}
		check := func(when string, want func(status string) string) {
			t.Helper()
			n := 0
			if err := st.TaskOrders(ctx, task.ID, true, func(o *store.OrderRow) error {
				n++
				if got := fmt.Sprintf("%s/%v", o.StatusGroup, o.Counted); got != want(o.Status) {
					t.Errorf("%s: order %s (%s) is %s, want %s", when, o.OrderID, o.Status, got, want(o.Status))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 41 {
				t.Errorf("%s: %d orders", when, n)
			}
		}
		check("default counting", func(s string) string {
			switch s {
			case "new", "complete":
				return testGroups[s] + "/true"
			case "mystery":
				return "/true"
			}
			return "cancel/false"
		})

		// Nothing changed: nothing is re-evaluated, nothing written.
		if res, err := st.Recount(ctx, u.AccountID, task.ID, &ref, def); err != nil || res.Recounted || res.Changed != 0 {
			t.Fatalf("the same classes again: %+v %v", res, err)
		}

		// Only completed orders count now; "complete" moved to the group "done" in RetailCRM.
		groups := map[string]string{"new": "new", "complete": "done", "no-call": "cancel", "cancel-other": "cancel"}
		only := classes(false, groups, "complete")
		res, err = st.Recount(ctx, u.AccountID, task.ID, nil, only)
		if err != nil || !res.Recounted || res.Changed != 8+8+8 { // new and mystery stop counting, complete changes group
			t.Fatalf("second recount: %+v %v", res, err)
		}
		check("only completed", func(s string) string {
			switch s {
			case "complete":
				return "done/true"
			case "new":
				return "new/false"
			case "mystery":
				return "/false"
			}
			return "cancel/false"
		})

		// A batch written after the change takes the new classes at once.
		fresh := row(100, "100", "2026-01-03 10:00:00", "5")
		fresh.Status = "new"
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: []store.OrderRow{fresh}}); err != nil {
			t.Fatal(err)
		}
		if got := stateOf(t, st, task.ID)[100]; got != "new/false" {
			t.Errorf("an order written under the new classes: %s", got)
		}
		// The kept reference stays as it was when none is given.
		tr, err := st.TaskReference(ctx, u.AccountID, task.ID)
		if err != nil || tr.Reference.DefaultCurrency != "RUB" || tr.RecountPending {
			t.Errorf("kept reference: %+v %v", tr, err)
		}
		counted := true
		if os, _, err := st.Orders(ctx, u.AccountID, c.ID, store.OrderFilter{Counted: &counted, Limit: 100}); err != nil || len(os) != 8 {
			t.Errorf("counted=true: %d orders, %v", len(os), err)
		}
		// Another account cannot read the reference.
		other, _, _ := seedAccount(t, st, "b@example.com")
		if _, err := st.TaskReference(ctx, other.AccountID, task.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another account's reference: %v", err)
		}
	})
}

// Imports committing while the classes change never leave an order under the old ones: each
// import batch holds the classes it writes under until it commits.
func TestRecountWhileImporting(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		st.SetRecountBatch(50)
		u, c, task := seedAccount(t, st, "a@example.com")
		if _, err := st.Recount(ctx, u.AccountID, task.ID, &store.Reference{}, classes(true, testGroups, "new", "complete")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 10 {
					var rows []store.OrderRow
					for i := range 20 {
						id := int64(w*1000 + k*20 + i + 1)
						r := row(id, fmt.Sprint(id), "2026-01-01 10:00:00", "1")
						r.Status = "complete"
						rows = append(rows, r)
					}
					if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: rows}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for i := range 6 {
			cls := classes(true, testGroups, "new", "complete")
			if i%2 == 0 {
				cls = classes(false, testGroups, "new")
			}
			if _, err := st.Recount(ctx, u.AccountID, task.ID, nil, cls); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// The last classes count "complete" (i = 5): every order must.
		for id, s := range stateOf(t, st, task.ID) {
			if s != "complete/true" {
				t.Errorf("order %d: %s", id, s)
			}
		}
	})
}
