package tasks

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Limits of a page of the changes feed.
const (
	DefaultChangesLimit = 100
	MaxChangesLimit     = 1000
)

// ChangesQuery is a read of a counter's changes feed.
type ChangesQuery struct {
	After store.FeedCursor
	Limit int
}

// ParseChangesQuery reads `after` and `limit`; a parameter that breaks a rule is reported.
func ParseChangesQuery(q url.Values) (ChangesQuery, []FieldError) {
	var bad problems
	cq := ChangesQuery{Limit: DefaultChangesLimit}
	if v := strings.TrimSpace(q.Get("after")); v != "" {
		c, err := store.ParseFeedCursor(v)
		if err != nil {
			bad.add("after", locale.M("cursor_invalid"))
		}
		cq.After = c
	}
	if v := strings.TrimSpace(q.Get("limit")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxChangesLimit {
			bad.add("limit", locale.M("limit_invalid", "max", MaxChangesLimit))
		} else {
			cq.Limit = n
		}
	}
	return cq, bad
}

// Changes is a page of the feed: the orders in feed order, the cursor to pass on, and whether
// more changes follow already.
type Changes struct {
	Orders []store.OrderRow
	Next   store.FeedCursor
	More   bool
}

// Changes reads a page of one of the account's counters' changes feed.
func (s *Service) Changes(ctx context.Context, accountID, counterID int64, q ChangesQuery) (Changes, error) {
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return Changes{}, err
	}
	rows, err := s.Store.Feed(ctx, accountID, counterID, q.After, q.Limit+1)
	if err != nil {
		return Changes{}, err
	}
	out := Changes{Next: q.After}
	if len(rows) > q.Limit {
		rows, out.More = rows[:q.Limit], true
	}
	if len(rows) > 0 {
		out.Next = rows[len(rows)-1].Cursor()
	}
	out.Orders = rows
	return out, nil
}
