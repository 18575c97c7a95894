package jobs

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"orderimport/internal/store"
)

// TriggerArgs is a call of a task's RetailCRM trigger waiting to become a run. It is unique per
// task: calls that come while it waits are folded into it. A call that comes while it works
// (a moment: it enqueues a run or goes back to waiting) is inserted again a second later, so
// that it leaves one more behind it (insertTriggers).
type TriggerArgs struct {
	TaskID int64 `json:"task_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (TriggerArgs) Kind() string { return "retailcrm_trigger" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (TriggerArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "triggers",
		MaxAttempts: 5,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}},
	}
}

// triggerPoll is how often a trigger waiting for its task's running run looks again.
const triggerPoll = time.Second

// Trigger asks for an incremental run of the task soon: RetailCRM called its trigger URL.
// Calls are gathered for a moment and become at most one waiting trigger job per task, so a
// flood of calls costs neither runs nor a growing queue.
func (j *Jobs) Trigger(taskID int64) {
	j.triggers.add(taskID)
}

// TriggersIdle reports that every trigger call taken so far is in the queue (tests).
func (j *Jobs) TriggersIdle() bool { return j.triggers.idle() }

// insertTriggers enqueues the trigger jobs of the tasks whose trigger was called.
func (j *Jobs) insertTriggers(ctx context.Context, taskIDs []int64) []int64 {
	params := make([]river.InsertManyParams, 0, len(taskIDs))
	for _, id := range taskIDs {
		params = append(params, river.InsertManyParams{Args: TriggerArgs{TaskID: id}})
	}
	res, err := j.client.InsertMany(ctx, params)
	if err != nil {
		j.log.Warn("triggered runs not enqueued; the calls are taken again in a second", "tasks", len(taskIDs), "error", err)
		return taskIDs
	}
	var again []int64
	for i, r := range res {
		if r.UniqueSkippedAsDuplicate && r.Job != nil && r.Job.State == rivertype.JobStateRunning {
			again = append(again, taskIDs[i])
		}
	}
	return again
}

type triggerWorker struct {
	river.WorkerDefaults[TriggerArgs]
	j *Jobs
}

func (w *triggerWorker) Work(ctx context.Context, job *river.Job[TriggerArgs]) error {
	return w.j.trigger(ctx, job.Args.TaskID)
}

// trigger turns a trigger call into a run: folded into a run still queued (it will read the
// change), after the running one when one runs, and at most one per TriggerEvery. A task that
// is paused or waits for its user to act ignores the call; its schedule goes on as it was.
func (j *Jobs) trigger(ctx context.Context, taskID int64) error {
	task, err := j.store.TaskForWorker(ctx, taskID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !task.Active || task.Status != store.TaskOK {
		return nil
	}
	active, err := j.store.ActiveRun(ctx, task.AccountID, task.ID)
	if err != nil {
		return err
	}
	if active != nil {
		if active.Status == store.RunQueued {
			return nil // that run has not read RetailCRM yet: it sees the change
		}
		return river.JobSnooze(triggerPoll)
	}
	now := j.now()
	if task.TriggerRunAt != nil {
		if next := task.TriggerRunAt.Add(j.cfg.TriggerEvery); now.Before(next) {
			return river.JobSnooze(next.Sub(now))
		}
	}
	queued := false
	err = j.store.InTx(ctx, func(tx *sql.Tx) error {
		r, err := j.enqueueTx(ctx, tx, task, store.RunTrigger)
		if err != nil {
			return err
		}
		queued = r.ID != 0
		if !queued {
			return nil
		}
		return j.store.MarkTriggerRunTx(ctx, tx, task.ID, now)
	})
	if err != nil {
		return err
	}
	if !queued {
		// A run was enqueued between the look and the insert: it is queued or running, so
		// look again.
		return river.JobSnooze(triggerPoll)
	}
	return nil
}
