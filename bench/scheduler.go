package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"orderimport/internal/store"
)

// schedResult is benchmark 6: 10,000 active hourly tasks on one SQLite node.
type schedResult struct {
	Tasks    int
	Accounts int
	Workers  int

	// Tick timing (a service without workers, so nothing runs what the ticks enqueue).
	Batch      int
	TickFull   []time.Duration // a tick that enqueues Batch due tasks (1000 is the scheduler's batch)
	TickSteady []time.Duration // a tick that enqueues what comes due in 30 s of an hourly schedule
	TickIdle   []time.Duration // a tick with nothing due
	SteadyDue  int

	// Lateness: the service running (River, periodic tick every 30 s, workers), tasks due
	// spread evenly over the hour as an hourly schedule settles, observed for Window.
	Window   time.Duration
	Due      int
	Started  int
	Failed   int
	Lateness []time.Duration // run start − next_run_at, per task due in the window
	Setup    time.Duration

	// Capacity: Burst tasks made due at once (as after an outage), all started after Drain.
	Burst        int
	BurstStarted int
	BurstFailed  int
	FirstStart   time.Duration // from the moment they became due to the first start
	Drain        time.Duration // … to the last start
}

// burstRate is the runs/s between the first and the last start of the burst.
func (r *schedResult) burstRate() float64 {
	if r.Drain <= r.FirstStart {
		return 0
	}
	return float64(r.BurstStarted-1) / (r.Drain - r.FirstStart).Seconds()
}

const schedAccounts = 100

func runScheduler(ctx context.Context, cfg *settings) (*schedResult, error) {
	res := &schedResult{Tasks: cfg.schedTasks, Accounts: schedAccounts, Workers: 4}
	listen := make([]string, schedAccounts)
	for i := range listen {
		listen[i] = "127.0.0.1:0"
	}
	// A small account: every task is already synced, so a run reads credentials, settings and
	// an empty change feed — three requests, paced at RetailCRM's 10/s per account.
	emu, err := startEmulator(emuOpts{orders: 200, size: "small", listen: listen})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()

	if err := schedTicks(ctx, cfg, emu, res); err != nil {
		return nil, err
	}
	if err := schedLateness(ctx, cfg, emu, res); err != nil {
		return nil, err
	}
	return res, nil
}

// schedSetup makes a service with n active hourly tasks over the emulator's accounts, every
// one already synced (the first run of one, its checkpoint copied to the rest: the accounts
// serve the same data), none due yet.
func schedSetup(ctx context.Context, cfg *settings, emu *emuProc, workers int) (*service, []store.Task, error) {
	dir, err := os.MkdirTemp(cfg.tmp, "sched-")
	if err != nil {
		return nil, nil, err
	}
	svc, err := newService(ctx, dir, "", workers)
	if err != nil {
		return nil, nil, err
	}
	st := svc.app.Store
	tasks := make([]store.Task, cfg.schedTasks)
	for i := range tasks {
		t, err := svc.addTask(ctx, emu.URLs[i%len(emu.URLs)], 0, true)
		if err != nil {
			svc.Close()
			return nil, nil, err
		}
		tasks[i] = t
	}
	if err := setNextRuns(ctx, st, tasks, func(int) time.Time { return time.Now().Add(24 * time.Hour) }); err != nil {
		svc.Close()
		return nil, nil, err
	}
	first := tasks[0]
	first.RateLimit = unpaced
	if _, err := svc.runOnce(ctx, first); err != nil {
		svc.Close()
		return nil, nil, err
	}
	state, err := st.SyncState(ctx, first.ID)
	if err != nil {
		svc.Close()
		return nil, nil, err
	}
	for _, t := range tasks[1:] {
		s := state
		s.TaskID = t.ID
		if err := st.SaveSyncState(ctx, t.AccountID, s); err != nil {
			svc.Close()
			return nil, nil, err
		}
	}
	return svc, tasks, nil
}

func setNextRuns(ctx context.Context, st *store.Store, tasks []store.Task, at func(i int) time.Time) error {
	return st.InTx(ctx, func(tx *sql.Tx) error {
		for i, t := range tasks {
			if err := st.SetNextRun(ctx, tx, t.ID, at(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

func schedTicks(ctx context.Context, cfg *settings, emu *emuProc, res *schedResult) error {
	t0 := time.Now()
	svc, tasks, err := schedSetup(ctx, cfg, emu, 0)
	if err != nil {
		return err
	}
	defer svc.Close()
	res.Setup = time.Since(t0)
	progress("scheduler: %d tasks set up in %v", len(tasks), res.Setup.Round(time.Millisecond))
	st, j := svc.app.Store, svc.app.Jobs
	// What an hourly schedule brings due in 30 s (the tick interval).
	res.SteadyDue = ceilDiv(len(tasks)*30, 3600)
	// Each tick brings fresh tasks due (the ones of an earlier tick still have their jobs
	// queued, since nothing works them here).
	batch := min(1000, len(tasks)/(2*cfg.runs))
	used := 0
	res.Batch = batch
	tick := func(due int) (time.Duration, error) {
		if used+due > len(tasks) {
			return 0, fmt.Errorf("scheduler: %d tasks are too few for the tick runs", len(tasks))
		}
		past := time.Now().Add(-time.Second)
		if err := setNextRuns(ctx, st, tasks[used:used+due], func(int) time.Time { return past }); err != nil {
			return 0, err
		}
		used += due
		start := time.Now()
		n, err := j.Tick(ctx)
		d := time.Since(start)
		if err != nil {
			return 0, err
		}
		if n != due {
			return 0, fmt.Errorf("scheduler: a tick enqueued %d of %d due tasks", n, due)
		}
		return d, nil
	}
	for i := 0; i < cfg.runs; i++ {
		full, err := tick(batch)
		if err != nil {
			return err
		}
		steady, err := tick(res.SteadyDue)
		if err != nil {
			return err
		}
		idle, err := tick(0)
		if err != nil {
			return err
		}
		res.TickFull, res.TickSteady, res.TickIdle = append(res.TickFull, full), append(res.TickSteady, steady), append(res.TickIdle, idle)
		progress("scheduler tick run %d: %d due %v, %d due %v, none due %v", i+1, batch, full.Round(time.Microsecond),
			res.SteadyDue, steady.Round(time.Microsecond), idle.Round(time.Microsecond))
	}
	return nil
}

func schedLateness(ctx context.Context, cfg *settings, emu *emuProc, res *schedResult) error {
	svc, tasks, err := schedSetup(ctx, cfg, emu, res.Workers)
	if err != nil {
		return err
	}
	defer svc.Close()
	st := svc.app.Store
	res.Window = 3 * time.Minute
	if cfg.quick {
		res.Window = time.Minute
	}
	// An hourly schedule that has settled: next runs spread evenly over the coming hour,
	// starting a few seconds from now. Only the tasks due within the window are observed.
	t0 := time.Now().Add(5 * time.Second)
	spacing := time.Hour / time.Duration(len(tasks))
	due := func(i int) time.Time { return t0.Add(time.Duration(i) * spacing) }
	if err := setNextRuns(ctx, st, tasks, due); err != nil {
		return err
	}
	observed := []int{}
	for i := range tasks {
		if due(i).Before(t0.Add(res.Window)) {
			observed = append(observed, i)
		}
	}
	res.Due = len(observed)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.app.Work(wctx) }()
	progress("scheduler: service running with %d workers; %d tasks come due in the next %v", res.Workers, res.Due, res.Window)

	// Wait for the window, then until every observed task has started (or a deadline).
	if err := sleepCtx(ctx, time.Until(t0.Add(res.Window))); err != nil {
		stop()
		<-done
		return err
	}
	started, err := waitStarted(ctx, st, tasks, observed, due, t0.Add(res.Window+3*time.Minute))
	if err != nil {
		stop()
		<-done
		return err
	}
	for _, s := range started {
		if s.failed {
			res.Failed++
		}
	}
	res.Started = len(started)
	for _, i := range observed {
		if s, ok := started[i]; ok {
			res.Lateness = append(res.Lateness, s.late)
		}
	}
	slices.Sort(res.Lateness)

	// Capacity: tasks not due for most of the hour become due at once.
	var burst []int
	for i := len(tasks) - 1; i >= 0 && len(burst) < min(1000, len(tasks)/5); i-- {
		burst = append(burst, i)
	}
	res.Burst = len(burst)
	now := time.Now()
	burstDue := func(int) time.Time { return now }
	sub := make([]store.Task, len(burst))
	for k, i := range burst {
		sub[k] = tasks[i]
	}
	if err := setNextRuns(ctx, st, sub, burstDue); err != nil {
		stop()
		<-done
		return err
	}
	progress("scheduler: %d tasks made due at once", res.Burst)
	bs, err := waitStarted(ctx, st, tasks, burst, burstDue, now.Add(10*time.Minute))
	stop()
	if werr := <-done; werr != nil && !errors.Is(werr, context.Canceled) {
		return werr
	}
	if err != nil {
		return err
	}
	res.BurstStarted = len(bs)
	res.FirstStart = time.Hour
	for _, s := range bs {
		res.Drain = max(res.Drain, s.late)
		res.FirstStart = min(res.FirstStart, s.late)
		if s.failed {
			res.BurstFailed++
		}
	}
	progress("scheduler: %d of %d burst tasks started between %v and %v (%.1f runs/s)", res.BurstStarted, res.Burst,
		res.FirstStart.Round(time.Millisecond), res.Drain.Round(time.Millisecond), res.burstRate())
	progress("scheduler: %d of %d due tasks started; lateness median %v, max %v", res.Started, res.Due,
		median(res.Lateness).Round(time.Millisecond), last(res.Lateness).Round(time.Millisecond))
	return nil
}

func last[T any](v []T) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	return v[len(v)-1]
}

// percentile of a sorted slice (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func lateCount(sorted []time.Duration, over time.Duration) int {
	n := 0
	for _, d := range sorted {
		if d > over {
			n++
		}
	}
	return n
}

type startedRun struct {
	late   time.Duration
	failed bool
}

// waitStarted polls the runs of the given tasks until each has a started scheduled run, or
// the deadline passes; it reports each start's lateness against due.
func waitStarted(ctx context.Context, st *store.Store, tasks []store.Task, which []int, due func(int) time.Time, deadline time.Time) (map[int]startedRun, error) {
	started := map[int]startedRun{}
	for {
		for _, i := range which {
			if _, ok := started[i]; ok {
				continue
			}
			runs, err := st.Runs(ctx, tasks[i].AccountID, tasks[i].ID, 5)
			if err != nil {
				return nil, err
			}
			for _, r := range runs {
				if r.Kind == store.RunScheduled && r.StartedAt != nil && !r.StartedAt.Before(due(i).Add(-time.Second)) {
					started[i] = startedRun{late: r.StartedAt.Sub(due(i)), failed: r.Status == store.RunFailed}
					break
				}
			}
		}
		if len(started) == len(which) || time.Now().After(deadline) {
			return started, nil
		}
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
