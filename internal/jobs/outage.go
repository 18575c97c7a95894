package jobs

import (
	"context"
	"time"

	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// patient makes a run's database operations wait for a database that went away (a PostgreSQL
// restart, a failover) instead of failing the run: the page in hand is committed once the
// database answers again and the walk goes on, so nothing is read from RetailCRM twice and the
// job is never handed back to River while River cannot record it. The wait ends with the
// attempt (River's job timeout); a run whose database stays away longer is paused and resumed
// from its checkpoint like any interrupted run.
func (j *Jobs) patient(ctx context.Context, taskID, runID int64) context.Context {
	log := j.log.With("task_id", taskID, "run_id", runID)
	return store.WithPatience(ctx, store.Patience{
		Max: j.cfg.jobTimeout(),
		OnWait: func(err error) {
			log.Warn("the database is unavailable; the run waits for it and continues where it stopped", "error", err)
		},
		OnBack: func(waited time.Duration) {
			log.Info("the database is back; the run continues", "waited", waited.Round(time.Millisecond))
		},
	})
}

// diskFull words a run that failed because the database had no room to write (SQLite on a
// full file system): the page in hand was rolled back whole, so nothing is half-written and
// the next run continues from the last checkpoint once there is room.
func diskFull(err error) error {
	if !store.IsDiskFull(err) {
		return err
	}
	return &importer.Failure{Msg: locale.M("disk_full"), Err: err}
}

// runWithRoom runs the import unless the database's disk has no room for its reserve: a run
// started then would fill the disk to the last byte and could not even record its failure, so
// it fails at once, saying the disk is full.
func (j *Jobs) runWithRoom(ctx context.Context, task store.Task, runID int64, deadline time.Time) error {
	if err := j.store.Reserve(); err != nil {
		return err
	}
	return j.importer.Run(ctx, task, runID, deadline)
}

// recordOnFullDisk runs fn, a write that records a run's outcome; when the disk has no room
// for it, it gives up the database's reserve and tries once more, so that the outcome is
// recorded rather than the run left showing as running.
func (j *Jobs) recordOnFullDisk(fn func() error) error {
	err := fn()
	if store.IsDiskFull(err) && j.store.UseReserve() {
		j.log.Error("the database's disk is full: its reserve was given up to record a run's outcome; free disk space, runs fail until there is room again")
		err = fn()
	}
	return err
}
