package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"orderimport/internal/locale"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"orderimport/internal/alert"
	"orderimport/internal/importer"
	"orderimport/internal/store"
)

type importWorker struct {
	river.WorkerDefaults[ImportArgs]
	j *Jobs
}

// Timeout: the slice plus room to commit the last page; the worker stops itself at the slice.
func (w *importWorker) Timeout(*river.Job[ImportArgs]) time.Duration {
	return w.j.cfg.jobTimeout()
}

func (w *importWorker) Work(ctx context.Context, job *river.Job[ImportArgs]) error {
	return w.j.work(ctx, job)
}

// work executes one slice of a run. Errors from the run are recorded on the run and the task
// and not returned to River: retrying a failed run right away would be a retry storm against
// RetailCRM, and the next scheduled run catches up anyway.
func (j *Jobs) work(ctx context.Context, job *river.Job[ImportArgs]) error {
	args, jobID := job.Args, strconv.FormatInt(job.ID, 10)
	ctx = j.patient(ctx, args.TaskID, args.RunID)
	// The slice counts from the start of the attempt, waits for the account included, so
	// that it always ends before River's job timeout.
	deadline := j.now().Add(j.cfg.Slice)
	task, err := j.store.TaskForWorker(ctx, args.TaskID)
	if errors.Is(err, store.ErrNotFound) {
		// The task was deleted after the job was queued.
		if r, err := j.store.RunForWorker(ctx, args.RunID); err == nil && !r.Finished() {
			_, _ = j.store.FinishRun(ctx, r.ID, store.RunInterrupted, locale.M("task_deleted"))
		}
		return nil
	}
	if err != nil {
		return err
	}
	owner := j.client.ID() + "/" + jobID
	ok, err := j.store.AcquireLease(ctx, task.ID, owner, j.now().Add(j.cfg.jobTimeout()))
	if err != nil {
		return err
	}
	if !ok {
		// Another worker still holds this task (a job rescued while its first worker lives):
		// wait for its lease to end instead of running the task twice.
		return river.JobSnooze(15 * time.Second)
	}
	defer func() {
		// Release even if ctx is cancelled: the lease must not outlive this slice.
		_ = j.store.ReleaseLease(context.WithoutCancel(ctx), task.ID, owner)
	}()
	if j.store.Engine() == store.Postgres {
		hold, err := j.holdAccount(ctx, task, owner)
		switch {
		case err != nil && ctx.Err() != nil:
			return river.JobSnooze(0)
		case err != nil:
			return err
		case hold == nil:
			// Another worker is talking to this RetailCRM account: to the back of the queue,
			// so that jobs of other accounts get this worker meanwhile.
			j.log.Debug("RetailCRM account busy with another run; the run waits its turn", "task_id", task.ID, "run_id", args.RunID)
			return river.JobSnooze(0)
		}
		defer hold.release(context.WithoutCancel(ctx))
	}

	r, err := j.store.RunForWorker(ctx, args.RunID)
	if err != nil {
		return err
	}
	if r.Finished() {
		// A restart marked the run interrupted; the rest of the work is a new run that resumes
		// from the checkpoint. The job still names the interrupted run, so a later slice finds
		// the replacement an earlier slice made as the task's unfinished run (a task has one
		// import job at a time) instead of starting yet another.
		active, err := j.store.ActiveRun(ctx, task.AccountID, task.ID)
		if err != nil {
			return err
		}
		if active == nil {
			nr, err := j.store.CreateRun(ctx, task.AccountID, task.ID, r.Kind)
			if err != nil {
				return err
			}
			active = &nr
		}
		r = *active
	}
	if err := j.store.StartRun(ctx, r.ID); err != nil {
		return err
	}
	log := j.log.With("task_id", task.ID, "run_id", r.ID)
	// Only the run the re-sync was asked with starts it; a replacement after a restart continues
	// the re-sync the checkpoint holds.
	if r.Kind == store.RunResync && r.ID == args.RunID && r.Counts.Pages == 0 && r.StartedAt == nil {
		if err := j.importer.Resync(ctx, task); err != nil {
			return err
		}
	}

	runErr := j.runWithRoom(ctx, task, r.ID, deadline)
	switch {
	case errors.Is(runErr, importer.ErrSliceDone):
		return river.JobSnooze(0)
	case runErr != nil && ctx.Err() != nil:
		// Shutdown (or the job timeout): what was committed stays; the run resumes from its
		// checkpoint when a worker takes the job again.
		log.Info("run paused by shutdown; it resumes from its checkpoint")
		return river.JobSnooze(0)
	}
	return j.finish(context.WithoutCancel(ctx), job, task, r.ID, runErr)
}

// finish records the run's outcome, the task's health and the job's completion in one
// transaction: the moment a run is final, its task can be enqueued again.
func (j *Jobs) finish(ctx context.Context, job *river.Job[ImportArgs], task store.Task, runID int64, runErr error) error {
	status := store.RunSucceeded
	var msg, taskMsg locale.Message
	failed, needsAttention := false, false
	runErr = diskFull(runErr)
	if runErr != nil {
		status, msg, failed = store.RunFailed, importer.FailureMessage(runErr), true
		var f *importer.Failure
		permanent := errors.As(runErr, &f) && f.Permanent
		needsAttention = permanent || task.ConsecutiveFailures+1 >= j.cfg.FailuresBeforeAttention
		// A task's message says why it needs attention; a failure that does not park it is
		// the run's to tell.
		switch {
		case permanent:
			taskMsg = msg
		case needsAttention:
			taskMsg = locale.M("runs_failed_in_row", "n", task.ConsecutiveFailures+1, "last", msg)
		}
	}
	var run store.Run
	err := j.recordOnFullDisk(func() error {
		return j.store.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			if run, err = j.store.FinishRunTx(ctx, tx, runID, status, msg); err != nil {
				return err
			}
			if err := j.store.RecordTaskOutcomeTx(ctx, tx, task.ID, failed, needsAttention, taskMsg); err != nil {
				return err
			}
			return j.completeTx(ctx, tx, job)
		})
	})
	if err != nil {
		return err
	}
	log := j.log.With("task_id", task.ID, "run_id", runID)
	if runErr != nil {
		log.Warn("run failed", "error", runErr.Error(), "code", msg.Code, "needs_attention", needsAttention)
	} else {
		log.Info("run finished", "status", run.Status, "fetched", run.Counts.Fetched, "created", run.Counts.Created,
			"updated", run.Counts.Updated, "deleted", run.Counts.Deleted, "invalid", run.Counts.Invalid, "requests", run.Counts.Requests)
	}
	j.runFinished(run)
	if err := j.Reconsider(ctx, alert.TaskSubject(task.ID)); err != nil {
		log.Warn("the task's incidents were not looked at; the scheduler does it", "error", err)
	}
	return nil
}

func (j *Jobs) completeTx(ctx context.Context, tx *sql.Tx, job *river.Job[ImportArgs]) error {
	var err error
	switch j.store.Engine() {
	case store.SQLite:
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	default:
		_, err = river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
	}
	if err != nil {
		return fmt.Errorf("jobs: complete job %d: %w", job.ID, err)
	}
	return nil
}

func (j *Jobs) runFinished(r store.Run) {
	if j.OnRunFinished != nil {
		j.OnRunFinished(r)
	}
}
