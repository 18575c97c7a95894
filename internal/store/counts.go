package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reference is RetailCRM's reference as a task's last run (or its creation) read it: the
// statuses with their groups and names, the status groups, the stores with their names and
// currencies, and the account's default currency. Names are looked up here whenever an order
// is shown, so a status renamed in RetailCRM reads under its new name without re-reading orders.
type Reference struct {
	Statuses        []RefStatus `json:"statuses"`
	Groups          []RefGroup  `json:"groups"`
	Sites           []RefSite   `json:"sites"`
	DefaultCurrency string      `json:"default_currency"`
	// KeySites are the stores the task's key may read, when it is limited to some (nil: all).
	KeySites []string `json:"key_sites,omitempty"`
	// Unreadable: the key may not read the reference (no reference_read); the lists are the
	// last ones read, or empty.
	Unreadable bool `json:"unreadable,omitempty"`
}

// RefStatus is an order status of the reference.
type RefStatus struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Group    string `json:"group"`
	Active   bool   `json:"active"`
	Ordering int    `json:"ordering"`
}

// RefGroup is a status group of the reference.
type RefGroup struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Ordering int    `json:"ordering"`
}

// RefSite is a store of the reference.
type RefSite struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
}

// Status finds a status by its code.
func (r *Reference) Status(code string) (RefStatus, bool) {
	for _, s := range r.Statuses {
		if s.Code == code {
			return s, true
		}
	}
	return RefStatus{}, false
}

// Group finds a status group by its code.
func (r *Reference) Group(code string) (RefGroup, bool) {
	for _, g := range r.Groups {
		if g.Code == code {
			return g, true
		}
	}
	return RefGroup{}, false
}

// Site finds a store by its code.
func (r *Reference) Site(code string) (RefSite, bool) {
	for _, s := range r.Sites {
		if s.Code == code {
			return s, true
		}
	}
	return RefSite{}, false
}

// Classes is what a task makes of each status: its group and whether its orders count. It is
// derived from the reference and the task's counting (internal/counting) and applied to the
// task's orders here, at every write and by Recount.
type Classes struct {
	Statuses map[string]StatusClass `json:"statuses"`
	// Unknown is whether an order whose status the reference does not name counts.
	Unknown bool `json:"unknown"`
}

// StatusClass is one status's group and whether its orders count.
type StatusClass struct {
	Group   string `json:"group"`
	Counted bool   `json:"counted"`
}

// Of is the group of a status and whether its orders count.
func (c *Classes) Of(status string) (group string, counted bool) {
	if c == nil {
		return "", true // a task whose reference was never read counts every order, as before
	}
	if sc, ok := c.Statuses[status]; ok {
		return sc.Group, sc.Counted
	}
	return "", c.Unknown
}

func (c *Classes) equal(d *Classes) bool {
	if c == nil || d == nil {
		return c == d
	}
	return c.Unknown == d.Unknown && maps.Equal(c.Statuses, d.Statuses)
}

// TaskReference is a task's kept reference.
type TaskReference struct {
	TaskID         int64
	Reference      Reference
	Classes        Classes
	RecountPending bool
	ReadAt         time.Time
}

func decodeReference(ref, classes string) (Reference, Classes, error) {
	var r Reference
	var c Classes
	if err := json.Unmarshal([]byte(ref), &r); err != nil {
		return r, c, fmt.Errorf("decode reference: %w", err)
	}
	if err := json.Unmarshal([]byte(classes), &c); err != nil {
		return r, c, fmt.Errorf("decode classes: %w", err)
	}
	return r, c, nil
}

// TaskReference loads a task's kept reference; ErrNotFound when none was read yet.
func (s *Store) TaskReference(ctx context.Context, accountID, taskID int64) (TaskReference, error) {
	tr := TaskReference{TaskID: taskID}
	var ref, classes string
	err := s.patiently(ctx, func() error {
		return s.r.QueryRowContext(ctx, `SELECT reference, classes, recount_pending, read_at FROM crm_references
			WHERE task_id = $1 AND account_id = $2`, taskID, accountID).Scan(&ref, &classes, &tr.RecountPending, &tr.ReadAt)
	})
	if err != nil {
		return tr, fmt.Errorf("store: reference of task %d: %w", taskID, notFound(err))
	}
	if tr.Reference, tr.Classes, err = decodeReference(ref, classes); err != nil {
		return tr, fmt.Errorf("store: reference of task %d: %w", taskID, err)
	}
	return tr, nil
}

// CounterReferences loads the kept references of every task that imported into a counter,
// deleted tasks included (their orders stay), by task id.
func (s *Store) CounterReferences(ctx context.Context, accountID, counterID int64) (map[int64]Reference, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.task_id, r.reference, r.classes FROM crm_references r
		JOIN import_tasks t ON t.id = r.task_id WHERE r.account_id = $1 AND t.counter_id = $2 ORDER BY r.task_id`, accountID, counterID)
	if err != nil {
		return nil, fmt.Errorf("store: references of counter %d: %w", counterID, err)
	}
	defer rows.Close()
	out := map[int64]Reference{}
	for rows.Next() {
		var id int64
		var ref, classes string
		if err := rows.Scan(&id, &ref, &classes); err != nil {
			return nil, fmt.Errorf("store: references of counter %d: %w", counterID, err)
		}
		r, _, err := decodeReference(ref, classes)
		if err != nil {
			return nil, fmt.Errorf("store: reference of task %d: %w", id, err)
		}
		out[id] = r
	}
	return out, rows.Err()
}

// lockClasses reads a task's classes inside tx and holds them until tx ends: the statement is
// an UPDATE, so on PostgreSQL it takes the row's lock, and a change of the classes (Recount)
// waits for every batch that wrote orders under the old ones, and they for it. Without the
// lock a batch that read the old classes could commit new orders after the re-evaluation
// passed them by. nil: the task has no reference yet.
func lockClasses(ctx context.Context, tx *sql.Tx, taskID int64) (*Classes, int64, error) {
	var text string
	var version int64
	err := tx.QueryRowContext(ctx, `UPDATE crm_references SET classes_version = classes_version WHERE task_id = $1
		RETURNING classes, classes_version`, taskID).Scan(&text, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the classes of task %d: %w", taskID, err)
	}
	var c Classes
	if err := json.Unmarshal([]byte(text), &c); err != nil {
		return nil, 0, fmt.Errorf("decode the classes of task %d: %w", taskID, err)
	}
	return &c, version, nil
}

// RecountBatch is how many orders one transaction of Recount re-evaluates: large enough that
// the per-transaction cost is spread thin, small enough that imports of other tasks never wait
// long for the single SQLite writer (10,000 orders are about 30 ms there).
const RecountBatch = 10_000

// RecountResult says what Recount did.
type RecountResult struct {
	Recounted bool  // the orders were re-evaluated (the classes changed, or a re-evaluation was left unfinished)
	Changed   int64 // orders whose status group or counted flag changed
	Batches   int64
}

// Recount keeps a task's reference and classes and brings its stored orders in line with the
// classes: each order's status group and counted flag are derived again from its status, in
// the database, without reading any order from RetailCRM. It is the one place where a change
// of what counts reaches stored orders, whether the task's counting changed or RetailCRM moved
// a status to another group.
//
// ref, when not nil, replaces the kept reference. When the classes differ from the kept ones,
// or an earlier re-evaluation did not finish, the orders are re-evaluated in batches of
// RecountBatch, one transaction each, in RetailCRM id order; only orders whose group or flag
// changes are written. The classes are stored first, in their own transaction, so that every
// import batch from then on writes orders under them; a re-evaluation cut off (a crash) is
// finished by the next call.
func (s *Store) Recount(ctx context.Context, accountID, taskID int64, ref *Reference, cls Classes) (RecountResult, error) {
	var res RecountResult
	var pending bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		pending = false
		now := s.nowUTC()
		var oldClassesText string
		var oldPending bool
		err := tx.QueryRowContext(ctx, `SELECT classes, recount_pending FROM crm_references WHERE task_id = $1`, taskID).Scan(&oldClassesText, &oldPending)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		changed := true
		if exists {
			var old Classes
			if err := json.Unmarshal([]byte(oldClassesText), &old); err == nil {
				changed = !old.equal(&cls)
			}
		}
		pending = changed || (exists && oldPending)
		classesText, err := json.Marshal(cls)
		if err != nil {
			return err
		}
		if !exists {
			if ref == nil {
				ref = &Reference{}
			}
			refText, err := json.Marshal(ref)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO crm_references (task_id, account_id, reference, classes, classes_version, recount_pending,
				read_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $6)`, taskID, accountID, string(refText), string(classesText), pending, now)
			return err
		}
		if ref != nil {
			refText, err := json.Marshal(ref)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE crm_references SET reference = $1, read_at = $2 WHERE task_id = $3`,
				string(refText), now, taskID); err != nil {
				return err
			}
		}
		if changed {
			_, err = tx.ExecContext(ctx, `UPDATE crm_references SET classes = $1, classes_version = classes_version + 1,
				recount_pending = $2, updated_at = $3 WHERE task_id = $4`, string(classesText), true, now, taskID)
		}
		return err
	})
	if err != nil {
		return res, fmt.Errorf("store: keep the reference of task %d: %w", taskID, err)
	}
	if !pending {
		return res, nil
	}
	res.Recounted = true
	var after int64 = -1 << 63
	for {
		var n, last int64
		var done bool
		err := s.tx(ctx, func(tx *sql.Tx) (err error) {
			n, last, done, err = s.recountBatch(ctx, tx, taskID, after)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("store: re-evaluate the orders of task %d: %w", taskID, err)
		}
		res.Changed += n
		res.Batches++
		if done {
			return res, nil
		}
		after = last
	}
}

// recountBatch re-evaluates the task's orders with RetailCRM ids in (after, the id RecountBatch
// orders further]; the last batch clears the pending flag, unless the classes changed again
// meanwhile (that change re-evaluates them all by itself).
func (s *Store) recountBatch(ctx context.Context, tx *sql.Tx, taskID, after int64) (changed, last int64, done bool, err error) {
	cls, version, err := lockClasses(ctx, tx, taskID)
	if err != nil || cls == nil {
		return 0, 0, true, err
	}
	err = tx.QueryRowContext(ctx, `SELECT crm_id FROM orders WHERE task_id = $1 AND crm_id > $2 ORDER BY crm_id LIMIT 1 OFFSET $3`,
		taskID, after, s.recountBatchSize()-1).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		done, last = true, 1<<63-1
	case err != nil:
		return 0, 0, false, fmt.Errorf("find the end of a batch: %w", err)
	}
	// status_group and counted are exported: the orders that change take a position in the
	// counter's feed, under the counter's lock taken after the classes' (as imports take them).
	var counterID int64
	if err := tx.QueryRowContext(ctx, `SELECT counter_id FROM import_tasks WHERE id = $1`, taskID).Scan(&counterID); err != nil {
		return 0, 0, false, fmt.Errorf("counter of task %d: %w", taskID, notFound(err))
	}
	pos, err := s.feedPosition(ctx, tx, counterID)
	if err != nil {
		return 0, 0, false, err
	}
	group, counted, args := classExpressions(cls, []any{taskID, after, last, s.nowUTC(), pos})
	r, err := tx.ExecContext(ctx, `UPDATE orders SET status_group = `+group+`, counted = `+counted+`, updated_at = $4, feed_seq = $5
		WHERE task_id = $1 AND crm_id > $2 AND crm_id <= $3 AND (status_group <> `+group+` OR counted <> `+counted+`)`, args...)
	if err != nil {
		return 0, 0, false, fmt.Errorf("re-evaluate orders: %w", err)
	}
	changed, _ = r.RowsAffected()
	if done {
		_, err = tx.ExecContext(ctx, `UPDATE crm_references SET recount_pending = $1 WHERE task_id = $2 AND classes_version = $3`,
			false, taskID, version)
	}
	return changed, last, done, err
}

func (s *Store) recountBatchSize() int {
	if s.recountSize > 0 {
		return s.recountSize
	}
	return RecountBatch
}

// classExpressions writes the classes as SQL over an order's status: its group (a CASE) and
// whether it counts (an IN list), with their values as parameters after args.
func classExpressions(c *Classes, args []any) (group, counted string, out []any) {
	codes := slices.Sorted(maps.Keys(c.Statuses))
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var g strings.Builder
	g.WriteString("CASE status")
	var yes, known []string
	for _, code := range codes {
		sc := c.Statuses[code]
		p := param(code)
		known = append(known, p)
		if sc.Group != "" {
			fmt.Fprintf(&g, " WHEN %s THEN %s", p, param(sc.Group))
		}
		if sc.Counted {
			yes = append(yes, p)
		}
	}
	g.WriteString(" ELSE '' END")
	group = g.String()
	if len(known) == 0 {
		group = "''"
	}
	var parts []string
	if len(yes) > 0 {
		parts = append(parts, "status IN ("+strings.Join(yes, ", ")+")")
	}
	if c.Unknown {
		if len(known) == 0 {
			parts = append(parts, "TRUE")
		} else {
			parts = append(parts, "status NOT IN ("+strings.Join(known, ", ")+")")
		}
	}
	counted = "FALSE"
	if len(parts) > 0 {
		counted = "(" + strings.Join(parts, " OR ") + ")"
	}
	return group, counted, args
}
