package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The RetailCRM trigger of a task: RetailCRM calls a secret URL, whose token is kept twice —
// as its SHA-256 (hex), which a call is looked up by, so that neither the table nor the time a
// lookup takes gives a token away, and sealed with the service's key, so that the task page
// can show the URL again.

// SetTrigger gives the task a trigger token (hash and sealed form). With onlyIfNone it is set
// only when the task has none yet (two requests giving an old task its first token at once:
// the first wins) and reports whether it was set; otherwise it replaces the token (rotation),
// and the old URL stops working at once.
func (s *Store) SetTrigger(ctx context.Context, accountID, taskID int64, hash, sealed string, onlyIfNone bool) (bool, error) {
	q := `UPDATE import_tasks SET trigger_hash = $1, trigger_sealed = $2 WHERE id = $3 AND account_id = $4 AND deleted_at IS NULL`
	if onlyIfNone {
		q += ` AND trigger_hash = ''`
	}
	var res sql.Result
	err := s.patiently(ctx, func() (err error) {
		res, err = s.w.ExecContext(ctx, q, hash, sealed, taskID, accountID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: set the trigger of task %d: %w", taskID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// TaskByTrigger finds the (not deleted) task whose trigger token has the hash; ErrNotFound
// for any other.
func (s *Store) TaskByTrigger(ctx context.Context, hash string) (Task, error) {
	if hash == "" {
		return Task{}, ErrNotFound
	}
	t, err := scanTask(s.r.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM import_tasks WHERE trigger_hash = $1 AND deleted_at IS NULL`, hash))
	if err != nil {
		return Task{}, fmt.Errorf("store: task by trigger: %w", notFound(err))
	}
	return t, nil
}

// MarkTriggerRunTx records, in the transaction that enqueues it, that a triggered run of the
// task started at `at`.
func (s *Store) MarkTriggerRunTx(ctx context.Context, tx *sql.Tx, taskID int64, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE import_tasks SET trigger_run_at = $1 WHERE id = $2`, at.UTC(), taskID); err != nil {
		return fmt.Errorf("store: mark the triggered run of task %d: %w", taskID, err)
	}
	return nil
}
