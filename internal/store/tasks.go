package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"orderimport/internal/locale"
)

// Task statuses.
const (
	TaskOK             = "ok"
	TaskNeedsAttention = "needs_attention"
)

// Task is an import task ("задача на импорт"). The CRM key is kept only sealed.
type Task struct {
	ID                  int64
	AccountID           int64
	CounterID           int64
	Name                string
	Active              bool
	Type                string
	FrequencyHours      int
	CRMURL              string
	CRMKeySealed        string
	CRMKeyHint          string
	RateLimit           float64
	Mapping             map[string]string // the task's own choices, field → expression, over the defaults
	BackfillFrom        string            // YYYY-MM-DD or ""
	BackfillTo          string            // YYYY-MM-DD (inclusive) or ""
	Counting            *Counting         // what counts in revenue and profit; nil: every group except cancel
	Sites               []string          // the stores whose orders are imported; nil: every store the key can read
	Status              string
	StatusMsg           locale.Message // why the task needs attention; zero when it is ok
	ConsecutiveFailures int
	NextRunAt           *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// TriggerSealed is the token of the task's RetailCRM trigger URL, sealed ("" until the task
	// has one); TriggerRunAt is when the last triggered run was started.
	TriggerSealed string
	TriggerRunAt  *time.Time
	// PII is what the task keeps of a buyer's contacts: PIIKeep, PIIHash or PIIDrop.
	PII string
	// OrdersRetentionDays deletes the task's orders once their order date is older (nil: kept).
	OrdersRetentionDays *int
	// SavedBy is the user saving the task (0: the service): a new mapping version names them.
	// It is not a column of the task.
	SavedBy int64
}

// What a task keeps of a buyer's contacts (contact_name, contact_phone, contact_email).
const (
	PIIKeep = "keep" // as the mapping derives them
	PIIHash = "hash" // phone and email as SHA-256 hex of the normalised value, no name
	PIIDrop = "drop" // none of the three
)

const taskColumns = `id, account_id, counter_id, name, active, type, frequency_hours, crm_url, crm_key_sealed, crm_key_hint,
	rate_limit, mapping, backfill_from, status, status_message, consecutive_failures, next_run_at, created_at, updated_at,
	backfill_to, counting, sites, trigger_sealed, trigger_run_at, pii, orders_retention_days`

type scanner interface{ Scan(dest ...any) error }

func scanTask(row scanner) (Task, error) {
	var t Task
	var next, triggered sql.NullTime
	var spec, status, counting, sites string
	var retention sql.NullInt64
	err := row.Scan(&t.ID, &t.AccountID, &t.CounterID, &t.Name, &t.Active, &t.Type, &t.FrequencyHours, &t.CRMURL,
		&t.CRMKeySealed, &t.CRMKeyHint, &t.RateLimit, &spec, &t.BackfillFrom, &t.Status, &status,
		&t.ConsecutiveFailures, &next, &t.CreatedAt, &t.UpdatedAt, &t.BackfillTo, &counting, &sites, &t.TriggerSealed, &triggered,
		&t.PII, &retention)
	if err != nil {
		return t, err
	}
	if retention.Valid {
		days := int(retention.Int64)
		t.OrdersRetentionDays = &days
	}
	t.TriggerRunAt = nullTime(triggered)
	if t.Counting, err = decodeCounting(counting); err != nil {
		return t, fmt.Errorf("counting of task %d: %w", t.ID, err)
	}
	if t.Sites, err = decodeSites(sites); err != nil {
		return t, fmt.Errorf("stores of task %d: %w", t.ID, err)
	}
	if next.Valid {
		n := next.Time.UTC()
		t.NextRunAt = &n
	}
	t.StatusMsg = locale.Decode(status)
	if t.Mapping, err = decodeMapping(spec); err != nil {
		return t, fmt.Errorf("mapping of task %d: %w", t.ID, err)
	}
	return t, nil
}

// decodeMapping reads a task's stored mapping (a JSON object, "" for none).
func decodeMapping(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// encodeMapping is the stored form of a mapping: JSON with sorted keys, so equal mappings are
// equal texts.
func encodeMapping(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

// Counting is a task's choice of the orders that count in revenue and profit: those whose
// status is in one of StatusGroups and is not one of ExcludeStatuses.
type Counting struct {
	StatusGroups    []string `json:"status_groups"`
	ExcludeStatuses []string `json:"exclude_statuses"`
}

// decodeCounting reads a task's stored counting ("" for the default).
func decodeCounting(s string) (*Counting, error) {
	if s == "" {
		return nil, nil
	}
	var c Counting
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func encodeCounting(c *Counting) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(Counting{StatusGroups: nonNil(c.StatusGroups), ExcludeStatuses: nonNil(c.ExcludeStatuses)}) // lists of strings always marshal
	return string(b)
}

// decodeSites reads a task's stored stores ("" for every store).
func decodeSites(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func encodeSites(sites []string) string {
	if len(sites) == 0 {
		return ""
	}
	b, _ := json.Marshal(sites) // a list of strings always marshals
	return string(b)
}

// CreateTask stores a new task. The counter must belong to the same account. An active task
// is due immediately, so the scheduler starts its first run right after it is saved.
func (s *Store) CreateTask(ctx context.Context, t Task) (Task, error) {
	if _, err := s.Counter(ctx, t.AccountID, t.CounterID); err != nil {
		return Task{}, err
	}
	now := s.nowUTC()
	t.CreatedAt, t.UpdatedAt = now, now
	if t.Status == "" {
		t.Status = TaskOK
	}
	t.NextRunAt = nil
	if t.Active {
		t.NextRunAt = &now
	}
	if t.PII == "" {
		t.PII = PIIKeep
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO import_tasks (account_id, counter_id, name, active, type, frequency_hours, crm_url,
			crm_key_sealed, crm_key_hint, rate_limit, mapping, backfill_from, status, status_message, consecutive_failures, next_run_at,
			lease_owner, created_at, updated_at, backfill_to, counting, sites, pii, orders_retention_days)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, '', $16, $17, $18, $19, $20, $21, $22) RETURNING id`,
			t.AccountID, t.CounterID, t.Name, t.Active, t.Type, t.FrequencyHours, t.CRMURL, t.CRMKeySealed, t.CRMKeyHint,
			t.RateLimit, encodeMapping(t.Mapping), t.BackfillFrom, t.Status, locale.Encode(t.StatusMsg), t.NextRunAt, t.CreatedAt, t.UpdatedAt,
			t.BackfillTo, encodeCounting(t.Counting), encodeSites(t.Sites), t.PII, t.OrdersRetentionDays).Scan(&t.ID)
		if err != nil {
			return err
		}
		return s.saveMappingVersion(ctx, tx, t, now)
	})
	if err != nil {
		return Task{}, fmt.Errorf("store: create task: %w", err)
	}
	return t, nil
}

// Task loads one of the account's (not deleted) tasks.
func (s *Store) Task(ctx context.Context, accountID, id int64) (Task, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM import_tasks WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID))
	if err != nil {
		return Task{}, fmt.Errorf("store: task %d: %w", id, notFound(err))
	}
	return t, nil
}

// TaskForWorker loads a task for the import worker, which acts for the system rather than for
// a user; deleted tasks are ErrNotFound so their queued jobs end quietly.
func (s *Store) TaskForWorker(ctx context.Context, id int64) (Task, error) {
	var t Task
	err := s.patiently(ctx, func() (err error) {
		t, err = scanTask(s.w.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM import_tasks WHERE id = $1 AND deleted_at IS NULL`, id))
		return err
	})
	if err != nil {
		return Task{}, fmt.Errorf("store: task %d: %w", id, notFound(err))
	}
	return t, nil
}

// Tasks lists a counter's tasks (all of the account's when counterID is 0), oldest first.
func (s *Store) Tasks(ctx context.Context, accountID, counterID int64) ([]Task, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+taskColumns+` FROM import_tasks
		WHERE account_id = $1 AND ($2 = 0 OR counter_id = $2) AND deleted_at IS NULL ORDER BY id`, accountID, counterID)
	if err != nil {
		return nil, fmt.Errorf("store: list tasks: %w", err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpdateTask writes the editable fields of a task. The caller decides the new status and
// next run (an edit clears needs_attention; activating makes the task due now).
// A mapping that differs from the task's latest version becomes its next version, in the same
// transaction.
func (s *Store) UpdateTask(ctx context.Context, t Task) (Task, error) {
	t.UpdatedAt = s.nowUTC()
	if t.PII == "" {
		t.PII = PIIKeep
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE import_tasks SET name = $1, active = $2, type = $3, frequency_hours = $4, crm_url = $5,
			crm_key_sealed = $6, crm_key_hint = $7, rate_limit = $8, mapping = $9, backfill_from = $10, status = $11, status_message = $12,
			consecutive_failures = $13, next_run_at = $14, updated_at = $15, backfill_to = $16, counting = $17, sites = $18, pii = $19,
			orders_retention_days = $20
			WHERE id = $21 AND account_id = $22 AND deleted_at IS NULL`,
			t.Name, t.Active, t.Type, t.FrequencyHours, t.CRMURL, t.CRMKeySealed, t.CRMKeyHint, t.RateLimit, encodeMapping(t.Mapping), t.BackfillFrom,
			t.Status, locale.Encode(t.StatusMsg), t.ConsecutiveFailures, t.NextRunAt, t.UpdatedAt, t.BackfillTo, encodeCounting(t.Counting),
			encodeSites(t.Sites), t.PII, t.OrdersRetentionDays, t.ID, t.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.saveMappingVersion(ctx, tx, t, t.UpdatedAt)
	})
	if err != nil {
		return Task{}, fmt.Errorf("store: update task %d: %w", t.ID, err)
	}
	return t, nil
}

// DeleteTask stops a task for good. Its imported orders stay: they are the tracker's data. Its
// sealed CRM key goes: nothing may use it any more, and a key that is not kept cannot leak.
func (s *Store) DeleteTask(ctx context.Context, accountID, id int64) error {
	now := s.nowUTC()
	res, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET deleted_at = $1, active = $2, next_run_at = NULL, updated_at = $1,
		crm_key_sealed = ''
		WHERE id = $3 AND account_id = $4 AND deleted_at IS NULL`, now, false, id, accountID)
	if err != nil {
		return fmt.Errorf("store: delete task %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete task %d: %w", id, ErrNotFound)
	}
	return nil
}

// DueTasks lists active, healthy tasks whose next run is due, oldest due first, inside the
// scheduler's transaction.
func (s *Store) DueTasks(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]Task, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+taskColumns+` FROM import_tasks
		WHERE active = $1 AND status = $2 AND deleted_at IS NULL AND next_run_at IS NOT NULL AND next_run_at <= $3
		ORDER BY next_run_at, id LIMIT $4`, true, TaskOK, now.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due tasks: %w", err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("store: due tasks: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetNextRun moves a task's schedule, inside the scheduler's transaction.
func (s *Store) SetNextRun(ctx context.Context, tx *sql.Tx, taskID int64, next time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE import_tasks SET next_run_at = $1 WHERE id = $2`, next.UTC(), taskID); err != nil {
		return fmt.Errorf("store: set next run of task %d: %w", taskID, err)
	}
	return nil
}

// RecordTaskOutcomeTx updates a task's health after a run, inside the transaction that
// finishes the run: success resets the failure count, a failure increments it, and
// needsAttention parks the task until a user edits it.
func (s *Store) RecordTaskOutcomeTx(ctx context.Context, tx *sql.Tx, taskID int64, failed, needsAttention bool, msg locale.Message) error {
	q := `UPDATE import_tasks SET status = $1, status_message = $2, consecutive_failures = 0 WHERE id = $3`
	if failed {
		q = `UPDATE import_tasks SET status = $1, status_message = $2, consecutive_failures = consecutive_failures + 1 WHERE id = $3`
	}
	status := TaskOK
	if needsAttention {
		status = TaskNeedsAttention
	}
	if _, err := tx.ExecContext(ctx, q, status, locale.Encode(msg), taskID); err != nil {
		return fmt.Errorf("store: record outcome of task %d: %w", taskID, err)
	}
	return nil
}

// AcquireLease gives owner the exclusive right to run the task until `until`, unless another
// owner holds an unexpired lease. It is the cluster-wide "one run per task" guard that holds
// even if the job queue ever hands the same task to two workers.
func (s *Store) AcquireLease(ctx context.Context, taskID int64, owner string, until time.Time) (bool, error) {
	var res sql.Result
	err := s.patiently(ctx, func() (err error) {
		res, err = s.w.ExecContext(ctx, `UPDATE import_tasks SET lease_owner = $1, lease_until = $2
			WHERE id = $3 AND (lease_owner = $1 OR lease_owner = '' OR lease_until IS NULL OR lease_until < $4)`,
			owner, until.UTC(), taskID, s.nowUTC())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: lease task %d: %w", taskID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseAllLeases frees the task leases a dead process left behind. Only valid on SQLite,
// where a single process owns the database: at its start nobody can hold a lease, and a task
// killed mid-run would otherwise wait for its lease to expire before it resumes.
func (s *Store) ReleaseAllLeases(ctx context.Context) (int64, error) {
	if s.engine != SQLite {
		return 0, nil
	}
	res, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET lease_owner = '', lease_until = NULL WHERE lease_owner <> ''`)
	if err != nil {
		return 0, fmt.Errorf("store: release leases: %w", err)
	}
	return res.RowsAffected()
}

// ReleaseLease gives the task back.
func (s *Store) ReleaseLease(ctx context.Context, taskID int64, owner string) error {
	err := s.patiently(ctx, func() error {
		_, err := s.w.ExecContext(ctx, `UPDATE import_tasks SET lease_owner = '', lease_until = NULL WHERE id = $1 AND lease_owner = $2`, taskID, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release lease of task %d: %w", taskID, err)
	}
	return nil
}
