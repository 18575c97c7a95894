package store_test

import (
	"context"
	"fmt"
	"testing"

	"orderimport/internal/store"
)

// A run keeps its first MaxRunIssues issues and counts all of them, however the pages bring them.
func TestRunKeepsFirstIssues(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, _, task := seedAccount(t, st, "issues@example.com")
		r, err := st.CreateRun(ctx, u.AccountID, task.ID, store.RunManual)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, pageIssues := range []int{3, 0, 150, 120, 40} {
			var issues []store.Issue
			for range pageIssues {
				n++
				issues = append(issues, store.Issue{OrderID: fmt.Sprint(n), Field: "contact_email", Message: "invalid"})
			}
			p := store.RunProgress{Phase: "backfill", NewIssues: issues, NewIssueCount: int64(len(issues))}
			if err := st.UpdateRun(ctx, r.ID, p); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Run(ctx, u.AccountID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.IssuesTotal != int64(n) || len(got.Issues) != store.MaxRunIssues {
			t.Fatalf("issues: total %d (want %d), kept %d (want %d)", got.IssuesTotal, n, len(got.Issues), store.MaxRunIssues)
		}
		for i, is := range got.Issues {
			if is.OrderID != fmt.Sprint(i+1) {
				t.Fatalf("kept issue %d is of order %s: the first ones must be kept", i, is.OrderID)
			}
		}
	})
}
