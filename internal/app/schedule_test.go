package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/jobs"
	"orderimport/internal/store"
)

type taskOut struct {
	ID            int64      `json:"id"`
	Active        bool       `json:"active"`
	Status        string     `json:"status"`
	StatusMessage string     `json:"status_message"`
	NextRunAt     *time.Time `json:"next_run_at"`
	LastRun       *runOut    `json:"last_run"`
}

func (e *env) createTask(counterID int64, body map[string]any) taskOut {
	e.t.Helper()
	var task taskOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counterID), body, &task); st != 201 {
		e.t.Fatalf("create task: %d", st)
	}
	return task
}

// emuTask creates an active task named name that imports from the env's emulator with its
// demo key.
func (e *env) emuTask(counterID int64, name string) taskOut {
	e.t.Helper()
	return e.createTask(counterID, map[string]any{"name": name, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}})
}

func (e *env) counter() int64 {
	e.t.Helper()
	var c struct{ ID int64 }
	if st := e.do("POST", "/api/v1/counters", map[string]any{"name": "Shop"}, &c); st != 201 {
		e.t.Fatalf("create counter: %d", st)
	}
	return c.ID
}

func (e *env) task(id int64) taskOut {
	e.t.Helper()
	var t taskOut
	if st := e.do("GET", fmt.Sprintf("/api/v1/imports/%d", id), nil, &t); st != 200 {
		e.t.Fatalf("get task: %d", st)
	}
	return t
}

// makeDue moves a task's next run into the past, as time passing would.
func (e *env) makeDue(id int64) {
	e.t.Helper()
	err := e.app.Store.InTx(context.Background(), func(tx *sql.Tx) error {
		return e.app.Store.SetNextRun(context.Background(), tx, id, time.Now().Add(-time.Minute))
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) lastRun(taskID int64) runOut {
	e.t.Helper()
	var runs struct{ Runs []runOut }
	e.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", taskID), nil, &runs)
	if len(runs.Runs) == 0 {
		e.t.Fatal("no runs")
	}
	return e.waitRun(runs.Runs[0].ID)
}

func TestSchedulerRunsDueTasksOnly(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 5, Orders: 20})
	c := e.counter()
	active := e.createTask(c, map[string]any{"name": "active", "frequency_hours": 3, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}})
	inactive := e.createTask(c, map[string]any{"name": "inactive", "active": false, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}})
	if inactive.NextRunAt != nil {
		t.Fatalf("an inactive task has a next run: %v", inactive.NextRunAt)
	}
	first := e.lastRun(active.ID)
	got := e.task(active.ID)
	if got.NextRunAt == nil || time.Until(*got.NextRunAt) < 2*time.Hour+50*time.Minute {
		t.Fatalf("after saving, the next run is one period (3h) away; got %v", got.NextRunAt)
	}
	ctx := context.Background()
	if n, err := e.app.Jobs.Tick(ctx); err != nil || n != 0 {
		t.Fatalf("tick with nothing due enqueued %d (%v)", n, err)
	}
	e.makeDue(active.ID)
	if n, err := e.app.Jobs.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("tick with one due task enqueued %d (%v)", n, err)
	}
	second := e.lastRun(active.ID)
	if second.ID == first.ID || second.Status != store.RunSucceeded {
		t.Fatalf("scheduled run: %+v", second)
	}
	if n, _ := e.app.Jobs.Tick(ctx); n != 0 {
		t.Fatalf("the same period was enqueued twice")
	}
	var runs struct{ Runs []runOut }
	e.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", inactive.ID), nil, &runs)
	if len(runs.Runs) != 0 {
		t.Fatalf("an inactive task ran: %+v", runs.Runs)
	}
}

func TestRejectedKeyParksTheTask(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 6, Orders: 10})
	c := e.counter()
	task := e.emuTask(c, "t")
	e.lastRun(task.ID)

	e.emu.RemoveKey(crmemu.DemoKey) // the shop revoked the key in RetailCRM
	var r runOut
	e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &r)
	r = e.waitRun(r.ID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "rejected the API key") {
		t.Fatalf("run with a revoked key: %+v", r)
	}
	got := e.task(task.ID)
	if got.Status != store.TaskNeedsAttention || got.StatusMessage == "" {
		t.Fatalf("task after a rejected key: %+v", got)
	}
	e.makeDue(task.ID)
	if n, _ := e.app.Jobs.Tick(context.Background()); n != 0 {
		t.Fatal("a task that needs attention was scheduled")
	}
	// The user enters a new key: the task is healthy again.
	e.emu.SetKey("new-key", crmemu.FullAccess())
	var patched taskOut
	if st := e.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", task.ID), map[string]any{"retailcrm": map[string]any{"api_key": "new-key"}}, &patched); st != 200 {
		t.Fatalf("patch key: %d", st)
	}
	if patched.Status != store.TaskOK {
		t.Fatalf("after a new key: %+v", patched)
	}
}

func TestRepeatedFailuresNeedAttention(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 8, Orders: 10})
	c := e.counter()
	task := e.createTask(c, map[string]any{"name": "t", "active": false, "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}})
	e.emu.InjectFault(crmemu.Fault500, 1000, "")
	for i := 1; i <= 5; i++ {
		var r runOut
		e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &r)
		r = e.waitRun(r.ID)
		if r.Status != store.RunFailed || r.Error == "" {
			t.Fatalf("run %d against a failing RetailCRM: %+v", i, r)
		}
		got := e.task(task.ID)
		if want := i >= 5; (got.Status == store.TaskNeedsAttention) != want {
			t.Fatalf("after %d failed runs the task is %s (%s)", i, got.Status, got.StatusMessage)
		}
	}
}

// The run history is pruned: runs finished longer ago than the retention go, each task's
// newest ones stay, and what the API lists is what is left.
//
// The service keeps its default retention (90 days, 100 runs per task): its own scheduled prune,
// which runs on its first tick whenever that comes, must find nothing to delete here. The prune
// under test is a job system with a retention of 1 ns over the same database, called once the
// four runs exist; with that retention on the service itself, a late first tick would take the
// runs before the call.
func TestRunHistoryIsPruned(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 6, Orders: 10})
	task := e.emuTask(e.counter(), "pruned")
	ids := []int64{e.lastRun(task.ID).ID}
	for range 3 {
		ids = append(ids, e.runNow(task.ID).ID)
	}
	pruner, err := jobs.New(e.app.Store, nil, nil, jobs.Config{RunRetention: time.Nanosecond, RunsKept: 2}) // every finished run is old
	if err != nil {
		t.Fatal(err)
	}
	n, err := pruner.PruneRuns(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("pruned %d runs, %v; want the 2 oldest of 4", n, err)
	}
	var runs struct{ Runs []runOut }
	if st := e.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &runs); st != 200 {
		t.Fatalf("list runs: %d", st)
	}
	if len(runs.Runs) != 2 || runs.Runs[0].ID != ids[3] || runs.Runs[1].ID != ids[2] {
		t.Fatalf("runs left %+v, want the newest two %d, %d", runs.Runs, ids[3], ids[2])
	}
	if st := e.do("GET", fmt.Sprintf("/api/v1/runs/%d", ids[0]), nil, nil); st != 404 {
		t.Fatalf("a pruned run answers %d, want 404", st)
	}
}
