package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OrderRow is an order as stored for the tracker: every field already mapped and normalised,
// money and quantities as exact decimal text.
type OrderRow struct {
	ID           int64
	CounterID    int64
	TaskID       int64
	CRMID        int64
	OrderID      string
	OrderDate    string // UTC, "YYYY-MM-DD HH:MM:SS"
	OrderLocal   string // in the counter's timezone, "YYYY-MM-DD HH:MM:SS" (what the API and the export show)
	SessionID    string
	UserID       string
	ItemCount    string
	Profit       string
	Revenue      string
	Comment      string
	ContactName  string
	ContactPhone string
	ContactEmail string
	Tags         []string
	Status       string
	Site         string
	Deleted      bool
	Hash         string // digest of the mapped fields: equal hash → nothing to write
	FeedSeq      int64  // the counter's feed position of the order's latest change
	UpdatedAt    time.Time

	OrderNumber string // RetailCRM's number, as sent
	Currency    string // the order's currency, else its store's, else the account's default
	Source      Source
	// StatusGroup and Counted follow from Status and the task's classes (Classes): ApplyBatch
	// sets them as it writes, Recount when the classes change.
	StatusGroup string
	Counted     bool
	// Raw is the RetailCRM order the row was mapped from, compressed by the importer: ApplyBatch
	// stores it with the row when it is not nil and keeps the stored one when it is.
	Raw []byte
}

// Source is where RetailCRM says an order came from (its source object, by names).
type Source struct {
	Source, Medium, Campaign, Keyword, Content string
}

// SyncState is a task's checkpoint.
type SyncState struct {
	TaskID         int64
	Phase          string // "" (never ran), "backfill", "history"
	HistorySinceID int64  // exclusive cursor in /orders/history; 0 = use HistoryStart
	HistoryStart   string // RFC 3339 instant: where the feed is read from before any entry id is known
	BackfillFrom   string // first day of the backfill (account zone)
	BackfillTo     string // last day of the backfill
	BackfillNext   string // next day to read; > BackfillTo when done
	ResyncMark     int64  // non-zero while a re-sync is marking what RetailCRM still has
	Fingerprint    string // digest of what the stored orders were derived from (the importer's business)
	RemapAfter     int64  // in the "remap" phase: the RetailCRM id of the last order re-mapped (0: none yet)
	// RemapFields, in the "remap" phase, are the tracker fields the re-map evaluates anew,
	// comma-separated; "" is every field (the importer's business).
	RemapFields string
	UpdatedAt   time.Time
}

// SyncState loads a task's checkpoint; a task that never ran has the zero state.
func (s *Store) SyncState(ctx context.Context, taskID int64) (SyncState, error) {
	st := SyncState{TaskID: taskID}
	err := s.patiently(ctx, func() error {
		return s.w.QueryRowContext(ctx, `SELECT phase, history_since_id, history_start, backfill_from, backfill_to, backfill_next, resync_mark,
			fingerprint, remap_after, remap_fields, updated_at FROM sync_state WHERE task_id = $1`, taskID).Scan(&st.Phase, &st.HistorySinceID,
			&st.HistoryStart, &st.BackfillFrom, &st.BackfillTo, &st.BackfillNext, &st.ResyncMark, &st.Fingerprint, &st.RemapAfter, &st.RemapFields,
			&st.UpdatedAt)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: sync state of task %d: %w", taskID, err)
	}
	return st, nil
}

func (s *Store) saveSyncStateTx(ctx context.Context, tx *sql.Tx, accountID int64, st SyncState) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_state (task_id, account_id, phase, history_since_id, history_start, backfill_from,
		backfill_to, backfill_next, resync_mark, fingerprint, remap_after, remap_fields, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (task_id) DO UPDATE SET phase = excluded.phase, history_since_id = excluded.history_since_id,
		history_start = excluded.history_start, backfill_from = excluded.backfill_from, backfill_to = excluded.backfill_to,
		backfill_next = excluded.backfill_next, resync_mark = excluded.resync_mark, fingerprint = excluded.fingerprint,
		remap_after = excluded.remap_after, remap_fields = excluded.remap_fields, updated_at = excluded.updated_at`,
		st.TaskID, accountID, st.Phase, st.HistorySinceID, st.HistoryStart, st.BackfillFrom, st.BackfillTo, st.BackfillNext,
		st.ResyncMark, st.Fingerprint, st.RemapAfter, st.RemapFields, s.nowUTC())
	if err != nil {
		return fmt.Errorf("store: save sync state of task %d: %w", st.TaskID, err)
	}
	return nil
}

// Batch is one unit of import work committed atomically: the orders of one page, the
// deletions it discovered, the checkpoint that follows them and the run's progress.
type Batch struct {
	AccountID int64
	CounterID int64
	TaskID    int64
	Upserts   []OrderRow
	// Deletes are RetailCRM ids the task's key can no longer read (deleted, merged away, out
	// of the key's stores): their rows are kept but flagged deleted.
	Deletes []int64
	// Mark, when non-zero, is stamped on every order of Upserts even if unchanged (re-sync).
	Mark     int64
	State    *SyncState
	RunID    int64
	Progress *RunProgress // counts before this batch; the batch's own counts are added
	// Cause is the timeline source of the batch's changes (SourceHistory, SourceTrigger, …);
	// "" derives it: SourceResync for a batch with a Mark, SourceHistory for one whose State is
	// in the history phase, SourceBackfill otherwise.
	Cause string
}

// BatchResult counts what a batch changed.
type BatchResult struct {
	Created, Updated, Deleted, Unchanged int64
}

type existingOrder struct {
	id      int64
	crmID   int64
	taskID  int64
	hash    string
	deleted bool
}

// ApplyBatch writes a batch in one transaction: unchanged orders are not written at all, so
// re-importing the same data costs reads only.
func (s *Store) ApplyBatch(ctx context.Context, b Batch) (BatchResult, error) {
	var res BatchResult
	var hot *hotStatements
	if len(b.Upserts) > 0 {
		hot = s.prepareHot(ctx)
	}
	repeated := false
	err := s.patiently(ctx, func() error {
		if repeated {
			// The connection was lost, perhaps with the commit on its way: a batch that made it
			// is not applied again (its issues would be counted twice, its new orders as unchanged).
			applied, r, err := s.batchApplied(ctx, b)
			if err != nil || applied {
				res = r
				return err
			}
		}
		repeated = true
		return s.txOnce(ctx, func(tx *sql.Tx) error { return s.applyBatchTx(ctx, tx, hot, b, &res) })
	})
	if err != nil {
		return BatchResult{}, fmt.Errorf("store: apply batch of task %d: %w", b.TaskID, err)
	}
	return res, nil
}

// batchApplied reports whether b was committed already, by the run's page count that commits
// with it, and what it changed then.
func (s *Store) batchApplied(ctx context.Context, b Batch) (bool, BatchResult, error) {
	if b.Progress == nil || b.RunID == 0 {
		return false, BatchResult{}, nil
	}
	var pages int64
	var res BatchResult
	err := s.w.QueryRowContext(ctx, `SELECT pages, created, updated, deleted FROM runs WHERE id = $1`, b.RunID).Scan(&pages, &res.Created, &res.Updated, &res.Deleted)
	if err != nil {
		return false, BatchResult{}, fmt.Errorf("store: progress of run %d: %w", b.RunID, notFound(err))
	}
	if pages < b.Progress.Counts.Pages {
		return false, BatchResult{}, nil
	}
	p := b.Progress.Counts
	res.Created, res.Updated, res.Deleted = res.Created-p.Created, res.Updated-p.Updated, res.Deleted-p.Deleted
	return true, res, nil
}

func (s *Store) applyBatchTx(ctx context.Context, tx *sql.Tx, hot *hotStatements, b Batch, out *BatchResult) error {
	res := BatchResult{}
	now := s.nowUTC()
	feed := &feedTx{s: s, counterID: b.CounterID}
	tl := &timelineTx{perRow: s.engine == SQLite, counterID: b.CounterID, taskID: b.TaskID, runID: b.RunID, source: b.eventSource(), at: now}
	if len(b.Upserts) > 0 {
		cls, _, err := lockClasses(ctx, tx, b.TaskID)
		if err != nil {
			return err
		}
		if err := s.applyUpserts(ctx, tx, hot, feed, tl, b, cls, now, &res); err != nil {
			return err
		}
	}
	if len(b.Deletes) > 0 {
		n, err := s.flagDeleted(ctx, tx, feed, tl, b.TaskID, b.Deletes, now)
		if err != nil {
			return err
		}
		res.Deleted += n
	}
	if err := tl.write(ctx, tx, hot); err != nil {
		return err
	}
	if b.State != nil {
		if err := s.saveSyncStateTx(ctx, tx, b.AccountID, *b.State); err != nil {
			return err
		}
	}
	if b.Progress != nil && b.RunID != 0 {
		p := *b.Progress
		p.Counts.Created += res.Created
		p.Counts.Updated += res.Updated
		p.Counts.Deleted += res.Deleted
		if err := s.UpdateRunTx(ctx, tx, b.RunID, p); err != nil {
			return err
		}
	}
	*out = res
	return nil
}

func placeholders(start, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("$")
		sb.WriteString(strconv.Itoa(start + i))
	}
	return sb.String()
}

// hotQuery runs a lookup by a list of ids (fixed are the arguments before the list). With a
// prepared statement (SQLite) it goes page by page: a full page through the statement, the rest
// as a one-off statement. A batch of a re-map holds five pages; as one statement of 500
// parameters it was parsed anew each time, and SQLite's lookup of numbered parameters grows
// with the square of their number. Without one (PostgreSQL) the list goes in one statement.
// each is called for every row found.
func hotQuery(ctx context.Context, tx *sql.Tx, prepared *sql.Stmt, prefix string, fixed, ids []any, each func(*sql.Rows) error) error {
	size := len(ids)
	if prepared != nil {
		size = hotPage
	}
	args := make([]any, 0, len(fixed)+min(len(ids), size))
	for len(ids) > 0 {
		page := ids[:min(len(ids), size)]
		ids = ids[len(page):]
		args = append(append(args[:0], fixed...), page...)
		var rows *sql.Rows
		var err error
		if prepared != nil && len(page) == hotPage {
			rows, err = tx.StmtContext(ctx, prepared).QueryContext(ctx, args...)
		} else {
			rows, err = tx.QueryContext(ctx, prefix+placeholders(len(fixed)+1, len(page))+`)`, args...)
		}
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := each(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// applyUpserts writes a batch's rows, each with the status group and counted flag its status
// has under cls, stamped with the feed position feed takes, and adds their changes to tl; hot,
// when not nil, holds prepared statements.
func (s *Store) applyUpserts(ctx context.Context, tx *sql.Tx, hot *hotStatements, feed *feedTx, tl *timelineTx, b Batch, cls *Classes, now time.Time, res *BatchResult) error {
	var byCRM, byID, upsertStmt *sql.Stmt
	if hot != nil {
		byCRM, byID, upsertStmt = hot.byCRM, hot.byID, hot.upsert
	}
	// A re-map rewrites the stored orders it read, and only those still stored when it writes:
	// the daily expiry deletes a task's orders while its runs go on, and an order it deleted
	// after the re-map read its batch stays deleted (written, the re-map would restore it, its
	// clear contacts included). On PostgreSQL the counter's feed row is locked before the rows
	// are read, so that no expiry commits between this read and the writes; SQLite has one
	// writer at a time.
	remap := b.Cause == SourceRemap
	if remap && s.engine == Postgres {
		if _, err := feed.position(ctx, tx); err != nil {
			return err
		}
	}
	// An order whose mapped order_id changed still has a row under its old order_id: that row
	// no longer exists under the mapping, so it is flagged deleted before the new one is written.
	// The task's live rows of the batch's orders are read whole: when each order of the batch is
	// such a row under the order_id it is mapped to (an order changed in RetailCRM, a re-map),
	// they are the rows the order ids name and the rows as they were before their change, and on
	// SQLite the two lookups below are not needed (a re-map read each of its rows three times).
	crmIDs := make([]any, 0, len(b.Upserts))
	newID := make(map[int64]string, len(b.Upserts))
	for _, o := range b.Upserts {
		crmIDs = append(crmIDs, o.CRMID)
		newID[o.CRMID] = o.OrderID
	}
	var renamed []int64
	live := make(map[int64]*oldRow, len(b.Upserts))
	err := hotQuery(ctx, tx, byCRM, liveByCRMIDSQL, []any{b.TaskID, false}, crmIDs, func(rows *sql.Rows) error {
		o, err := scanOldRow(rows)
		if err != nil {
			return err
		}
		live[o.CRMID] = o
		if o.OrderID != newID[o.CRMID] {
			renamed = append(renamed, o.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("look up orders by RetailCRM id: %w", err)
	}
	if remap && len(live) < len(b.Upserts) {
		stored := make([]OrderRow, 0, len(live))
		for _, o := range b.Upserts {
			if live[o.CRMID] != nil {
				stored = append(stored, o)
			}
		}
		b.Upserts = stored
	}
	// On PostgreSQL the rows before their change are read after the counter's feed row is
	// locked, as they always were: another writer of the counter (a re-count of its statuses)
	// may commit between this read and that lock. SQLite has one writer at a time.
	covered := s.engine == SQLite && len(renamed) == 0
	for i := 0; i < len(b.Upserts) && covered; i++ {
		l := live[b.Upserts[i].CRMID]
		covered = l != nil && l.OrderID == b.Upserts[i].OrderID && l.CounterID == b.CounterID
	}

	existing := make(map[string]existingOrder, len(b.Upserts))
	var before map[int64]*oldRow
	if covered {
		before = make(map[int64]*oldRow, len(live))
		for _, l := range live {
			existing[l.OrderID] = existingOrder{id: l.ID, crmID: l.CRMID, taskID: l.TaskID, hash: l.Hash, deleted: l.Deleted}
			before[l.ID] = l
		}
	} else {
		orderIDs := make([]any, 0, len(b.Upserts))
		for _, o := range b.Upserts {
			orderIDs = append(orderIDs, o.OrderID)
		}
		err = hotQuery(ctx, tx, byID, existingByIDSQL, []any{b.CounterID}, orderIDs, func(rows *sql.Rows) error {
			var e existingOrder
			var orderID string
			if err := rows.Scan(&e.id, &e.crmID, &e.taskID, &orderID, &e.hash, &e.deleted); err != nil {
				return err
			}
			existing[orderID] = e
			return nil
		})
		if err != nil {
			return fmt.Errorf("look up existing orders: %w", err)
		}
	}
	// unchanged: the order's exported fields are what is stored (its kept raw order may have
	// changed in what the mapping does not read: then only the copy and the hash are written,
	// with no feed position and no timeline event, since nothing a reader sees changed).
	unchanged := func(o *OrderRow) (existingOrder, bool, bool) {
		e, ok := existing[o.OrderID]
		return e, ok, ok && sameFields(e.hash, o.Hash) && !e.deleted && e.taskID == b.TaskID && e.crmID == o.CRMID
	}
	// The feed position is taken before the first write, so that every writer of the counter
	// locks its row first and order rows after it.
	var pos int64
	changes := len(renamed) > 0
	for i := 0; i < len(b.Upserts) && !changes; i++ {
		_, _, same := unchanged(&b.Upserts[i])
		changes = !same
	}
	if changes {
		if pos, err = feed.position(ctx, tx); err != nil {
			return err
		}
	}
	for _, id := range renamed {
		var count int
		if err := tx.QueryRowContext(ctx, `UPDATE orders SET deleted = $1, updated_at = $2, feed_seq = $3, events = events + 1 WHERE id = $4 RETURNING events`,
			true, now, pos, id).Scan(&count); err != nil {
			return fmt.Errorf("flag renamed order: %w", err)
		}
		tl.deletion(id, count)
		res.Deleted++
	}
	// The timeline needs the old values of the rows about to change, and only of those: an
	// unchanged order costs nothing more than before. The lookup by RetailCRM id read them
	// already when it covered the batch.
	if !covered {
		var changedIDs []int64
		for i := range b.Upserts {
			if e, ok, same := unchanged(&b.Upserts[i]); ok && !same {
				changedIDs = append(changedIDs, e.id)
			}
		}
		if len(changedIDs) > 0 {
			if before, err = oldRows(ctx, tx, hot, changedIDs); err != nil {
				return err
			}
		}
	}

	// The statements are prepared at most once per batch: re-parsing the upsert for every row
	// cost SQLite more than executing it (bench: BenchmarkApplyBatchInsert).
	var mark, upsert, rawOnly *sql.Stmt
	updates := updateStatements{stmts: map[string]*sql.Stmt{}, anonymous: s.engine == SQLite}
	defer func() {
		for _, st := range []*sql.Stmt{mark, upsert, rawOnly} {
			if st != nil {
				st.Close()
			}
		}
		updates.close()
	}()
	for i := range b.Upserts {
		o := &b.Upserts[i]
		e, ok, same := unchanged(o)
		if same {
			res.Unchanged++
			if e.hash != o.Hash {
				if rawOnly == nil {
					if rawOnly, err = tx.PrepareContext(ctx, `UPDATE orders SET raw = $1, hash = $2 WHERE id = $3`); err != nil {
						return fmt.Errorf("prepare kept order update: %w", err)
					}
				}
				var raw any
				if o.Raw != nil {
					raw = o.Raw
				}
				if _, err := rawOnly.ExecContext(ctx, raw, o.Hash, e.id); err != nil {
					return fmt.Errorf("keep order %s as sent: %w", o.OrderID, err)
				}
			}
			if b.Mark != 0 {
				if mark == nil {
					if mark, err = tx.PrepareContext(ctx, `UPDATE orders SET sync_mark = $1 WHERE id = $2`); err != nil {
						return fmt.Errorf("prepare order mark: %w", err)
					}
				}
				if _, err := mark.ExecContext(ctx, b.Mark, e.id); err != nil {
					return fmt.Errorf("mark order %s: %w", o.OrderID, err)
				}
			}
			continue
		}
		tags, err := json.Marshal(nonNil(o.Tags))
		if err != nil {
			return err
		}
		group, counted := cls.Of(o.Status)
		var raw any
		if o.Raw != nil {
			raw = o.Raw
		}
		// The timeline's event, if the order's exported fields changed: known before the row is
		// written, since the row carries its count of events.
		var changes []fieldChange
		events := 0
		if old := before[e.id]; ok && old != nil {
			next := *o
			next.StatusGroup, next.Counted, next.Deleted = group, counted, false
			changes = diffOrders(&old.OrderRow, &next)
			events = old.events
			if changes != nil {
				events++
				if err := tl.withhold(ctx, tx, changes); err != nil {
					return err
				}
			}
		}
		if old := before[e.id]; ok && old != nil && !e.deleted && e.taskID == b.TaskID && e.crmID == o.CRMID {
			// A stored order that changed: only its changed columns are written (see changedColumns).
			set := changedColumns(&old.OrderRow, o, string(tags), group, counted)
			set = append(set, column{"hash", o.Hash}, column{"sync_mark", b.Mark}, column{"updated_at", now},
				column{"feed_seq", pos}, column{"events", min(events, MaxOrderEvents)})
			if raw != nil {
				set = append(set, column{"raw", raw})
			}
			err = updates.exec(ctx, tx, e.id, set)
		} else {
			if upsert == nil {
				if upsertStmt != nil {
					upsert = tx.StmtContext(ctx, upsertStmt)
				} else if upsert, err = tx.PrepareContext(ctx, upsertOrderSQL); err != nil {
					return fmt.Errorf("prepare order upsert: %w", err)
				}
			}
			_, err = upsert.ExecContext(ctx,
				b.AccountID, b.CounterID, b.TaskID, o.CRMID, o.OrderID, o.OrderDate, o.OrderLocal, o.SessionID, o.UserID, o.ItemCount,
				o.Profit, o.Revenue, o.Comment, o.ContactName, o.ContactPhone, o.ContactEmail, string(tags), o.Status, o.Site,
				false, o.Hash, b.Mark, now, o.OrderNumber, strings.ToLower(o.OrderNumber), group, o.Currency, counted,
				o.Source.Source, o.Source.Medium, o.Source.Campaign, o.Source.Keyword, o.Source.Content, pos, raw, min(events, MaxOrderEvents))
		}
		if err != nil {
			return fmt.Errorf("write order %s: %w", o.OrderID, err)
		}
		if changes != nil {
			if err := tl.add(e.id, changes, events); err != nil {
				return err
			}
		}
		if ok && !e.deleted {
			res.Updated++
		} else {
			res.Created++
		}
	}
	return nil
}

// column is one column an update writes, and its value.
type column struct {
	name  string
	value any
}

// changedColumns are the columns of a stored order (old, as read back) that the new row o
// changes, with their new values. A stored order is updated by these alone, not by the upsert:
// SQLite rewrites the entry of every index whose columns an UPDATE's SET names, whatever the
// values, and the upsert names all of them — eight indexes for a revenue that changed. The
// columns are TEXT, booleans and integers read back as written, so equal values mean equal
// contents.
func changedColumns(old, o *OrderRow, tags, group string, counted bool) []column {
	var set []column
	str := func(name, was, now string) {
		if was != now {
			set = append(set, column{name, now})
		}
	}
	str("order_date", old.OrderDate, o.OrderDate)
	str("order_local", old.OrderLocal, o.OrderLocal)
	str("session_id", old.SessionID, o.SessionID)
	str("user_id", old.UserID, o.UserID)
	str("item_count", old.ItemCount, o.ItemCount)
	str("profit", old.Profit, o.Profit)
	str("revenue", old.Revenue, o.Revenue)
	str("comment", old.Comment, o.Comment)
	str("contact_name", old.ContactName, o.ContactName)
	str("contact_phone", old.ContactPhone, o.ContactPhone)
	str("contact_email", old.ContactEmail, o.ContactEmail)
	if !slices.Equal(old.Tags, o.Tags) {
		set = append(set, column{"tags", tags})
	}
	str("status", old.Status, o.Status)
	str("site", old.Site, o.Site)
	if old.OrderNumber != o.OrderNumber {
		set = append(set, column{"order_number", o.OrderNumber}, column{"number_key", strings.ToLower(o.OrderNumber)})
	}
	str("status_group", old.StatusGroup, group)
	str("currency", old.Currency, o.Currency)
	if old.Counted != counted {
		set = append(set, column{"counted", counted})
	}
	str("utm_source", old.Source.Source, o.Source.Source)
	str("utm_medium", old.Source.Medium, o.Source.Medium)
	str("utm_campaign", old.Source.Campaign, o.Source.Campaign)
	str("utm_keyword", old.Source.Keyword, o.Source.Keyword)
	str("utm_content", old.Source.Content, o.Source.Content)
	return set
}

// updateStatements are a batch's UPDATE statements by the columns they set: the orders of a
// batch mostly change alike (a re-map of revenue, status changes), so few are prepared. On
// SQLite their parameters are anonymous (see anonymous: a re-map runs one for every order).
type updateStatements struct {
	stmts     map[string]*sql.Stmt
	anonymous bool
}

func (u updateStatements) exec(ctx context.Context, tx *sql.Tx, id int64, set []column) error {
	var key strings.Builder
	args := make([]any, 0, len(set)+1)
	for _, c := range set {
		key.WriteString(c.name)
		key.WriteByte(',')
		args = append(args, c.value)
	}
	st := u.stmts[key.String()]
	if st == nil {
		var q strings.Builder
		q.WriteString("UPDATE orders SET ")
		for i, c := range set {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "%s = $%d", c.name, i+1)
		}
		fmt.Fprintf(&q, " WHERE id = $%d", len(set)+1)
		text := q.String()
		if u.anonymous {
			text = anonymous(text)
		}
		var err error
		if st, err = tx.PrepareContext(ctx, text); err != nil {
			return fmt.Errorf("prepare order update: %w", err)
		}
		u.stmts[key.String()] = st
	}
	_, err := st.ExecContext(ctx, append(args, id)...)
	return err
}

func (u updateStatements) close() {
	for _, st := range u.stmts {
		st.Close()
	}
}

const upsertOrderSQL = `INSERT INTO orders (account_id, counter_id, task_id, crm_id, order_id, order_date, order_local,
	session_id, user_id, item_count, profit, revenue, comment, contact_name, contact_phone, contact_email, tags, status, site,
	deleted, hash, sync_mark, updated_at, order_number, number_key, status_group, currency, counted,
	utm_source, utm_medium, utm_campaign, utm_keyword, utm_content, feed_seq, raw, events)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
	$24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)
	ON CONFLICT (counter_id, order_id) DO UPDATE SET task_id = excluded.task_id, crm_id = excluded.crm_id,
	order_date = excluded.order_date, order_local = excluded.order_local, session_id = excluded.session_id,
	user_id = excluded.user_id, item_count = excluded.item_count, profit = excluded.profit, revenue = excluded.revenue,
	comment = excluded.comment, contact_name = excluded.contact_name, contact_phone = excluded.contact_phone,
	contact_email = excluded.contact_email, tags = excluded.tags, status = excluded.status, site = excluded.site,
	deleted = excluded.deleted, hash = excluded.hash, sync_mark = excluded.sync_mark, updated_at = excluded.updated_at,
	order_number = excluded.order_number, number_key = excluded.number_key, status_group = excluded.status_group,
	currency = excluded.currency, counted = excluded.counted, utm_source = excluded.utm_source, utm_medium = excluded.utm_medium,
	utm_campaign = excluded.utm_campaign, utm_keyword = excluded.utm_keyword, utm_content = excluded.utm_content,
	feed_seq = excluded.feed_seq, raw = COALESCE(excluded.raw, orders.raw), events = excluded.events`

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// flagDeleted flags deleted the task's live orders with the given RetailCRM ids, each with its
// deletion event in tl.
func (s *Store) flagDeleted(ctx context.Context, tx *sql.Tx, feed *feedTx, tl *timelineTx, taskID int64, crmIDs []int64, now time.Time) (int64, error) {
	pos, err := feed.position(ctx, tx)
	if err != nil {
		return 0, err
	}
	args := make([]any, 0, len(crmIDs)+2)
	args = append(args, taskID, false)
	for _, id := range crmIDs {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM orders WHERE task_id = $1 AND deleted = $2 AND crm_id IN (`+placeholders(3, len(crmIDs))+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("find deleted orders: %w", err)
	}
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find deleted orders: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find deleted orders: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	rows, err = tx.QueryContext(ctx, `UPDATE orders SET deleted = $1, updated_at = $2, feed_seq = $3, events = events + 1
		WHERE id IN (`+placeholders(4, len(ids))+`) RETURNING id, events`, append([]any{true, now, pos}, ids...)...)
	if err != nil {
		return 0, fmt.Errorf("flag deleted orders: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var id int64
		var count int
		if err := rows.Scan(&id, &count); err != nil {
			return 0, fmt.Errorf("flag deleted orders: %w", err)
		}
		tl.deletion(id, count)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("flag deleted orders: %w", err)
	}
	return n, nil
}

// SweepUnmarked flags deleted every live order of the task that a finished re-sync did not
// see, and clears the re-sync mark from the checkpoint in the same transaction.
func (s *Store) SweepUnmarked(ctx context.Context, accountID, taskID, mark int64, st SyncState) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var counterID int64
		if err := tx.QueryRowContext(ctx, `SELECT counter_id FROM import_tasks WHERE id = $1`, taskID).Scan(&counterID); err != nil {
			return fmt.Errorf("counter of task %d: %w", taskID, notFound(err))
		}
		pos, err := s.feedPosition(ctx, tx, counterID)
		if err != nil {
			return err
		}
		now := s.nowUTC()
		runID, err := runOfTask(ctx, tx, taskID)
		if err != nil {
			return err
		}
		// The sweep's deletions enter the timeline in the same transaction, by statement: a
		// re-sync may find thousands of orders gone.
		if err := recordDeletions(ctx, tx, now, runID, SourceResync, `task_id = $4 AND deleted = $5 AND sync_mark <> $6`, taskID, false, mark); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `UPDATE orders SET deleted = $1, updated_at = $2, feed_seq = $3, events = events + 1
			WHERE task_id = $4 AND deleted = $5 AND sync_mark <> $6 RETURNING id, events`,
			true, now, pos, taskID, false, mark)
		if err != nil {
			return err
		}
		if n, err = trimOver(ctx, tx, rows); err != nil {
			return err
		}
		return s.saveSyncStateTx(ctx, tx, accountID, st)
	})
	if err != nil {
		return 0, fmt.Errorf("store: sweep orders of task %d: %w", taskID, err)
	}
	return n, nil
}

// NextSyncMark is a re-sync mark no row of the task carries yet: greater than every mark used
// before, so rows seen by an abandoned re-sync never count as seen by the next one.
func (s *Store) NextSyncMark(ctx context.Context, taskID int64) (int64, error) {
	var m int64
	err := s.patiently(ctx, func() error {
		return s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(sync_mark), 0) + 1 FROM orders WHERE task_id = $1`, taskID).Scan(&m)
	})
	if err != nil {
		return 0, fmt.Errorf("store: next sync mark of task %d: %w", taskID, err)
	}
	return m, nil
}

// SaveSyncState writes a checkpoint on its own (phase changes that carry no orders).
func (s *Store) SaveSyncState(ctx context.Context, accountID int64, st SyncState) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.saveSyncStateTx(ctx, tx, accountID, st) })
}

// OrderFilter selects a counter's orders for reading.
type OrderFilter struct {
	From, To       string // YYYY-MM-DD, inclusive, in the counter's zone; "" = open
	IncludeDeleted bool
	Status         string
	Site           string
	Counted        *bool // nil: counted or not
	// Search finds an order by its id, its RetailCRM number (any case) or internal id, its
	// email (any case) or, with SearchPhone set, its phone; exact matches only.
	Search      string
	SearchPhone string // Search normalised as stored phones are ("": Search as typed)
	// SearchHashes are the hashes a task with pii=hash stores for what Search is (its phone's,
	// its email's): an order is found by them too.
	SearchHashes []string
	TaskID       int64
	Limit        int
	Cursor       string
}

const orderColumns = `id, counter_id, task_id, crm_id, order_id, order_date, order_local, session_id, user_id, item_count, profit, revenue,
	comment, contact_name, contact_phone, contact_email, tags, status, site, deleted, hash, updated_at, order_number, status_group,
	currency, counted, utm_source, utm_medium, utm_campaign, utm_keyword, utm_content, feed_seq`

func scanOrder(row scanner) (OrderRow, error) {
	var o OrderRow
	var tags string
	err := row.Scan(&o.ID, &o.CounterID, &o.TaskID, &o.CRMID, &o.OrderID, &o.OrderDate, &o.OrderLocal, &o.SessionID, &o.UserID,
		&o.ItemCount, &o.Profit, &o.Revenue, &o.Comment, &o.ContactName, &o.ContactPhone, &o.ContactEmail, &tags, &o.Status,
		&o.Site, &o.Deleted, &o.Hash, &o.UpdatedAt, &o.OrderNumber, &o.StatusGroup, &o.Currency, &o.Counted, &o.Source.Source,
		&o.Source.Medium, &o.Source.Campaign, &o.Source.Keyword, &o.Source.Content, &o.FeedSeq)
	if err != nil {
		return o, err
	}
	if err := decodeTags(tags, &o.Tags); err != nil {
		return o, fmt.Errorf("order %s: %w", o.OrderID, err)
	}
	return o, nil
}

// decodeTags reads the stored tags of an order ("" or "[]": none, nil).
func decodeTags(stored string, tags *[]string) error {
	if stored == "" || stored == "[]" {
		return nil
	}
	if err := json.Unmarshal([]byte(stored), tags); err != nil {
		return fmt.Errorf("decode tags: %w", err)
	}
	return nil
}

// ErrBadCursor is returned for a cursor this store did not produce.
var ErrBadCursor = errors.New("invalid cursor")

func encodeCursor(local string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(local + "|" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (string, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, ErrBadCursor
	}
	local, idText, ok := strings.Cut(string(b), "|")
	if !ok {
		return "", 0, ErrBadCursor
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return "", 0, ErrBadCursor
	}
	return local, id, nil
}

func (f OrderFilter) where(accountID, counterID int64) (string, []any, error) {
	conds := []string{"account_id = $1", "counter_id = $2"}
	args := []any{accountID, counterID}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.IncludeDeleted {
		add("deleted = ?", false)
	}
	if f.From != "" {
		add("order_local >= ?", f.From+" 00:00:00")
	}
	if f.To != "" {
		add("order_local <= ?", f.To+" 23:59:59")
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Site != "" {
		add("site = ?", f.Site)
	}
	if f.TaskID != 0 {
		add("task_id = ?", f.TaskID)
	}
	if f.Counted != nil {
		add("counted = ?", *f.Counted)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		// The matches are found through the exact-match indexes and the rows by id. The unary
		// + keeps SQLite from walking the counter's (counter_id, order_local) index for the
		// ORDER BY instead, which reads every order of the counter to find a handful.
		conds[0], conds[1] = "+account_id = $1", "+counter_id = $2"
		p := func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		}
		lower := p(strings.ToLower(q))
		parts := []string{
			`SELECT id FROM orders WHERE counter_id = $2 AND order_id = ` + p(q),
			`SELECT id FROM orders WHERE counter_id = $2 AND number_key = ` + lower,
			`SELECT id FROM orders WHERE counter_id = $2 AND contact_email = ` + lower,
		}
		phone := f.SearchPhone
		if phone == "" {
			phone = q
		}
		parts = append(parts, `SELECT id FROM orders WHERE counter_id = $2 AND contact_phone = `+p(phone))
		for _, h := range f.SearchHashes {
			ph := p(h)
			parts = append(parts, `SELECT id FROM orders WHERE counter_id = $2 AND contact_phone = `+ph,
				`SELECT id FROM orders WHERE counter_id = $2 AND contact_email = `+ph)
		}
		if id, err := strconv.ParseInt(q, 10, 64); err == nil && id > 0 {
			parts = append(parts, `SELECT id FROM orders WHERE counter_id = $2 AND crm_id = `+p(id))
		}
		conds = append(conds, "id IN ("+strings.Join(parts, " UNION ALL ")+")")
	}
	if f.Cursor != "" {
		local, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		args = append(args, local, id)
		n := len(args)
		conds = append(conds, fmt.Sprintf("(order_local < $%d OR (order_local = $%d AND id < $%d))", n-1, n-1, n))
	}
	return strings.Join(conds, " AND "), args, nil
}

// Orders lists a page of a counter's orders, newest order date first, and the cursor of the
// next page ("" at the end).
func (s *Store) Orders(ctx context.Context, accountID, counterID int64, f OrderFilter) ([]OrderRow, string, error) {
	where, args, err := f.where(accountID, counterID)
	if err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where+
		` ORDER BY order_local DESC, id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list orders: %w", err)
	}
	defer rows.Close()
	var out []OrderRow
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list orders: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = encodeCursor(last.OrderLocal, last.ID)
	}
	return out, next, nil
}

// EachOrder streams every matching order (no paging) to fn, newest first; memory stays flat
// however many orders match.
func (s *Store) EachOrder(ctx context.Context, accountID, counterID int64, f OrderFilter, fn func(*OrderRow) error) error {
	f.Cursor = ""
	where, args, err := f.where(accountID, counterID)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where+` ORDER BY order_local DESC, id DESC`, args...)
	if err != nil {
		return fmt.Errorf("store: stream orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return fmt.Errorf("store: stream orders: %w", err)
		}
		if err := fn(&o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DayRow is one order of a summary, money as exact decimal text summed by the caller.
type DayRow struct {
	Day         string
	Revenue     string
	Profit      string
	Currency    string
	Counted     bool
	WithSession bool // the order has a session id
}

// EachOrderMoney streams the day, money, currency and flags of the matching live orders, oldest
// day first, for summaries summed exactly in Go (SQL SUM over text would go through floating
// point).
func (s *Store) EachOrderMoney(ctx context.Context, accountID, counterID int64, f OrderFilter, fn func(DayRow) error) error {
	f.Cursor = ""
	f.IncludeDeleted = false
	where, args, err := f.where(accountID, counterID)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT substr(order_local, 1, 10), revenue, profit, currency, counted, session_id FROM orders
		WHERE `+where+` ORDER BY order_local`, args...)
	if err != nil {
		return fmt.Errorf("store: order money: %w", err)
	}
	defer rows.Close()
	var session string
	for rows.Next() {
		var d DayRow
		if err := rows.Scan(&d.Day, &d.Revenue, &d.Profit, &d.Currency, &d.Counted, &session); err != nil {
			return fmt.Errorf("store: order money: %w", err)
		}
		d.WithSession = session != ""
		if err := fn(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SourceRow is one counted order of a traffic source breakdown.
type SourceRow struct {
	Key      string // the order's source, medium or campaign ("" when it has none)
	Revenue  string
	Profit   string
	Currency string
}

// SourceFields are the source fields a breakdown can be made by, with their columns.
var SourceFields = map[string]string{"utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign"}

// EachSourceMoney streams the source field (one of SourceFields), money and currency of the
// matching live orders — the counted ones unless the filter asks for the others — for a
// breakdown by traffic source summed exactly in Go.
func (s *Store) EachSourceMoney(ctx context.Context, accountID, counterID int64, field string, f OrderFilter, fn func(SourceRow) error) error {
	column, ok := SourceFields[field]
	if !ok {
		return fmt.Errorf("store: no breakdown by %q", field)
	}
	f.Cursor = ""
	f.IncludeDeleted = false
	if f.Counted == nil {
		counted := true
		f.Counted = &counted
	}
	where, args, err := f.where(accountID, counterID)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+column+`, revenue, profit, currency FROM orders WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("store: order sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r SourceRow
		if err := rows.Scan(&r.Key, &r.Revenue, &r.Profit, &r.Currency); err != nil {
			return fmt.Errorf("store: order sources: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// TaskOrders streams the task's orders in crm id order (tests and re-mapping).
func (s *Store) TaskOrders(ctx context.Context, taskID int64, includeDeleted bool, fn func(*OrderRow) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE task_id = $1 AND (deleted = $2 OR $3) ORDER BY crm_id, id`,
		taskID, false, includeDeleted)
	if err != nil {
		return fmt.Errorf("store: task orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return fmt.Errorf("store: task orders: %w", err)
		}
		if err := fn(&o); err != nil {
			return err
		}
	}
	return rows.Err()
}
