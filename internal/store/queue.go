package store

import (
	"context"
	"fmt"
)

// The job queue's tables belong to River; these are the only two places the store reads or
// touches them, and both are about operating the queue rather than its logic.

// RequeueOrphanedJobs makes jobs left "running" by a dead process available again. Only
// valid on SQLite, where a single process owns the database: at start nothing can be running.
func (s *Store) RequeueOrphanedJobs(ctx context.Context) (int64, error) {
	if s.engine != SQLite {
		return 0, nil
	}
	res, err := s.w.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("store: requeue orphaned jobs: %w", err)
	}
	return res.RowsAffected()
}

// QueueDepth counts import jobs waiting to run.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'import_run' AND state IN ('available', 'scheduled', 'retryable', 'pending')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: queue depth: %w", err)
	}
	return n, nil
}
