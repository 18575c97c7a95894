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

// Kinds of the sealed secrets besides the CRM keys.
const (
	SecretTriggerToken = "trigger_token"  // a task's trigger token (ID: the task's)
	SecretWebhook      = "webhook_secret" // a webhook's signing secret
	SecretAlertChannel = "alert_secret"   // an alert channel's signing secret
)

// SealedSecret is a stored sealed secret other than a CRM key, as a key rotation visits it.
type SealedSecret struct {
	Kind      string
	ID        int64
	AccountID int64
	Sealed    string
}

// sealedPlaces are where the sealed secrets are kept: table and column by kind.
var sealedPlaces = map[string]struct{ table, column string }{
	SecretTriggerToken: {"import_tasks", "trigger_sealed"},
	SecretWebhook:      {"webhooks", "secret_sealed"},
	SecretAlertChannel: {"alert_channels", "secret_sealed"},
}

// SealedSecrets lists every stored trigger token and signing secret, of every account, for the
// key rotation.
func (s *Store) SealedSecrets(ctx context.Context) ([]SealedSecret, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT '`+SecretTriggerToken+`', id, account_id, trigger_sealed FROM import_tasks WHERE trigger_sealed <> ''
		UNION ALL SELECT '`+SecretWebhook+`', id, account_id, secret_sealed FROM webhooks WHERE secret_sealed <> ''
		UNION ALL SELECT '`+SecretAlertChannel+`', id, account_id, secret_sealed FROM alert_channels WHERE secret_sealed <> ''
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("store: list sealed secrets: %w", err)
	}
	defer rows.Close()
	var out []SealedSecret
	for rows.Next() {
		var v SealedSecret
		if err := rows.Scan(&v.Kind, &v.ID, &v.AccountID, &v.Sealed); err != nil {
			return nil, fmt.Errorf("store: list sealed secrets: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ReplaceSealedSecret stores a secret sealed anew, only if the stored value is still old.
func (s *Store) ReplaceSealedSecret(ctx context.Context, kind string, id int64, old, sealed string) (bool, error) {
	place, ok := sealedPlaces[kind]
	if !ok {
		return false, fmt.Errorf("store: replace a sealed secret: unknown kind %q", kind)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE `+place.table+` SET `+place.column+` = $1 WHERE id = $2 AND `+place.column+` = $3`, sealed, id, old)
	if err != nil {
		return false, fmt.Errorf("store: replace the sealed %s %d: %w", kind, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: replace the sealed %s %d: %w", kind, id, err)
	}
	return n == 1, nil
}
