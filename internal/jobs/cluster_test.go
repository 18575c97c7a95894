package jobs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/jobs"
	"orderimport/internal/store"
)

// Two processes, four tasks of one RetailCRM account: the runs take turns on the account, so
// the account never sees two requests at once, never more than its limit in a second and no
// rate-limit answer, even where one process hands the account to the other.
func TestOneWorkerPerAccountAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	acct := newAccount(t, crmemu.Options{Seed: 11, Orders: 700, RateLimit: 10, OrderSize: "small"})
	tasks := c.seedTasks(acct, 4, false)
	a, b := c.node(3, jobs.Config{TickInterval: time.Hour}), c.node(3, jobs.Config{TickInterval: time.Hour})
	a.start(t)
	b.start(t)

	ctx := context.Background()
	var ids []int64
	for _, task := range tasks {
		r, err := a.jobs.Enqueue(ctx, task, store.RunManual)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	runs := c.waitRuns(ids, 5*time.Minute)
	want := len(acct.emu.Orders(acct.key))
	for i, r := range runs {
		if r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings {
			t.Errorf("run %d: %s %s", r.ID, r.Status, r.Error)
		}
		if got := c.storedOrders(tasks[i].ID); int64(got)+r.Counts.Invalid != int64(want) {
			t.Errorf("task %d: %d orders stored + %d invalid, the account has %d", tasks[i].ID, got, r.Counts.Invalid, want)
		}
	}
	st := acct.emu.Stats()
	t.Logf("requests %d, most in flight at once %d, most in one second %d, rate-limited %d",
		st.Requests, acct.maxInFlight(), st.MaxInWindow[acct.key], st.RateLimited)
	if n := acct.maxInFlight(); n > 1 {
		t.Errorf("%d requests were in flight to one account at once: two runs talked to it together", n)
	}
	if n := st.MaxInWindow[acct.key]; n > 10 {
		t.Errorf("the account saw %d requests within one second; its limit is 10", n)
	}
	if st.RateLimited != 0 {
		t.Errorf("the account answered %d requests with its rate limit", st.RateLimited)
	}
}

// A stopping process hands its running run back to the queue at once (snooze, not failure,
// not a stuck job) and frees the task and the account; another process resumes the same run
// from its checkpoint and ends it exact.
func TestShutdownHandsTheRunBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	acct := newAccount(t, crmemu.Options{Seed: 12, Orders: 1500, Latency: 60 * time.Millisecond, OrderSize: "small"})
	task := c.seedTasks(acct, 1, false)[0]
	a := c.node(2, jobs.Config{TickInterval: time.Hour})
	a.start(t)
	ctx := context.Background()
	run, err := a.jobs.Enqueue(ctx, task, store.RunManual)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r, err := c.st.RunForWorker(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Counts.Pages >= 2 {
			break
		}
		if r.Finished() || time.Now().After(deadline) {
			t.Fatalf("the run did not get under way: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.stop(t)

	if state := c.jobState(run.ID); state != "available" {
		t.Errorf("after shutdown the job is %q; it must be available for another worker at once", state)
	}
	r, err := c.st.RunForWorker(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.RunRunning || r.Counts.Pages < 2 {
		t.Errorf("after shutdown the run is %s with %d pages; it must stay running with its progress", r.Status, r.Counts.Pages)
	}
	if n := c.scalar(`SELECT count(*) FROM import_tasks WHERE id = $1 AND lease_owner <> ''`, task.ID); n != 0 {
		t.Error("the task lease outlived the shutdown")
	}
	if n := c.scalar(`SELECT count(*) FROM crm_account_leases WHERE lease_until > now()`); n != 0 {
		t.Error("the RetailCRM account lease outlived the shutdown")
	}

	b := c.node(2, jobs.Config{TickInterval: time.Hour})
	b.start(t)
	r = c.waitRuns([]int64{run.ID}, 5*time.Minute)[0]
	if r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings {
		t.Fatalf("resumed run: %s %s", r.Status, r.Error)
	}
	stored := c.storedOrders(task.ID)
	if want := len(acct.emu.Orders(acct.key)); int64(stored)+r.Counts.Invalid != int64(want) {
		t.Errorf("%d orders stored + %d invalid, the account has %d", stored, r.Counts.Invalid, want)
	}
	if r.Counts.Created != int64(stored) {
		t.Errorf("the run created %d orders over its two processes for %d stored: work was redone or lost", r.Counts.Created, stored)
	}
}

// The schedulers of two processes ticking at the same moments enqueue each due task once.
func TestTicksOfTwoProcessesEnqueueOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	acct := newAccount(t, crmemu.Options{Seed: 13, Orders: 10})
	tasks := c.seedTasks(acct, 20, true)
	// Without workers a node only enqueues; nothing runs the jobs, so each stays queued.
	a, b := c.node(0, jobs.Config{}), c.node(0, jobs.Config{})
	ctx := context.Background()
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for _, n := range []*node{a, b, a, b, a, b} {
		wg.Go(func() {
			got, err := n.jobs.Tick(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += got
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != len(tasks) {
		t.Errorf("the ticks enqueued %d runs for %d due tasks", total, len(tasks))
	}
	if n := c.scalar(`SELECT count(*) FROM runs`); n != int64(len(tasks)) {
		t.Errorf("%d runs recorded for %d tasks", n, len(tasks))
	}
	if n := c.scalar(`SELECT count(*) FROM river_job WHERE kind = 'import_run'`); n != int64(len(tasks)) {
		t.Errorf("%d import jobs queued for %d tasks", n, len(tasks))
	}
	if n := c.scalar(`SELECT count(*) FROM import_tasks WHERE next_run_at <= now()`); n != 0 {
		t.Errorf("%d tasks are still due after the ticks", n)
	}
}

// A task whose lease another process holds is not run a second time: its job waits (snooze)
// and the run stays queued, without a request to RetailCRM.
func TestLeasedTaskIsNotRunTwice(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	acct := newAccount(t, crmemu.Options{Seed: 14, Orders: 10})
	task := c.seedTasks(acct, 1, false)[0]
	ctx := context.Background()
	if ok, err := c.st.AcquireLease(ctx, task.ID, "another_process/1", time.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	a := c.node(1, jobs.Config{TickInterval: time.Hour})
	a.start(t)
	run, err := a.jobs.Enqueue(ctx, task, store.RunManual)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for c.jobState(run.ID) != "scheduled" {
		if time.Now().After(deadline) {
			t.Fatalf("the job of a leased task is %q, not waiting", c.jobState(run.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, err := c.st.RunForWorker(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.RunQueued {
		t.Errorf("the run of a task leased elsewhere is %s", r.Status)
	}
	if n := acct.emu.Stats().Requests; n != 0 {
		t.Errorf("%d requests reached RetailCRM for a task leased elsewhere", n)
	}
}

func (c *cluster) jobState(runID int64) string {
	c.t.Helper()
	var state string
	err := c.st.DB().QueryRowContext(context.Background(),
		`SELECT state FROM river_job WHERE kind = 'import_run' AND (args->>'run_id')::bigint = $1`, runID).Scan(&state)
	if err != nil {
		c.t.Fatal(err)
	}
	return state
}
