package store_test

import (
	"context"
	"fmt"
	"orderimport/internal/locale"
	"testing"
	"time"

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
				issues = append(issues, store.Issue{OrderID: fmt.Sprint(n), OrderNumber: fmt.Sprint(n) + "A", Field: "contact_email",
					Value: "x@", Msg: locale.M("email_invalid")})
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
			if is.OrderNumber != is.OrderID+"A" || is.Msg.Code != "email_invalid" || is.Value != "x@" {
				t.Fatalf("kept issue %d reads back as %+v", i, is)
			}
		}
	})
}

// PruneRuns deletes old finished runs but keeps each task's newest ones, and never a run that
// is still queued or running.
func TestPruneRuns(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, c, busy := seedAccount(t, st, "prune@example.com")
		quiet, err := st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: c.ID, Name: "rare", Type: "retailcrm",
			FrequencyHours: 24, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: "v1.sealed", RateLimit: 10})
		if err != nil {
			t.Fatal(err)
		}
		old := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
		recent := old.AddDate(0, 0, 100)
		var clock time.Time
		st.SetClock(func() time.Time { return clock })
		run := func(task store.Task, at time.Time, finish bool) int64 {
			t.Helper()
			clock = at
			r, err := st.CreateRun(ctx, u.AccountID, task.ID, store.RunScheduled)
			if err != nil {
				t.Fatal(err)
			}
			if finish {
				if _, err := st.FinishRun(ctx, r.ID, store.RunSucceeded, locale.Message{}); err != nil {
					t.Fatal(err)
				}
			}
			return r.ID
		}
		var busyRuns []int64
		for i := range 8 {
			busyRuns = append(busyRuns, run(busy, old.Add(time.Duration(i)*time.Hour), true))
		}
		busyRuns = append(busyRuns, run(busy, recent, true))
		queued := run(busy, recent, false) // still waiting for a worker
		busyRuns = append(busyRuns, queued)
		quietRuns := []int64{run(quiet, old, true), run(quiet, old.Add(time.Hour), true)}

		cutoff := old.AddDate(0, 0, 90)
		n, err := st.PruneRuns(ctx, cutoff, 4)
		if err != nil {
			t.Fatal(err)
		}
		// busy: the newest four (the queued one, the recent one, the two newest old ones) stay.
		if n != 6 {
			t.Fatalf("pruned %d runs, want 6", n)
		}
		ids := func(task store.Task) map[int64]bool {
			t.Helper()
			rs, err := st.Runs(ctx, u.AccountID, task.ID, 100)
			if err != nil {
				t.Fatal(err)
			}
			m := map[int64]bool{}
			for _, r := range rs {
				m[r.ID] = true
			}
			return m
		}
		left := ids(busy)
		for i, id := range busyRuns {
			if want := i >= len(busyRuns)-4; left[id] != want {
				t.Fatalf("busy task's run %d (#%d of %d): kept %v, want %v", id, i+1, len(busyRuns), left[id], want)
			}
		}
		if left := ids(quiet); len(left) != 2 || !left[quietRuns[0]] || !left[quietRuns[1]] {
			t.Fatalf("a task with fewer runs than kept lost some: %v", left)
		}
		if n, err := st.PruneRuns(ctx, cutoff, 4); err != nil || n != 0 {
			t.Fatalf("second prune: %d, %v; want nothing left to prune", n, err)
		}
		// Everything finished is old a year on, but the newest run of each task always stays.
		if _, err := st.PruneRuns(ctx, recent.AddDate(1, 0, 0), 0); err != nil {
			t.Fatal(err)
		}
		if left := ids(busy); len(left) != 1 || !left[queued] {
			t.Fatalf("keep 0 on the busy task left %v, want only the queued run %d", left, queued)
		}
		if left := ids(quiet); len(left) != 1 || !left[quietRuns[1]] {
			t.Fatalf("keep 0 on the quiet task left %v, want its newest run %d", left, quietRuns[1])
		}
	})
}
