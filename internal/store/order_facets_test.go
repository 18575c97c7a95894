package store_test

import (
	"context"
	"slices"
	"testing"

	"orderimport/internal/store"
)

func TestOrderFacets(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "f@example.com")
		other, oc, otask := seedAccount(t, st, "g@example.com")
		rows := []store.OrderRow{row(1, "1", "2026-01-01 10:00:00", "1"), row(2, "2", "2026-01-02 10:00:00", "2"), row(3, "3", "2026-01-03 10:00:00", "3")}
		rows[1].Status, rows[1].Site = "complete", "outlet"
		rows[2].Status, rows[2].Site = "", ""
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: rows}); err != nil {
			t.Fatal(err)
		}
		foreign := row(9, "9", "2026-01-01 10:00:00", "1")
		foreign.Status, foreign.Site = "secret-status", "secret-site"
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: other.AccountID, CounterID: oc.ID, TaskID: otask.ID, Upserts: []store.OrderRow{foreign}}); err != nil {
			t.Fatal(err)
		}
		statuses, sites, err := st.OrderFacets(ctx, u.AccountID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(statuses, []string{"complete", "new"}) || !slices.Equal(sites, []string{"outlet", "shop"}) {
			t.Fatalf("statuses %v sites %v: want sorted, non-empty, this counter's only", statuses, sites)
		}
		if s, _, err := st.OrderFacets(ctx, u.AccountID, oc.ID); err != nil || len(s) != 0 {
			t.Fatalf("another account's counter: %v %v", s, err)
		}
	})
}
