package store_test

import (
	"context"
	"testing"

	"orderimport/internal/store"
)

// The search matches an order id, a phone or an email exactly (email case-insensitively),
// within the counter, and keeps the filters and the order of the list.
func TestOrdersSearch(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, task := seedAccount(t, st, "search@example.com")
		_, c2, task2 := seedAccount(t, st, "other-search@example.com")
		rows := []store.OrderRow{
			row(1, "A-1", "2026-03-01 10:00:00", "10"),
			row(2, "A-2", "2026-03-02 10:00:00", "20"),
			row(3, "A-3", "2026-03-03 10:00:00", "30"),
		}
		rows[0].ContactPhone, rows[1].ContactPhone, rows[2].ContactPhone = "79123456789", "79123456789", "79990000000"
		rows[2].ContactEmail = "buyer@example.com"
		hashed := row(4, "H-1", "2026-03-04 10:00:00", "40") // a task with pii=hash stores SHA-256 hex
		hashed.ContactEmail = "1f3c1d4b0c7c5a5d7a6a4a0f4d3b2c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
		rows = append(rows, hashed)
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: c.ID, TaskID: task.ID, Upserts: rows}); err != nil {
			t.Fatal(err)
		}
		other := row(9, "A-1", "2026-03-01 10:00:00", "10")
		other.ContactPhone = "79123456789"
		if _, err := st.ApplyBatch(ctx, store.Batch{AccountID: c2.AccountID, CounterID: c2.ID, TaskID: task2.ID, Upserts: []store.OrderRow{other}}); err != nil {
			t.Fatal(err)
		}
		ids := func(f store.OrderFilter) []string {
			t.Helper()
			got, _, err := st.Orders(ctx, u.AccountID, c.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, o := range got {
				out = append(out, o.OrderID)
			}
			return out
		}
		for _, tc := range []struct {
			f    store.OrderFilter
			want string
		}{
			{store.OrderFilter{Search: "A-1"}, "[A-1]"},
			{store.OrderFilter{Search: " 79123456789 "}, "[A-2 A-1]"},
			{store.OrderFilter{Search: "BUYER@example.com"}, "[A-3]"},
			{store.OrderFilter{Search: "79123456789", From: "2026-03-02"}, "[A-2]"},
			{store.OrderFilter{Search: "nobody"}, "[]"},
			{store.OrderFilter{Search: "hashed@example.com", SearchHashes: []string{hashed.ContactEmail}}, "[H-1]"},
		} {
			if got := ids(tc.f); fmtList(got) != tc.want {
				t.Errorf("%+v: got %v, want %s", tc.f, got, tc.want)
			}
		}
	})
}

func fmtList(v []string) string {
	s := "["
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s + "]"
}
