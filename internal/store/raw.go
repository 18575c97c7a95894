package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// An order's hash is the digest of its exported fields, optionally followed by "/" and a digest
// of the RetailCRM order it was mapped from (as kept). Equal fields with another copy mean the
// order changed in RetailCRM only where the mapping does not look: the new copy is kept, and
// nothing a reader sees changes.
func sameFields(a, b string) bool {
	return fieldsPart(a) == fieldsPart(b)
}

func fieldsPart(h string) string {
	if i := strings.IndexByte(h, '/'); i >= 0 {
		return h[:i]
	}
	return h
}

// copyPart is the digest of the kept copy a row's hash ends in ("" for a row without one).
func copyPart(h string) string {
	if i := strings.IndexByte(h, '/'); i >= 0 {
		return h[i+1:]
	}
	return ""
}

// RawDict is a compression dictionary of a task's kept orders.
type RawDict struct {
	ID   int64
	Data []byte
}

// RawDicts lists the task's dictionaries, the oldest first (the newest is the one to compress
// with). A dictionary reserved and never trained (a process that died while training) is left
// out.
func (s *Store) RawDicts(ctx context.Context, taskID int64) ([]RawDict, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, dict FROM raw_dicts WHERE task_id = $1 ORDER BY id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("store: dictionaries of task %d: %w", taskID, err)
	}
	defer rows.Close()
	var out []RawDict
	for rows.Next() {
		var d RawDict
		if err := rows.Scan(&d.ID, &d.Data); err != nil {
			return nil, fmt.Errorf("store: dictionaries of task %d: %w", taskID, err)
		}
		if len(d.Data) > 0 {
			out = append(out, d)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: dictionaries of task %d: %w", taskID, err)
	}
	return out, nil
}

// ReserveRawDict gives a task a new dictionary id: a dictionary carries its id inside, so the
// id comes before the training, and SetRawDict stores what was trained.
func (s *Store) ReserveRawDict(ctx context.Context, taskID int64) (int64, error) {
	var id int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO raw_dicts (task_id, dict, created_at) VALUES ($1, $2, $3) RETURNING id`,
		taskID, []byte{}, s.nowUTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: reserve a dictionary for task %d: %w", taskID, err)
	}
	return id, nil
}

// SetRawDict stores a trained dictionary under its reserved id.
func (s *Store) SetRawDict(ctx context.Context, id int64, data []byte) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE raw_dicts SET dict = $1 WHERE id = $2`, data, id); err != nil {
		return fmt.Errorf("store: save dictionary %d: %w", id, err)
	}
	return nil
}

// LiveOrdersWithoutRaw counts the task's live orders that have no kept RetailCRM order (stored
// before orders were kept): a new mapping cannot be applied to them without reading them again.
func (s *Store) LiveOrdersWithoutRaw(ctx context.Context, taskID int64) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE task_id = $1 AND deleted = $2 AND raw IS NULL`, taskID, false).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: orders of task %d without a kept copy: %w", taskID, err)
	}
	return n, nil
}

// RawBytes is the size of the task's kept RetailCRM orders, compressed as stored (what order
// memory costs a task, for the benchmarks and an operator sizing a disk).
func (s *Store) RawBytes(ctx context.Context, taskID int64) (int64, error) {
	var n sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT SUM(LENGTH(raw)) FROM orders WHERE task_id = $1`, taskID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: size of the kept orders of task %d: %w", taskID, err)
	}
	return n.Int64, nil
}
