package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// MemoryArgs is the daily job that bounds what the service remembers of orders: timeline events
// past their retention, and the orders of tasks with an orders retention whose date has passed
// it.
type MemoryArgs struct{}

// Kind implements river.JobArgs.
func (MemoryArgs) Kind() string { return "order_memory" }

// InsertOpts implements river.JobArgsWithInsertOpts: one at a time, on the scheduler's queue.
func (MemoryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "schedule",
		MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
			rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}},
	}
}

// memoryBatch is how many rows one transaction of the daily job deletes: small enough that
// imports never wait long for SQLite's one writer.
const memoryBatch = 500

type memoryWorker struct {
	river.WorkerDefaults[MemoryArgs]
	j *Jobs
}

func (w *memoryWorker) Work(ctx context.Context, job *river.Job[MemoryArgs]) error {
	return w.j.ForgetDue(ctx)
}

// ForgetDue deletes the timeline events older than EventRetention and, for every task with an
// orders retention, the orders whose date is older than it (store.ExpireOrders: each deletion
// takes a feed position, so feed readers and webhooks learn of it).
func (j *Jobs) ForgetDue(ctx context.Context) error {
	now := j.now().UTC()
	events, err := j.store.DeleteOldEvents(ctx, now.Add(-j.cfg.EventRetention), memoryBatch)
	if err != nil {
		return fmt.Errorf("jobs: forget old order events: %w", err)
	}
	if events > 0 {
		j.log.Info("old order events deleted", "events", events, "retention_days", int(j.cfg.EventRetention/(24*time.Hour)))
	}
	due, err := j.store.RetainedTasks(ctx)
	if err != nil {
		return fmt.Errorf("jobs: forget expired orders: %w", err)
	}
	var forgot int64
	for _, t := range due {
		n, err := j.store.ExpireOrders(ctx, t, now.AddDate(0, 0, -t.Days), memoryBatch)
		if err != nil {
			return fmt.Errorf("jobs: forget expired orders: %w", err)
		}
		if n > 0 {
			j.log.Info("expired orders deleted", "task_id", t.TaskID, "orders", n, "retention_days", t.Days)
		}
		forgot += n
	}
	if forgot > 0 || events > 0 {
		// The deleted rows' contacts go from the database's files too (a failure here leaves
		// them until the next day's run, not the deletions undone).
		if err := j.store.Scrub(ctx); err != nil {
			j.log.Warn("what the retention deleted could not be cleared from the database yet", "error", err)
		}
	}
	return nil
}

// memoryEvery is how often the daily job runs.
const memoryEvery = 24 * time.Hour

func memoryJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(memoryEvery), func() (river.JobArgs, *river.InsertOpts) {
		return MemoryArgs{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
}
