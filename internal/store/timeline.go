package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The timeline of an order: every stored change of its exported fields is an event — which
// fields, from what to what, when, by which run and why (its source) — written by the store in
// the transaction that changes the order, so an order and its history never disagree.
//
// What is an event: an update that changes at least one exported field, a deletion flag set
// (deleted false → true) and a restoration (true → false, with the fields that changed on the
// way). What is not: an order's first import (the timeline starts at its first change, so a
// backfill writes no event; its state then is the oldest "old" of each field, or the current
// value when the field never changed); a re-import whose mapped fields did not change (the hash
// check skips it before anything is read); a re-evaluation of status_group and counted after
// the task's counting rules changed (Recount: the order did not change, the rule did, and the
// audit log records the rule change; recording it would add an event to every order of the
// task at once).
//
// Growth is bounded twice: an order keeps at most MaxOrderEvents events (the oldest go, in the
// transaction that adds one more; orders.events counts an order's events, written with the row,
// so the bound costs nothing below it and one index probe at it), and events older than
// EventRetention are deleted daily (DeleteOldEvents).

// Timeline sources: why an order changed.
const (
	SourceBackfill = "backfill"
	SourceHistory  = "history"
	SourceResync   = "resync"
	SourceRemap    = "remap"
	SourceTrigger  = "trigger"
)

// MaxOrderEvents is how many events an order keeps at most.
const MaxOrderEvents = 200

// EventRetention is how long an event is kept.
const EventRetention = 400 * 24 * time.Hour

// Change is one field's change: its values before and after, as the API exports them (text,
// a list of tags, true/false).
type Change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// OrderEvent is one entry of an order's timeline.
type OrderEvent struct {
	At      time.Time
	RunID   int64 // 0: no run made the change
	Source  string
	Changes map[string]Change
}

// deletedChange is the change of a deletion flagged.
const deletedChange = `{"deleted":{"old":false,"new":true}}`

// exportedValues lists an order's exported fields as the timeline names and values them (the
// API's names, docs/API.md). order_id is the order's identity, not a field that changes.
func exportedValues(o *OrderRow) [][2]any {
	tags := o.Tags
	if tags == nil {
		tags = []string{}
	}
	return [][2]any{
		{"order_date", o.OrderLocal}, {"order_number", o.OrderNumber}, {"session_id", o.SessionID}, {"user_id", o.UserID},
		{"item_count", o.ItemCount}, {"profit", o.Profit}, {"revenue", o.Revenue}, {"currency", o.Currency},
		{"comment", o.Comment}, {"contact_name", o.ContactName}, {"contact_phone", o.ContactPhone},
		{"contact_email", o.ContactEmail}, {"tags", tags}, {"status", o.Status}, {"status_group", o.StatusGroup},
		{"counted", o.Counted}, {"site", o.Site}, {"utm_source", o.Source.Source}, {"utm_medium", o.Source.Medium},
		{"utm_campaign", o.Source.Campaign}, {"utm_keyword", o.Source.Keyword}, {"utm_content", o.Source.Content},
		{"deleted", o.Deleted},
	}
}

// TimelineFields are the fields a timeline event can name, in the order the API lists an
// order's fields.
var TimelineFields = func() []string {
	var out []string
	for _, kv := range exportedValues(&OrderRow{}) {
		out = append(out, kv[0].(string))
	}
	return out
}()

// FieldValue is one exported field of an order, named as the timeline names it.
type FieldValue struct {
	Field string
	Value any
}

// ExportedValues lists an order's fields as the timeline names and values them, in
// TimelineFields' order.
func ExportedValues(o *OrderRow) []FieldValue {
	kvs := exportedValues(o)
	out := make([]FieldValue, len(kvs))
	for i, kv := range kvs {
		out[i] = FieldValue{Field: kv[0].(string), Value: kv[1]}
	}
	return out
}

// fieldChange is one changed field of an event being recorded.
type fieldChange struct {
	field    string
	old, new any
}

// diffOrders is what changed from old to new, in TimelineFields' order; nil when no exported
// field did. It compares the fields as they are and boxes only the changed ones: a page of 100
// changed orders compares 2,300 fields.
func diffOrders(old, new *OrderRow) []fieldChange {
	var out []fieldChange
	text := func(field, a, b string) {
		if a != b {
			out = append(out, fieldChange{field, a, b})
		}
	}
	flag := func(field string, a, b bool) {
		if a != b {
			out = append(out, fieldChange{field, a, b})
		}
	}
	text("order_date", old.OrderLocal, new.OrderLocal)
	text("order_number", old.OrderNumber, new.OrderNumber)
	text("session_id", old.SessionID, new.SessionID)
	text("user_id", old.UserID, new.UserID)
	text("item_count", old.ItemCount, new.ItemCount)
	text("profit", old.Profit, new.Profit)
	text("revenue", old.Revenue, new.Revenue)
	text("currency", old.Currency, new.Currency)
	text("comment", old.Comment, new.Comment)
	text("contact_name", old.ContactName, new.ContactName)
	text("contact_phone", old.ContactPhone, new.ContactPhone)
	text("contact_email", old.ContactEmail, new.ContactEmail)
	if !slices.Equal(old.Tags, new.Tags) {
		out = append(out, fieldChange{"tags", nonNil(old.Tags), nonNil(new.Tags)})
	}
	text("status", old.Status, new.Status)
	text("status_group", old.StatusGroup, new.StatusGroup)
	flag("counted", old.Counted, new.Counted)
	text("site", old.Site, new.Site)
	text("utm_source", old.Source.Source, new.Source.Source)
	text("utm_medium", old.Source.Medium, new.Source.Medium)
	text("utm_campaign", old.Source.Campaign, new.Source.Campaign)
	text("utm_keyword", old.Source.Keyword, new.Source.Keyword)
	text("utm_content", old.Source.Content, new.Source.Content)
	flag("deleted", old.Deleted, new.Deleted)
	return out
}

// encodeChanges is an event's changes as stored: a JSON object, field by field in the order
// given.
func encodeChanges(changes []fieldChange) (string, error) {
	buf := make([]byte, 0, 64*len(changes))
	buf = append(buf, '{')
	for i, c := range changes {
		if i > 0 {
			buf = append(buf, ',')
		}
		old, err := json.Marshal(c.old)
		if err != nil {
			return "", err
		}
		new, err := json.Marshal(c.new)
		if err != nil {
			return "", err
		}
		buf = append(buf, '"')
		buf = append(buf, c.field...)
		buf = append(buf, `":{"old":`...)
		buf = append(buf, old...)
		buf = append(buf, `,"new":`...)
		buf = append(buf, new...)
		buf = append(buf, '}')
	}
	buf = append(buf, '}')
	return string(buf), nil
}

// eventSource is the timeline source of a batch: its Cause, else what the batch is — a
// re-sync's (it carries a mark), a history page's (its checkpoint is in the history phase),
// otherwise a backfill's.
func (b *Batch) eventSource() string {
	switch {
	case b.Cause != "":
		return b.Cause
	case b.Mark != 0:
		return SourceResync
	case b.State != nil && b.State.Phase == "history":
		return SourceHistory
	}
	return SourceBackfill
}

// pendingEvent is an event about to be written with its batch: its order row, its changes as
// JSON, and how many of the order's oldest events go to keep it within MaxOrderEvents.
type pendingEvent struct {
	rowID   int64
	changes string
	excess  int
	// recount: the order's count of events went over the bound and is set back to it (the
	// writers of upserts store the bounded count themselves)
	recount bool
}

// timelineTx collects a transaction's events and writes them together.
type timelineTx struct {
	// perRow: events are inserted one by one through a prepared statement (SQLite: no round
	// trips, and parsing a statement of hundreds of parameters cost more than running it);
	// otherwise a statement inserts up to eventRowsPerInsert (PostgreSQL: one round trip).
	perRow                   bool
	counterID, taskID, runID int64
	source                   string
	at                       time.Time
	events                   []pendingEvent
	clear                    *bool // the task keeps clear contacts; nil until a change asks
}

// withhold keeps clear contacts out of changes when the task keeps none (pii hash or drop):
// the rewrite of its orders after the switch changes each contact from clear to hashed or
// empty, and the clear side is not recorded. What the task keeps is read once per transaction,
// and only for a change of a contact.
func (t *timelineTx) withhold(ctx context.Context, tx *sql.Tx, changes []fieldChange) error {
	for i, ch := range changes {
		if !isContact(ch.field) {
			continue
		}
		if t.clear == nil {
			keep, err := keepsClearContacts(ctx, tx, t.taskID)
			if err != nil {
				return err
			}
			t.clear = &keep
		}
		if *t.clear {
			return nil
		}
		changes[i].old, changes[i].new = withheld(ch.old), withheld(ch.new)
	}
	return nil
}

// add records an update's changes; count is the order's number of events with this one.
func (t *timelineTx) add(rowID int64, changes []fieldChange, count int) error {
	text, err := encodeChanges(changes)
	if err != nil {
		return fmt.Errorf("encode the changes of order row %d: %w", rowID, err)
	}
	t.events = append(t.events, pendingEvent{rowID: rowID, changes: text, excess: max(0, count-MaxOrderEvents)})
	return nil
}

// deletion records a deletion flagged; count is the order's number of events with this one, as
// the flagging statement counted it.
func (t *timelineTx) deletion(rowID int64, count int) {
	excess := max(0, count-MaxOrderEvents)
	t.events = append(t.events, pendingEvent{rowID: rowID, changes: deletedChange, excess: excess, recount: excess > 0})
}

// eventRowsPerInsert bounds one INSERT's rows (7 parameters each, under SQLite's and
// PostgreSQL's parameter limits).
const eventRowsPerInsert = 100

const insertEventSQL = `INSERT INTO order_events (order_row_id, counter_id, task_id, at, run_id, source, changes) VALUES ($1, $2, $3, $4, $5, $6, $7)`

// write inserts the collected events and trims the orders that went over MaxOrderEvents; hot,
// when not nil, holds the prepared insert.
func (t *timelineTx) write(ctx context.Context, tx *sql.Tx, hot *hotStatements) error {
	if len(t.events) == 0 {
		return nil
	}
	if t.perRow {
		var insert *sql.Stmt
		var err error
		if hot != nil && hot.event != nil {
			insert = tx.StmtContext(ctx, hot.event)
		} else if insert, err = tx.PrepareContext(ctx, insertEventSQL); err != nil {
			return fmt.Errorf("prepare order events: %w", err)
		}
		defer insert.Close()
		for _, e := range t.events {
			if _, err := insert.ExecContext(ctx, e.rowID, t.counterID, t.taskID, t.at, t.runID, t.source, e.changes); err != nil {
				return fmt.Errorf("record order changes: %w", err)
			}
		}
	} else {
		for start := 0; start < len(t.events); start += eventRowsPerInsert {
			chunk := t.events[start:min(len(t.events), start+eventRowsPerInsert)]
			var sb strings.Builder
			sb.WriteString(`INSERT INTO order_events (order_row_id, counter_id, task_id, at, run_id, source, changes) VALUES `)
			args := make([]any, 0, 7*len(chunk))
			for i, e := range chunk {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("(" + placeholders(len(args)+1, 7) + ")")
				args = append(args, e.rowID, t.counterID, t.taskID, t.at, t.runID, t.source, e.changes)
			}
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				return fmt.Errorf("record order changes: %w", err)
			}
		}
	}
	var trim *sql.Stmt
	for _, e := range t.events {
		if e.excess == 0 {
			continue
		}
		if trim == nil {
			var err error
			if trim, err = tx.PrepareContext(ctx, trimEventsSQL); err != nil {
				return fmt.Errorf("prepare the trim of order timelines: %w", err)
			}
			defer trim.Close()
		}
		if err := trimOrder(ctx, tx, trim, e.rowID, e.excess, e.recount); err != nil {
			return err
		}
	}
	return nil
}

const trimEventsSQL = `DELETE FROM order_events WHERE id IN (SELECT id FROM order_events WHERE order_row_id = $1 ORDER BY id LIMIT $2)`

// trimOrder deletes an order's excess oldest events through trim (trimEventsSQL; nil: a one-off
// statement) and, with recount, sets its count of events back to MaxOrderEvents.
func trimOrder(ctx context.Context, tx *sql.Tx, trim *sql.Stmt, rowID int64, excess int, recount bool) error {
	var err error
	if trim != nil {
		_, err = trim.ExecContext(ctx, rowID, excess)
	} else {
		_, err = tx.ExecContext(ctx, trimEventsSQL, rowID, excess)
	}
	if err != nil {
		return fmt.Errorf("trim the timeline of order row %d: %w", rowID, err)
	}
	if recount {
		if _, err := tx.ExecContext(ctx, `UPDATE orders SET events = $1 WHERE id = $2`, MaxOrderEvents, rowID); err != nil {
			return fmt.Errorf("trim the timeline of order row %d: %w", rowID, err)
		}
	}
	return nil
}

// trimOver reads rows of (order row id, its count of events) — a re-sync's sweep — trims every
// order over MaxOrderEvents back to it and returns how many rows it read.
func trimOver(ctx context.Context, tx *sql.Tx, rows *sql.Rows) (int64, error) {
	type over struct {
		id     int64
		events int
	}
	var trim []over
	var n int64
	for rows.Next() {
		var o over
		if err := rows.Scan(&o.id, &o.events); err != nil {
			rows.Close()
			return 0, fmt.Errorf("count order events: %w", err)
		}
		n++
		if o.events > MaxOrderEvents {
			trim = append(trim, o)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("count order events: %w", err)
	}
	for _, o := range trim {
		if err := trimOrder(ctx, tx, nil, o.id, o.events-MaxOrderEvents, true); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// recordDeletions writes one deletion event for each order that where (a condition on orders,
// its parameters from $4 on) selects, before they are flagged: INSERT … SELECT, so a re-sync's
// sweep of thousands of orders is one statement.
func recordDeletions(ctx context.Context, tx *sql.Tx, at time.Time, runID int64, source string, where string, args ...any) error {
	all := append([]any{at, runID, source}, args...)
	_, err := tx.ExecContext(ctx, `INSERT INTO order_events (order_row_id, counter_id, task_id, at, run_id, source, changes)
		SELECT id, counter_id, task_id, $1, $2, $3, '`+deletedChange+`' FROM orders WHERE `+where, all...)
	if err != nil {
		return fmt.Errorf("record order deletions: %w", err)
	}
	return nil
}

// oldRow is an order row as stored before a change, with its count of events.
type oldRow struct {
	OrderRow
	events int
}

// oldRows reads the stored state of the given order rows (those whose hash differs from what a
// batch brings), by id, when the lookup by RetailCRM id did not already read them whole (see
// applyUpserts); hot, when not nil, holds the prepared lookup of a page of them.
func oldRows(ctx context.Context, tx *sql.Tx, hot *hotStatements, ids []int64) (map[int64]*oldRow, error) {
	out := make(map[int64]*oldRow, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var prepared *sql.Stmt
	if hot != nil {
		prepared = hot.byRow
	}
	err := hotQuery(ctx, tx, prepared, rowsByIDSQL, nil, args, func(rows *sql.Rows) error {
		o, err := scanOldRow(rows)
		if err != nil {
			return err
		}
		out[o.ID] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read orders before their change: %w", err)
	}
	return out, nil
}

// scanOldRow scans a row read with its count of events first (rowsByIDSQL, liveByCRMIDSQL).
func scanOldRow(rows *sql.Rows) (*oldRow, error) {
	var events int
	o, err := scanOrder(prefixed{rows, &events})
	if err != nil {
		return nil, err
	}
	return &oldRow{OrderRow: o, events: events}, nil
}

// prefixed scans one column before the ones its scanner's caller asks for.
type prefixed struct {
	row   scanner
	first any
}

func (p prefixed) Scan(dest ...any) error { return p.row.Scan(append([]any{p.first}, dest...)...) }

// Order loads one of a counter's orders by its order_id (deleted ones included).
func (s *Store) Order(ctx context.Context, accountID, counterID int64, orderID string) (OrderRow, error) {
	o, err := scanOrder(s.r.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE counter_id = $1 AND account_id = $2 AND order_id = $3`,
		counterID, accountID, orderID))
	if err != nil {
		return OrderRow{}, fmt.Errorf("store: order %q of counter %d: %w", orderID, counterID, notFound(err))
	}
	return o, nil
}

// Timeline lists an order's events, oldest first (at most MaxOrderEvents).
func (s *Store) Timeline(ctx context.Context, accountID, counterID int64, orderID string) ([]OrderEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT e.at, e.run_id, e.source, e.changes FROM order_events e
		JOIN orders o ON o.id = e.order_row_id
		WHERE o.counter_id = $1 AND o.account_id = $2 AND o.order_id = $3 ORDER BY e.id`, counterID, accountID, orderID)
	if err != nil {
		return nil, fmt.Errorf("store: timeline of order %q: %w", orderID, err)
	}
	defer rows.Close()
	out := []OrderEvent{}
	for rows.Next() {
		var e OrderEvent
		var changes string
		if err := rows.Scan(&e.At, &e.RunID, &e.Source, &changes); err != nil {
			return nil, fmt.Errorf("store: timeline of order %q: %w", orderID, err)
		}
		e.At = e.At.UTC()
		if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
			return nil, fmt.Errorf("store: timeline of order %q: event changes: %w", orderID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: timeline of order %q: %w", orderID, err)
	}
	return out, nil
}

// DeleteOldEvents deletes the events recorded before `before`, at most limit of them per
// transaction (limit ≤ 1000, one statement's parameters) so the writer is never held long; it
// returns how many went.
func (s *Store) DeleteOldEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *sql.Tx) error {
			n = 0
			rows, err := tx.QueryContext(ctx, `SELECT id, order_row_id FROM order_events WHERE at < $1 ORDER BY id LIMIT $2`, before.UTC(), limit)
			if err != nil {
				return err
			}
			var ids []any
			gone := map[int64]int{}
			for rows.Next() {
				var id, row int64
				if err := rows.Scan(&id, &row); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
				gone[row]++
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM order_events WHERE id IN (`+placeholders(1, len(ids))+`)`, ids...)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			// The orders' counts of events follow, so that the bound never trims an event early.
			for row, k := range gone {
				if _, err := tx.ExecContext(ctx, `UPDATE orders SET events = events - $1 WHERE id = $2`, k, row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: delete order events before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		total += n
		if n < int64(limit) {
			return total, nil
		}
	}
}

// runOfTask is the task's running run, 0 when none (the events of a re-sync's sweep name it).
func runOfTask(ctx context.Context, tx *sql.Tx, taskID int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE task_id = $1 AND status = $2 ORDER BY id DESC LIMIT 1`, taskID, RunRunning).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("the running run of task %d: %w", taskID, err)
	}
	return id, nil
}
