package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MappingVersion is one mapping a task was saved with.
type MappingVersion struct {
	Version     int
	Mapping     map[string]string // the task's own choices, as Task.Mapping
	CreatedAt   time.Time
	CreatedByID int64  // 0: the service
	CreatedBy   string // the user's email when the version was saved ("" for the service)
}

// saveMappingVersion records t's mapping as the task's next version when it differs from the
// latest one (inside the transaction that saves the task).
func (s *Store) saveMappingVersion(ctx context.Context, tx *sql.Tx, t Task, at time.Time) error {
	spec := encodeMapping(t.Mapping)
	var last int
	var latest string
	err := tx.QueryRowContext(ctx, `SELECT version, mapping FROM mapping_versions WHERE task_id = $1 ORDER BY version DESC LIMIT 1`, t.ID).
		Scan(&last, &latest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("latest mapping version of task %d: %w", t.ID, err)
	}
	if err == nil && latest == spec {
		return nil
	}
	email := ""
	if t.SavedBy != 0 {
		if err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, t.SavedBy).Scan(&email); err != nil {
			return fmt.Errorf("author %d of a mapping version: %w", t.SavedBy, notFound(err))
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mapping_versions (account_id, task_id, version, mapping, created_at, created_by_id, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.AccountID, t.ID, last+1, spec, at, t.SavedBy, email)
	if err != nil {
		return fmt.Errorf("save mapping version %d of task %d: %w", last+1, t.ID, err)
	}
	return nil
}

// MappingVersions lists a task's mapping versions, the newest first.
func (s *Store) MappingVersions(ctx context.Context, accountID, taskID int64) ([]MappingVersion, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version, mapping, created_at, created_by_id, created_by FROM mapping_versions
		WHERE task_id = $1 AND account_id = $2 ORDER BY version DESC`, taskID, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: mapping versions of task %d: %w", taskID, err)
	}
	defer rows.Close()
	out := []MappingVersion{}
	for rows.Next() {
		v, err := scanMappingVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store: mapping versions of task %d: %w", taskID, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mapping versions of task %d: %w", taskID, err)
	}
	return out, nil
}

// MappingVersionOf loads one of a task's mapping versions.
func (s *Store) MappingVersionOf(ctx context.Context, accountID, taskID int64, version int) (MappingVersion, error) {
	v, err := scanMappingVersion(s.r.QueryRowContext(ctx, `SELECT version, mapping, created_at, created_by_id, created_by FROM mapping_versions
		WHERE task_id = $1 AND account_id = $2 AND version = $3`, taskID, accountID, version))
	if err != nil {
		return MappingVersion{}, fmt.Errorf("store: mapping version %d of task %d: %w", version, taskID, notFound(err))
	}
	return v, nil
}

func scanMappingVersion(row scanner) (MappingVersion, error) {
	var v MappingVersion
	var spec string
	if err := row.Scan(&v.Version, &spec, &v.CreatedAt, &v.CreatedByID, &v.CreatedBy); err != nil {
		return v, err
	}
	v.CreatedAt = v.CreatedAt.UTC()
	var err error
	if v.Mapping, err = decodeMapping(spec); err != nil {
		return v, fmt.Errorf("mapping version %d: %w", v.Version, err)
	}
	return v, nil
}

// RawOrder is a stored order's kept RetailCRM order, compressed as the importer stored it, with
// the contacts stored for it (under pii=hash the kept copy has none, and a re-map that leaves
// the contacts' expressions alone carries the stored hashes over).
type RawOrder struct {
	ID    int64 // the order row's id
	CRMID int64
	Raw   []byte
	// Digest is the copy's digest, as the row's hash carries it since the copy was written
	// ("" for a row written without one).
	Digest string

	ContactName, ContactPhone, ContactEmail string

	// Row, when asked for, is the stored row's ids, hash and tracker fields (what a re-map that
	// evaluates some fields anew keeps of the others); its other fields are empty.
	Row *OrderRow
}

// RawBatchEnd is the RetailCRM id that ends a batch of a re-map after afterCRMID: that of the
// n-th of the task's rows (live or not) after it in RetailCRM id order, or of the last one when
// fewer follow; 0 when none does. It reads only the task's index on RetailCRM ids, so that a
// re-map can fix its batches' bounds at once and read each batch's orders (RawOrdersIn) where
// it maps them. A batch so bounded has at most n live orders: a task has one live row per
// RetailCRM id.
func (s *Store) RawBatchEnd(ctx context.Context, taskID, afterCRMID int64, n int) (int64, error) {
	var end sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT crm_id FROM orders WHERE task_id = $1 AND crm_id > $2 ORDER BY crm_id LIMIT 1 OFFSET $3`,
		taskID, afterCRMID, n-1).Scan(&end)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.r.QueryRowContext(ctx, `SELECT MAX(crm_id) FROM orders WHERE task_id = $1 AND crm_id > $2`, taskID, afterCRMID).Scan(&end)
	}
	if err != nil {
		return 0, fmt.Errorf("store: end of a batch of task %d's orders after %d: %w", taskID, afterCRMID, err)
	}
	return end.Int64, nil
}

// RawOrdersIn reads the task's live orders that have a kept raw order, with RetailCRM ids in
// (afterCRMID, upToCRMID], in RetailCRM id order (the task's index on it), with their rows'
// tracker fields (RawOrder.Row) when withRows is set. A re-map walks a task's orders in such ranges (RawBatchEnd)
// and resumes after the last one it applied. Rows a re-map creates (an order under a new
// order_id) have the RetailCRM id of a range it has passed: each order is read once.
func (s *Store) RawOrdersIn(ctx context.Context, taskID, afterCRMID, upToCRMID int64, withRows bool) ([]RawOrder, error) {
	cols := `id, crm_id, hash, contact_name, contact_phone, contact_email`
	if withRows {
		cols += `, order_id, order_date, order_local, session_id, user_id, item_count, profit, revenue, comment, tags`
	}
	rows, err := s.r.QueryContext(ctx, `SELECT raw, `+cols+` FROM orders
		WHERE task_id = $1 AND crm_id > $2 AND crm_id <= $3 AND deleted = $4 AND raw IS NOT NULL ORDER BY crm_id`,
		taskID, afterCRMID, upToCRMID, false)
	if err != nil {
		return nil, fmt.Errorf("store: raw orders of task %d: %w", taskID, err)
	}
	defer rows.Close()
	out := make([]RawOrder, 0, 64)
	for rows.Next() {
		var o RawOrder
		var hash, tags string
		dest := []any{&o.Raw, &o.ID, &o.CRMID, &hash, &o.ContactName, &o.ContactPhone, &o.ContactEmail}
		if withRows {
			o.Row = new(OrderRow)
			r := o.Row
			dest = append(dest, &r.OrderID, &r.OrderDate, &r.OrderLocal, &r.SessionID, &r.UserID, &r.ItemCount, &r.Profit, &r.Revenue,
				&r.Comment, &tags)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: raw orders of task %d: %w", taskID, err)
		}
		if r := o.Row; r != nil {
			r.ID, r.TaskID, r.CRMID, r.Hash = o.ID, taskID, o.CRMID, hash
			r.ContactName, r.ContactPhone, r.ContactEmail = o.ContactName, o.ContactPhone, o.ContactEmail
			if err := decodeTags(tags, &r.Tags); err != nil {
				return nil, fmt.Errorf("store: raw orders of task %d: %w", taskID, err)
			}
		}
		o.Digest = copyPart(hash)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: raw orders of task %d: %w", taskID, err)
	}
	return out, nil
}

// RetainedTask is a task whose orders expire Days days after their order date.
type RetainedTask struct {
	TaskID, CounterID int64
	Days              int
}

// RetainedTasks lists the tasks with an orders retention, deleted tasks included (their orders
// stay in the tracker, and so does the promise to delete them in time).
func (s *Store) RetainedTasks(ctx context.Context) ([]RetainedTask, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, counter_id, orders_retention_days FROM import_tasks
		WHERE orders_retention_days IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: tasks with an orders retention: %w", err)
	}
	defer rows.Close()
	var out []RetainedTask
	for rows.Next() {
		var t RetainedTask
		if err := rows.Scan(&t.TaskID, &t.CounterID, &t.Days); err != nil {
			return nil, fmt.Errorf("store: tasks with an orders retention: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ExpireOrders deletes for good the task's orders whose order date (UTC) is before cutoff, at
// most limit per transaction until none is left, and returns how many went. Each goes in the
// feed's way: it takes a feed position and stays as a tombstone — deleted, its order_id, RetailCRM
// id and dates and nothing else; every mapped value, its kept raw order and its timeline are
// gone — so a reader of the feed or a webhook learns that it is gone, whenever it reads. A
// tombstone has an empty hash: it is not taken again, and an order RetailCRM sends again is
// stored anew.
func (s *Store) ExpireOrders(ctx context.Context, task RetainedTask, cutoff time.Time, limit int) (int64, error) {
	before := cutoff.UTC().Format(time.DateTime)
	var total int64
	// The task's orders are walked by row id from where the last transaction stopped: one pass
	// over them a day, without an index on dates that every import would have to keep up.
	var after int64
	for {
		var n, last int64
		err := s.tx(ctx, func(tx *sql.Tx) error {
			n, last = 0, after
			rows, err := tx.QueryContext(ctx, `SELECT id FROM orders WHERE task_id = $1 AND id > $2 AND order_date < $3 AND hash <> '' ORDER BY id LIMIT $4`,
				task.TaskID, after, before, limit)
			if err != nil {
				return err
			}
			var ids []any
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
				last = id
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				return err
			}
			pos, err := s.feedPosition(ctx, tx, task.CounterID)
			if err != nil {
				return err
			}
			in := placeholders(5, len(ids))
			res, err := tx.ExecContext(ctx, `UPDATE orders SET deleted = $1, hash = '', raw = NULL, feed_seq = $2, updated_at = $3,
				session_id = '', user_id = '', item_count = '', profit = '', revenue = '', comment = '', contact_name = '',
				contact_phone = '', contact_email = '', tags = '[]', status = '', site = '', order_number = '', number_key = '',
				status_group = '', currency = '', counted = $4, utm_source = '', utm_medium = '', utm_campaign = '',
				utm_keyword = '', utm_content = '', events = 0 WHERE id IN (`+in+`)`, append([]any{true, pos, s.nowUTC(), false}, ids...)...)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM order_events WHERE order_row_id IN (`+placeholders(1, len(ids))+`)`, ids...)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: expire orders of task %d before %s: %w", task.TaskID, before, err)
		}
		total += n
		after = last
		if n < int64(limit) {
			return total, nil
		}
	}
}

// contactFields are the exported fields that hold a buyer's contacts.
var contactFields = []string{"contact_name", "contact_phone", "contact_email"}

// isContact tells a contact field.
func isContact(field string) bool {
	return field == "contact_name" || field == "contact_phone" || field == "contact_email"
}

// withheld is a contact value as a task that keeps no clear contacts (pii hash or drop) may
// keep it in a timeline: empty and SHA-256 hex values as they are, anything else (a clear
// phone, email or name, from before the switch) as nil.
func withheld(v any) any {
	s, _ := v.(string)
	if s == "" || isSHA256Hex(s) {
		return v
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// keepsClearContacts tells whether the task keeps contacts in clear (pii keep).
func keepsClearContacts(ctx context.Context, tx *sql.Tx, taskID int64) (bool, error) {
	var pii string
	err := tx.QueryRowContext(ctx, `SELECT pii FROM import_tasks WHERE id = $1`, taskID).Scan(&pii)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("what task %d keeps of contacts: %w", taskID, err)
	}
	return pii == "" || pii == PIIKeep, nil
}

// ForgetClearContacts removes every clear contact the task's records still hold outside its
// orders (which its re-map rewrites): the old and new contact values of its orders' timeline
// events (a SHA-256 hex value stays) and the values of its runs' issues about contact fields.
// A task switched to pii hash or drop calls it in the same breath as the switch.
func (s *Store) ForgetClearContacts(ctx context.Context, accountID, taskID int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var owner int64
		if err := tx.QueryRowContext(ctx, `SELECT account_id FROM import_tasks WHERE id = $1`, taskID).Scan(&owner); err != nil || owner != accountID {
			return ErrNotFound
		}
		if err := forgetEventContacts(ctx, tx, taskID); err != nil {
			return err
		}
		return forgetIssueContacts(ctx, tx, taskID)
	})
	if err != nil {
		return fmt.Errorf("store: forget the clear contacts of task %d: %w", taskID, err)
	}
	return nil
}

func forgetEventContacts(ctx context.Context, tx *sql.Tx, taskID int64) error {
	return rewriteTexts(ctx, tx, "order events",
		`SELECT id, changes FROM order_events WHERE task_id = $1 AND changes LIKE $2`, `UPDATE order_events SET changes = $1 WHERE id = $2`,
		[]any{taskID, `%"contact_%`}, func(text string) (string, error) {
			var changes map[string]Change
			if err := json.Unmarshal([]byte(text), &changes); err != nil {
				return "", err
			}
			for _, f := range contactFields {
				if ch, ok := changes[f]; ok {
					changes[f] = Change{Old: withheld(ch.Old), New: withheld(ch.New)}
				}
			}
			b, err := json.Marshal(changes)
			return string(b), err
		})
}

func forgetIssueContacts(ctx context.Context, tx *sql.Tx, taskID int64) error {
	return rewriteTexts(ctx, tx, "run issues",
		`SELECT id, issues FROM runs WHERE task_id = $1 AND issues LIKE $2`, `UPDATE runs SET issues = $1 WHERE id = $2`,
		[]any{taskID, `%"contact_%`}, func(text string) (string, error) {
			var list []Issue
			if err := json.Unmarshal([]byte(text), &list); err != nil {
				return "", err
			}
			changed := false
			for i := range list {
				if isContact(list[i].Field) && (list[i].Value != "" || list[i].Msg.Detail != "") {
					list[i].Value, list[i].Msg.Detail = "", ""
					changed = true
				}
			}
			if !changed {
				return text, nil
			}
			b, err := json.Marshal(list)
			return string(b), err
		})
}

// rewriteTexts reads (id, text) rows with sel and writes back, with update, each text that fix
// changes. The rows are read whole before the first write (one statement at a time per
// transaction).
func rewriteTexts(ctx context.Context, tx *sql.Tx, what, sel, update string, args []any, fix func(string) (string, error)) error {
	rows, err := tx.QueryContext(ctx, sel, args...)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	type rewrite struct {
		id   int64
		text string
	}
	var out []rewrite
	for rows.Next() {
		var id int64
		var text string
		if err := rows.Scan(&id, &text); err != nil {
			rows.Close()
			return fmt.Errorf("read %s: %w", what, err)
		}
		fixed, err := fix(text)
		if err != nil {
			rows.Close()
			return fmt.Errorf("rewrite %s %d: %w", what, id, err)
		}
		if fixed != text {
			out = append(out, rewrite{id, fixed})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	for _, r := range out {
		if _, err := tx.ExecContext(ctx, update, r.text, r.id); err != nil {
			return fmt.Errorf("rewrite %s %d: %w", what, r.id, err)
		}
	}
	return nil
}

// ErrScrubIncomplete is returned by Scrub when readers kept part of the write-ahead log in
// use; the next Scrub finishes the work.
var ErrScrubIncomplete = errors.New("store: the write-ahead log is still read; it is cleared next time")

// Scrub clears what deleted or rewritten rows leave behind outside the live rows, after a
// task's contacts were rewritten (pii hash or drop) or orders were deleted for retention. On
// SQLite the file overwrites freed space with zeros (secure_delete), but the write-ahead log
// still holds the pages as they were before, until it is checkpointed and cut to zero bytes:
// this does that. On PostgreSQL the server's files are the server's (old row versions stay in
// them until VACUUM reuses their space; docs/SECURITY.md says what an operator does).
func (s *Store) Scrub(ctx context.Context) error {
	if s.engine != SQLite {
		return nil
	}
	// Not while the checkpointer copies the log: one checkpoint at a time, or this one is busy.
	unlock := s.ck.hold()
	defer unlock()
	var busy, logPages, done int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("store: checkpoint the write-ahead log: %w", err)
	}
	if busy != 0 {
		return ErrScrubIncomplete
	}
	return nil
}
