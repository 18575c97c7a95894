package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"orderimport/internal/locale"
)

// Alert channel types.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// AlertChannel is where an account's alerts go: an email address, or a URL that is posted a
// signed JSON message.
type AlertChannel struct {
	ID           int64
	AccountID    int64
	Type         string
	Address      string // email
	URL          string // webhook
	SecretSealed string // webhook: the signing secret, sealed
	Language     string // the language of its messages
	BaseURL      string // the service's address the channel was made from: its messages link there
	LastSentAt   *time.Time
	LastError    locale.Message // why the last message did not go; zero when it did
	CreatedAt    time.Time
}

const channelColumns = `id, account_id, type, address, url, secret_sealed, language, base_url, last_sent_at, last_error, created_at`

func scanChannel(row scanner) (AlertChannel, error) {
	var c AlertChannel
	var sent sql.NullTime
	var lastErr string
	err := row.Scan(&c.ID, &c.AccountID, &c.Type, &c.Address, &c.URL, &c.SecretSealed, &c.Language, &c.BaseURL, &sent, &lastErr, &c.CreatedAt)
	if err != nil {
		return AlertChannel{}, err
	}
	c.LastSentAt = nullTime(sent)
	c.LastError = locale.Decode(lastErr)
	return c, nil
}

// CreateAlertChannel adds an alert channel to the account.
func (s *Store) CreateAlertChannel(ctx context.Context, c AlertChannel) (AlertChannel, error) {
	c.CreatedAt = s.nowUTC()
	err := s.w.QueryRowContext(ctx, `INSERT INTO alert_channels (account_id, type, address, url, secret_sealed, language, base_url, last_error,
		created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8) RETURNING id`,
		c.AccountID, c.Type, c.Address, c.URL, c.SecretSealed, c.Language, c.BaseURL, c.CreatedAt).Scan(&c.ID)
	if err != nil {
		return AlertChannel{}, fmt.Errorf("store: create alert channel: %w", err)
	}
	return c, nil
}

// AlertChannel loads one of the account's alert channels.
func (s *Store) AlertChannel(ctx context.Context, accountID, id int64) (AlertChannel, error) {
	var c AlertChannel
	err := s.patiently(ctx, func() (err error) {
		c, err = scanChannel(s.w.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM alert_channels WHERE id = $1 AND account_id = $2`, id, accountID))
		return err
	})
	if err != nil {
		return AlertChannel{}, fmt.Errorf("store: alert channel %d: %w", id, notFound(err))
	}
	return c, nil
}

// AlertChannels lists the account's alert channels, oldest first.
func (s *Store) AlertChannels(ctx context.Context, accountID int64) ([]AlertChannel, error) {
	var out []AlertChannel
	err := s.patiently(ctx, func() error {
		out = out[:0]
		rows, err := s.w.QueryContext(ctx, `SELECT `+channelColumns+` FROM alert_channels WHERE account_id = $1 ORDER BY id`, accountID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanChannel(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: list alert channels: %w", err)
	}
	return out, nil
}

// DeleteAlertChannel removes one of the account's alert channels.
func (s *Store) DeleteAlertChannel(ctx context.Context, accountID, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM alert_channels WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return fmt.Errorf("store: delete alert channel %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete alert channel %d: %w", id, ErrNotFound)
	}
	return nil
}

// RecordAlertSent notes how the channel's latest message went (msg zero: it was sent).
func (s *Store) RecordAlertSent(ctx context.Context, id int64, at time.Time, msg locale.Message) error {
	q := `UPDATE alert_channels SET last_sent_at = $1, last_error = $2 WHERE id = $3`
	args := []any{at.UTC(), "", id}
	if !msg.IsZero() {
		q = `UPDATE alert_channels SET last_error = $1 WHERE id = $2`
		args = []any{locale.Encode(msg), id}
	}
	err := s.patiently(ctx, func() error {
		_, err := s.w.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record alert of channel %d: %w", id, err)
	}
	return nil
}

// Incident is something wrong with a task or a webhook, from when it was noticed until it is
// over. Subject names what it is about ("task:12", "webhook:3"); Kind what was wrong when it
// started, with Detail saying why.
type Incident struct {
	ID        int64
	AccountID int64
	Subject   string
	Kind      string
	TaskID    int64
	WebhookID int64
	Detail    locale.Message
	StartedAt time.Time
	EndedAt   *time.Time
}

const incidentColumns = `id, account_id, subject, kind, task_id, webhook_id, detail, started_at, ended_at`

func scanIncident(row scanner) (Incident, error) {
	var in Incident
	var detail string
	var ended sql.NullTime
	err := row.Scan(&in.ID, &in.AccountID, &in.Subject, &in.Kind, &in.TaskID, &in.WebhookID, &detail, &in.StartedAt, &ended)
	if err != nil {
		return Incident{}, err
	}
	in.Detail = locale.Decode(detail)
	in.EndedAt = nullTime(ended)
	in.StartedAt = in.StartedAt.UTC()
	return in, nil
}

// OpenIncidentTx is the subject's open incident, if any, inside the caller's transaction.
func (s *Store) OpenIncidentTx(ctx context.Context, tx *sql.Tx, subject string) (*Incident, error) {
	in, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE subject = $1 AND ended_at IS NULL`, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: open incident of %s: %w", subject, err)
	}
	return &in, nil
}

// StartIncidentTx opens an incident inside the caller's transaction (the one that enqueues its
// alerts).
func (s *Store) StartIncidentTx(ctx context.Context, tx *sql.Tx, in Incident) (Incident, error) {
	in.StartedAt = s.nowUTC()
	err := tx.QueryRowContext(ctx, `INSERT INTO incidents (account_id, subject, kind, task_id, webhook_id, detail, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		in.AccountID, in.Subject, in.Kind, in.TaskID, in.WebhookID, locale.Encode(in.Detail), in.StartedAt).Scan(&in.ID)
	if err != nil {
		return Incident{}, fmt.Errorf("store: start incident of %s: %w", in.Subject, err)
	}
	return in, nil
}

// EndIncidentTx closes an incident inside the caller's transaction.
func (s *Store) EndIncidentTx(ctx context.Context, tx *sql.Tx, id int64) (time.Time, error) {
	now := s.nowUTC()
	if _, err := tx.ExecContext(ctx, `UPDATE incidents SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL`, now, id); err != nil {
		return time.Time{}, fmt.Errorf("store: end incident %d: %w", id, err)
	}
	return now, nil
}

// IncidentForWorker loads an incident for its alert job.
func (s *Store) IncidentForWorker(ctx context.Context, id int64) (Incident, error) {
	var in Incident
	err := s.patiently(ctx, func() (err error) {
		in, err = scanIncident(s.w.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return Incident{}, fmt.Errorf("store: incident %d: %w", id, notFound(err))
	}
	return in, nil
}

// Incidents lists the account's incidents, newest first.
func (s *Store) Incidents(ctx context.Context, accountID int64, limit int) ([]Incident, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list incidents: %w", err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// OpenIncidentSubjects lists the subjects of every open incident, of every account (the
// scheduler looks again whether each is over).
func (s *Store) OpenIncidentSubjects(ctx context.Context) ([]string, error) {
	var out []string
	err := s.patiently(ctx, func() error {
		out = out[:0]
		rows, err := s.w.QueryContext(ctx, `SELECT subject FROM incidents WHERE ended_at IS NULL ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sub string
			if err := rows.Scan(&sub); err != nil {
				return err
			}
			out = append(out, sub)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	return out, nil
}

// TaskHealth is what the alert rules read about a task: its newest finished runs and its last
// success.
type TaskHealth struct {
	Task        Task
	Deleted     bool
	Recent      []Run      // the newest finished runs, newest first (at most 3)
	LastSuccess *time.Time // when the newest successful run finished
}

// TaskHealthTx reads a task's health inside the caller's transaction; a task deleted since is
// reported Deleted.
func (s *Store) TaskHealthTx(ctx context.Context, tx *sql.Tx, taskID int64) (TaskHealth, error) {
	var h TaskHealth
	t, err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM import_tasks WHERE id = $1 AND deleted_at IS NULL`, taskID))
	if errors.Is(err, sql.ErrNoRows) {
		h.Deleted = true
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("store: health of task %d: %w", taskID, err)
	}
	h.Task = t
	rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE task_id = $1 AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 3`, taskID)
	if err != nil {
		return h, fmt.Errorf("store: health of task %d: %w", taskID, err)
	}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return h, fmt.Errorf("store: health of task %d: %w", taskID, err)
		}
		h.Recent = append(h.Recent, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return h, fmt.Errorf("store: health of task %d: %w", taskID, err)
	}
	var last sql.NullTime
	err = tx.QueryRowContext(ctx, `SELECT finished_at FROM runs WHERE task_id = $1 AND status IN ($2, $3) ORDER BY id DESC LIMIT 1`,
		taskID, RunSucceeded, RunSucceededWithWarnings).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("store: last success of task %d: %w", taskID, err)
	}
	h.LastSuccess = nullTime(last)
	return h, nil
}

// StaleCandidate is an active task with when its newest success finished (nil: never) — the
// scheduler decides which have gone without one for too long.
type StaleCandidate struct {
	TaskID         int64
	FrequencyHours int
	CreatedAt      time.Time
	LastSuccess    *time.Time
}

// ActiveTaskSuccesses lists every active task of every account with its last success.
func (s *Store) ActiveTaskSuccesses(ctx context.Context) ([]StaleCandidate, error) {
	var out []StaleCandidate
	err := s.patiently(ctx, func() error {
		out = out[:0]
		// The newest success is joined as a row, not as an aggregate, so that its time keeps the
		// column's type on SQLite.
		rows, err := s.w.QueryContext(ctx, `SELECT t.id, t.frequency_hours, t.created_at, r.finished_at
			FROM import_tasks t LEFT JOIN runs r ON r.id = (SELECT r2.id FROM runs r2 WHERE r2.task_id = t.id AND r2.status IN ($1, $2)
				ORDER BY r2.id DESC LIMIT 1)
			WHERE t.active = $3 AND t.deleted_at IS NULL ORDER BY t.id`, RunSucceeded, RunSucceededWithWarnings, true)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c StaleCandidate
			var last sql.NullTime
			if err := rows.Scan(&c.TaskID, &c.FrequencyHours, &c.CreatedAt, &last); err != nil {
				return err
			}
			c.LastSuccess = nullTime(last)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: tasks' last successes: %w", err)
	}
	return out, nil
}

// LockIncidents serialises the changes of incidents between processes (PostgreSQL), so that two
// schedulers looking at one task at once open one incident, not two.
func (s *Store) LockIncidents(ctx context.Context, tx *sql.Tx) error {
	if s.engine != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('orderimport.incidents.' || current_schema()))`); err != nil {
		return fmt.Errorf("store: lock the incidents: %w", err)
	}
	return nil
}

// AlertChannelIDsTx lists the account's alert channels inside the caller's transaction.
func (s *Store) AlertChannelIDsTx(ctx context.Context, tx *sql.Tx, accountID int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM alert_channels WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: alert channels of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: alert channels of account %d: %w", accountID, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
