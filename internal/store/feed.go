package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The changes feed of a counter: every order carries the position of its latest change
// (orders.feed_seq), and the feed is the counter's orders in (feed_seq, id) order. An order
// changed twice before a reader reaches it is read once, in its latest state; an order changed
// after a reader passed it is read again at its new position.
//
// The hard part is concurrency. A position must never become visible after a larger one: a
// reader that already passed it would miss the change. A sequence would hand positions out in
// the order transactions ask for them, and they become visible in the order they commit. So a
// transaction that changes orders takes one position for all its changes with
// `UPDATE counters SET feed_seq = feed_seq + 1 … RETURNING feed_seq` (feedPosition), which
// locks the counter's row until the transaction ends: the next writer of the counter gets its
// position only after this one committed (or rolled back). Positions are therefore in commit
// order, on PostgreSQL with any number of writers and processes as on SQLite, whose single
// writer serialises them anyway. Every writer of orders' exported fields calls feedPosition in
// its transaction before its first write and stamps the position on every row it changes.

// FeedCursor is a place in a counter's feed: after the change of order row ID at position Seq.
// The zero cursor is the feed's beginning.
type FeedCursor struct {
	Seq int64
	ID  int64
}

// String is the cursor's opaque form, as the API hands it out.
func (c FeedCursor) String() string {
	return strconv.FormatInt(c.Seq, 10) + "-" + strconv.FormatInt(c.ID, 10)
}

// ParseFeedCursor reads a cursor String produced; anything else is ErrBadCursor.
func ParseFeedCursor(s string) (FeedCursor, error) {
	seq, id, ok := strings.Cut(s, "-")
	if !ok {
		return FeedCursor{}, ErrBadCursor
	}
	var c FeedCursor
	var err1, err2 error
	c.Seq, err1 = strconv.ParseInt(seq, 10, 64)
	c.ID, err2 = strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil || c.Seq < 0 || c.ID < 0 || c.String() != s {
		return FeedCursor{}, ErrBadCursor
	}
	return c, nil
}

// Cursor is the place of an order read from the feed: right after it.
func (o *OrderRow) Cursor() FeedCursor { return FeedCursor{Seq: o.FeedSeq, ID: o.ID} }

// feedPosition takes the counter's next feed position for the transaction's changes and holds
// the counter's row locked until tx ends (see the top of this file). A transaction calls it once
// per counter, before its first write of an order of that counter; the position is announced
// to the feed's listener once tx commits.
func (s *Store) feedPosition(ctx context.Context, tx *sql.Tx, counterID int64) (int64, error) {
	var pos int64
	err := tx.QueryRowContext(ctx, `UPDATE counters SET feed_seq = feed_seq + 1 WHERE id = $1 RETURNING feed_seq`, counterID).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("store: take a feed position of counter %d: %w", counterID, notFound(err))
	}
	s.feedWrites.add(tx, counterID)
	return pos, nil
}

// feedTx takes a counter's feed position the first time a transaction needs it.
type feedTx struct {
	s         *Store
	counterID int64
	pos       int64
}

func (f *feedTx) position(ctx context.Context, tx *sql.Tx) (int64, error) {
	if f.pos == 0 {
		pos, err := f.s.feedPosition(ctx, tx, f.counterID)
		if err != nil {
			return 0, err
		}
		f.pos = pos
	}
	return f.pos, nil
}

// feedWrites remembers which counters each open transaction appended to, so that the feed's
// listener hears of them once the transaction commits, and never of one that rolled back.
type feedWrites struct {
	mu       sync.Mutex
	byTx     map[*sql.Tx][]int64
	listener func(counterIDs []int64)
}

func (f *feedWrites) add(tx *sql.Tx, counterID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byTx == nil {
		f.byTx = map[*sql.Tx][]int64{}
	}
	f.byTx[tx] = append(f.byTx[tx], counterID)
}

// done forgets tx and, when it committed, tells the listener about its counters.
func (f *feedWrites) done(tx *sql.Tx, committed bool) {
	f.mu.Lock()
	ids, ok := f.byTx[tx]
	delete(f.byTx, tx)
	listener := f.listener
	f.mu.Unlock()
	if ok && committed && listener != nil {
		listener(ids)
	}
}

// OnFeed sets the function told, after each commit that appended to feeds, which counters'
// feeds grew (the webhooks' deliveries start from it). It is called on the committing
// goroutine and must not block.
func (s *Store) OnFeed(fn func(counterIDs []int64)) {
	s.feedWrites.mu.Lock()
	defer s.feedWrites.mu.Unlock()
	s.feedWrites.listener = fn
}

// Feed reads up to limit changes of the counter's feed after the cursor, in feed order, each
// as the order's current row (deleted ones included: their change is the deletion).
func (s *Store) Feed(ctx context.Context, accountID, counterID int64, after FeedCursor, limit int) ([]OrderRow, error) {
	out := make([]OrderRow, 0, min(limit, 1000))
	err := s.eachFeed(ctx, s.r, accountID, counterID, after, limit, func(o *OrderRow) error {
		out = append(out, *o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) eachFeed(ctx context.Context, q querier, accountID, counterID int64, after FeedCursor, limit int, fn func(*OrderRow) error) error {
	// The row value comparison walks the (counter_id, feed_seq, id) index from the cursor on,
	// on both engines.
	rows, err := q.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE counter_id = $1 AND account_id = $2 AND (feed_seq, id) > ($3, $4)
		ORDER BY feed_seq, id LIMIT $5`, counterID, accountID, after.Seq, after.ID, limit)
	if err != nil {
		return fmt.Errorf("store: read the feed of counter %d: %w", counterID, err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return fmt.Errorf("store: read the feed of counter %d: %w", counterID, err)
		}
		if err := fn(&o); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read the feed of counter %d: %w", counterID, err)
	}
	return nil
}

// FeedEnd is the cursor after every change of the counter's feed committed so far: a reader
// starting there sees only what commits later (a new webhook starts there).
func (s *Store) FeedEnd(ctx context.Context, accountID, counterID int64) (FeedCursor, error) {
	var seq int64
	err := s.w.QueryRowContext(ctx, `SELECT feed_seq FROM counters WHERE id = $1 AND account_id = $2`, counterID, accountID).Scan(&seq)
	if err != nil {
		return FeedCursor{}, fmt.Errorf("store: feed end of counter %d: %w", counterID, notFound(err))
	}
	// Every change at seq has committed (its writer held the counter's row until then), and
	// the next position's changes all come after (seq+1, 0).
	return FeedCursor{Seq: seq + 1}, nil
}
