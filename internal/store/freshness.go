package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Freshness is how current a task's orders are, as the store knows it.
type Freshness struct {
	// LastSuccess is the task's newest successful run (nil: none yet). The orders reflect
	// RetailCRM at least as it was when that run started.
	LastSuccess *Run
	// HistorySinceID is the last entry of RetailCRM's change history the task applied (0: the
	// first run has not reached the history yet).
	HistorySinceID int64
	// RequestsToday counts the calls made to RetailCRM by the task's runs started since `since`.
	RequestsToday int64
}

// TaskFreshness reads how current one of the account's tasks is; since is the start of "today".
func (s *Store) TaskFreshness(ctx context.Context, accountID, taskID int64, since time.Time) (Freshness, error) {
	var f Freshness
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE account_id = $1 AND task_id = $2 AND status IN ($3, $4)
		ORDER BY id DESC LIMIT 1`, accountID, taskID, RunSucceeded, RunSucceededWithWarnings))
	switch {
	case err == nil:
		f.LastSuccess = &r
	case !errors.Is(err, sql.ErrNoRows):
		return f, fmt.Errorf("store: last success of task %d: %w", taskID, err)
	}
	err = s.r.QueryRowContext(ctx, `SELECT history_since_id FROM sync_state WHERE task_id = $1 AND account_id = $2`, taskID, accountID).Scan(&f.HistorySinceID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("store: checkpoint of task %d: %w", taskID, err)
	}
	err = s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(requests), 0) FROM runs WHERE account_id = $1 AND task_id = $2 AND started_at >= $3`,
		accountID, taskID, since.UTC()).Scan(&f.RequestsToday)
	if err != nil {
		return f, fmt.Errorf("store: requests of task %d: %w", taskID, err)
	}
	return f, nil
}
