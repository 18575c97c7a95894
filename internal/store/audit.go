package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"orderimport/internal/locale"
)

// AuditEvent is one line of an account's audit log: who did what, when, from where. Detail
// says what changed, as a message, and never holds a secret (no key, no password, no token).
type AuditEvent struct {
	ID        int64
	AccountID int64  // 0: the event belongs to no account (a failed login for an unknown email)
	UserID    int64  // 0: not a user (the command line)
	Actor     string // the user's email, or who else acted ("command line")
	Action    string
	Target    string // what was acted on: "import:12", "token:3", or ""
	Detail    locale.Message
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
	e.Actor = truncateUTF8(e.Actor, maxAuditText)
	detail := locale.Encode(clipArgs(e.Detail))
	e.Target, e.IP = truncateUTF8(e.Target, maxAuditText), truncateUTF8(e.IP, maxAuditIP)
	e.UserAgent = truncateUTF8(e.UserAgent, maxUserAgent)
	var account sql.NullInt64
	if e.AccountID != 0 {
		account = sql.NullInt64{Int64: e.AccountID, Valid: true}
	}
	err := s.w.QueryRowContext(ctx, `INSERT INTO audit_log (account_id, user_id, actor, action, target, detail, ip, user_agent, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		account, e.UserID, e.Actor, e.Action, e.Target, detail, e.IP, e.UserAgent, e.CreatedAt).Scan(&e.ID)
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
		var detail string
		if err := rows.Scan(&e.ID, &account, &e.UserID, &e.Actor, &e.Action, &e.Target, &detail, &e.IP, &e.UserAgent, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list audit events: %w", err)
		}
		e.AccountID = account.Int64
		e.CreatedAt = e.CreatedAt.UTC()
		e.Detail = locale.Decode(detail)
		if e.Detail.Code == "legacy_text" {
			e.Detail = legacyAuditDetail(e.Detail.Detail)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// clipArgs shortens the text arguments of an audit detail (names, addresses) so that a stored
// event stays small whatever a client sends.
func clipArgs(m locale.Message) locale.Message {
	for k, v := range m.Args {
		if s, ok := v.(string); ok && len(s) > 300 {
			m = m.WithArg(k, truncateUTF8(s, 300))
		}
	}
	m.Detail = truncateUTF8(m.Detail, maxAuditText)
	return m
}

// legacyAuditDetail reads the detail of an event written before details were messages (the
// audit log is append-only, so those rows stay as they were written).
func legacyAuditDetail(text string) locale.Message {
	switch {
	case text == "new session":
		return locale.M("audit_session_started")
	case strings.HasPrefix(text, "changed: "):
		var fields []string
		for _, f := range strings.Split(strings.TrimPrefix(text, "changed: "), ", ") {
			name, _, _ := strings.Cut(f, " (")
			if name != "nothing" {
				fields = append(fields, name)
			}
		}
		return locale.M("audit_task_changed", "fields", strings.Join(fields, ","))
	}
	return locale.Message{Code: "legacy_text", Detail: text}
}
