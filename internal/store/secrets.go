package store

import (
	"context"
	"fmt"
)

// SealedKey is a task's stored CRM key as a key rotation visits it: sealed, never plain.
type SealedKey struct {
	TaskID    int64
	AccountID int64
	Sealed    string
}

// SealedKeys lists every stored sealed CRM key, of every account, for the key rotation (an
// operator's command, not a user's request). Deleted tasks hold none: DeleteTask drops the key.
func (s *Store) SealedKeys(ctx context.Context) ([]SealedKey, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT id, account_id, crm_key_sealed FROM import_tasks WHERE crm_key_sealed <> '' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list sealed keys: %w", err)
	}
	defer rows.Close()
	var out []SealedKey
	for rows.Next() {
		var k SealedKey
		if err := rows.Scan(&k.TaskID, &k.AccountID, &k.Sealed); err != nil {
			return nil, fmt.Errorf("store: list sealed keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ReplaceSealedKey stores a task's key sealed anew, only if the stored value is still old: a
// user who replaced the key meanwhile wins, and the rotation reports the row as changed.
func (s *Store) ReplaceSealedKey(ctx context.Context, taskID int64, old, sealed string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET crm_key_sealed = $1 WHERE id = $2 AND crm_key_sealed = $3`, sealed, taskID, old)
	if err != nil {
		return false, fmt.Errorf("store: replace sealed key of task %d: %w", taskID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: replace sealed key of task %d: %w", taskID, err)
	}
	return n == 1, nil
}
