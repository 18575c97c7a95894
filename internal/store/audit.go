package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEvent is one line of an account's audit log: who did what, when, from where. Detail
// says what changed in words and never holds a secret (no key, no password, no token).
type AuditEvent struct {
	ID        int64
	AccountID int64  // 0: the event belongs to no account (a failed login for an unknown email)
	UserID    int64  // 0: not a user (the command line)
	Actor     string // the user's email, or who else acted ("command line")
	Action    string
	Target    string // what was acted on: "import:12", "token:3", or ""
	Detail    string
	IP        string
	UserAgent string
	CreatedAt time.Time
}

// Bounds on what a client can make us store per event.
const (
	maxAuditText = 1000
	maxAuditIP   = 64
)

// AppendAudit adds an event to the audit log (append-only: the schema refuses changes).
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.nowUTC()
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	e.Actor, e.Detail = truncateUTF8(e.Actor, maxAuditText), truncateUTF8(e.Detail, maxAuditText)
	e.Target, e.IP = truncateUTF8(e.Target, maxAuditText), truncateUTF8(e.IP, maxAuditIP)
	e.UserAgent = truncateUTF8(e.UserAgent, maxUserAgent)
	var account sql.NullInt64
	if e.AccountID != 0 {
		account = sql.NullInt64{Int64: e.AccountID, Valid: true}
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO audit_log (account_id, user_id, actor, action, target, detail, ip, user_agent, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		account, e.UserID, e.Actor, e.Action, e.Target, e.Detail, e.IP, e.UserAgent, e.CreatedAt).Scan(&e.ID)
	if err != nil {
		return AuditEvent{}, fmt.Errorf("store: append audit event %s: %w", e.Action, err)
	}
	return e, nil
}

// AuditEvents lists the account's audit log newest first: at most limit events, older than
// the event beforeID when it is not 0 (paging).
func (s *Store) AuditEvents(ctx context.Context, accountID int64, beforeID int64, limit int) ([]AuditEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, account_id, user_id, actor, action, target, detail, ip, user_agent, created_at
		FROM audit_log WHERE account_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, accountID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var account sql.NullInt64
		if err := rows.Scan(&e.ID, &account, &e.UserID, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.IP, &e.UserAgent, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list audit events: %w", err)
		}
		e.AccountID = account.Int64
		e.CreatedAt = e.CreatedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
