package retailcrm

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Order carries the few fields the sync needs typed, and the order object exactly as RetailCRM
// sent it: the mapping evaluates its expressions over Raw. Raw is a copy owned by the Order.
type Order struct {
	ID         int64
	Number     string
	ExternalID string
	Site       string
	Status     string
	CreatedAt  string // "Y-m-d H:i:s", naive, in the account's timezone (Settings.Timezone)
	Currency   string // the order's currency code; older payloads carry none
	Source     OrderSource
	// PurchaseSumm is the purchase cost as sent (a JSON number's text, "" when absent): in the
	// account's base currency, whatever the order's.
	PurchaseSumm string
	Raw          json.RawMessage
	// members lists where each top-level member's value lies in Raw, as the answer's decoder
	// found it; laidOut says it was (an Order built from Raw alone was not).
	members []member
	laidOut bool
}

// member is one top-level member of an order: its name and its value's bytes, Raw[from:to].
type member struct {
	name     string
	from, to int32
}

// Members yields the order's top-level members in the order RetailCRM sent them: the name, and
// the value's exact bytes within Raw (valid as long as Raw is). It returns nil for an order not
// read from an answer (built from Raw alone), which has to be parsed whole.
func (o *Order) Members() iter.Seq2[string, []byte] {
	if !o.laidOut {
		return nil
	}
	return func(yield func(string, []byte) bool) {
		for _, m := range o.members {
			if !yield(m.name, o.Raw[m.from:m.to]) {
				return
			}
		}
	}
}

// OrderSource is where an order came from (RetailCRM's "source" object), by names.
type OrderSource struct {
	Source, Medium, Campaign, Keyword, Content string
}

// Pagination is RetailCRM's page descriptor.
type Pagination struct {
	Limit          int
	TotalCount     int
	CurrentPage    int
	TotalPageCount int
}

// OrdersFilter selects orders for GET /api/v5/orders; empty fields are not sent.
type OrdersFilter struct {
	IDs         []int64
	Numbers     []string
	ExternalIDs []string
	Sites       []string
	// CreatedAtFrom and CreatedAtTo are "Y-m-d": RetailCRM filters by whole days, both ends inclusive.
	CreatedAtFrom, CreatedAtTo string
}

// OrdersPage is one page of an order list.
type OrdersPage struct {
	Pagination Pagination
	Orders     []Order
}

const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02 15:04:05"
	// maxIDsPerCall keeps filter[ids][] lists at one page of the largest limit.
	maxIDsPerCall = 100
)

func checkLimit(limit int) error {
	switch limit {
	case 20, 50, 100:
		return nil
	}
	return &Error{Kind: KindValidation, Message: fmt.Sprintf("page size %d is not one RetailCRM accepts (20, 50 or 100)", limit)}
}

func (f OrdersFilter) query() (url.Values, error) {
	q := url.Values{}
	for _, id := range f.IDs {
		q.Add("filter[ids][]", strconv.FormatInt(id, 10))
	}
	for _, n := range f.Numbers {
		q.Add("filter[numbers][]", n)
	}
	for _, id := range f.ExternalIDs {
		q.Add("filter[externalIds][]", id)
	}
	for _, s := range f.Sites {
		q.Add("filter[sites][]", s)
	}
	for _, d := range []struct{ name, value string }{
		{"createdAtFrom", f.CreatedAtFrom}, {"createdAtTo", f.CreatedAtTo},
	} {
		if d.value == "" {
			continue
		}
		if _, err := time.Parse(dateLayout, d.value); err != nil {
			return nil, &Error{Kind: KindValidation, Message: fmt.Sprintf("%s %q is not a Y-m-d date", d.name, d.value)}
		}
		q.Set("filter["+d.name+"]", d.value)
	}
	return q, nil
}

// Orders reads one page (page ≥ 1) of the orders matching f; limit must be 20, 50 or 100.
func (c *Client) Orders(ctx context.Context, f OrdersFilter, page, limit int) (*OrdersPage, error) {
	p, err := c.orders(ctx, f, page, limit)
	if err != nil {
		return nil, fmt.Errorf("retailcrm: list orders page %d: %w", page, err)
	}
	return p, nil
}

func (c *Client) orders(ctx context.Context, f OrdersFilter, page, limit int) (*OrdersPage, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	if page < 1 {
		return nil, &Error{Kind: KindValidation, Message: fmt.Sprintf("page %d is not a page number", page)}
	}
	q, err := f.query()
	if err != nil {
		return nil, err
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("page", strconv.Itoa(page))
	return fetch(ctx, c, "/api/v5/orders", q, decodeOrdersMember)
}

func decodeOrdersMember(r *reader, name string, p *OrdersPage) error {
	switch name {
	case "pagination":
		return r.pagination(&p.Pagination)
	case "orders":
		return r.elements(func([]byte) error {
			o, err := r.order()
			if o != nil {
				p.Orders = append(p.Orders, *o)
			}
			return err
		})
	}
	return r.skip()
}

// OrdersByIDs reads every order whose id is in ids, in calls of at most 100 ids. Orders RetailCRM
// does not return (deleted, or not visible to the key) are simply absent; duplicates in ids are
// asked once. sites, if given, is passed as filter[sites][].
func (c *Client) OrdersByIDs(ctx context.Context, ids []int64, sites []string) ([]Order, error) {
	seen := make(map[int64]bool, len(ids))
	unique := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	var out []Order
	for chunk := range slices.Chunk(unique, maxIDsPerCall) {
		f := OrdersFilter{IDs: chunk, Sites: sites}
		err := c.EachOrdersPage(ctx, f, maxIDsPerCall, func(p *OrdersPage) error {
			for _, o := range p.Orders {
				// A server that ignored the filter must not inject unrelated orders.
				if seen[o.ID] {
					out = append(out, o)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// EachOrdersPage walks every page of the orders matching f, calling fn with each page in turn;
// only one page is held at a time. An error from fn stops the walk and is returned as is.
func (c *Client) EachOrdersPage(ctx context.Context, f OrdersFilter, limit int, fn func(*OrdersPage) error) error {
	for page := 1; ; page++ {
		p, err := c.Orders(ctx, f, page, limit)
		if err != nil {
			return err
		}
		if len(p.Orders) == 0 {
			return nil
		}
		if err := fn(p); err != nil {
			return err
		}
		if page >= p.Pagination.TotalPageCount {
			return nil
		}
	}
}

// HistoryFilter selects entries of the order change feed (GET /api/v5/orders/history).
type HistoryFilter struct {
	SinceID   int64  // entries with a greater id (exclusive cursor)
	StartDate string // "Y-m-d H:i:s"
	EndDate   string // "Y-m-d H:i:s"
	OrderID   int64  // one order's entries
}

// HistoryPage is one page of the change feed.
type HistoryPage struct {
	GeneratedAt string
	Pagination  Pagination
	History     []HistoryEntry
}

// HistoryEntry is one change. Creation entries (Created) carry the full order in Order; other
// entries carry a stub {id, externalId, site, status, …}; Raw is filled either way.
type HistoryEntry struct {
	ID            int64
	CreatedAt     string // "Y-m-d H:i:s", account timezone
	Created       bool
	Deleted       bool
	Source        string // user, api, code, …
	Field         string // snake_case field name, custom fields as custom_<code>
	OldValue      json.RawMessage
	NewValue      json.RawMessage // scalar or object as sent; nil when absent
	Order         *Order
	CombinedTo    *Order // the order this one was merged into
	Ancestor      *Order
	APIKeyCurrent bool            // made with the key reading the feed
	UserID        int64           // the user who made a "user" change
	Item          json.RawMessage // the order line of order_product.* changes
	Payment       json.RawMessage // the payment of payments.* changes
}

func (f HistoryFilter) query() (url.Values, error) {
	q := url.Values{}
	if f.SinceID > 0 {
		q.Set("filter[sinceId]", strconv.FormatInt(f.SinceID, 10))
	}
	if f.OrderID > 0 {
		q.Set("filter[orderId]", strconv.FormatInt(f.OrderID, 10))
	}
	for _, d := range []struct{ name, value string }{
		{"startDate", f.StartDate}, {"endDate", f.EndDate},
	} {
		if d.value == "" {
			continue
		}
		if _, err := time.Parse(dateTimeLayout, d.value); err != nil {
			return nil, &Error{Kind: KindValidation, Message: fmt.Sprintf("%s %q is not a Y-m-d H:i:s time", d.name, d.value)}
		}
		q.Set("filter["+d.name+"]", d.value)
	}
	return q, nil
}

// History reads one page of the change feed. It never sends page: since 2023 RetailCRM answers
// 400 to sinceId with page; walk forward by moving SinceID to each page's last entry instead.
func (c *Client) History(ctx context.Context, f HistoryFilter, limit int) (*HistoryPage, error) {
	p, err := c.history(ctx, f, limit)
	if err != nil {
		return nil, fmt.Errorf("retailcrm: read order history after id %d: %w", f.SinceID, err)
	}
	return p, nil
}

func (c *Client) history(ctx context.Context, f HistoryFilter, limit int) (*HistoryPage, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	q, err := f.query()
	if err != nil {
		return nil, err
	}
	q.Set("limit", strconv.Itoa(limit))
	return fetch(ctx, c, "/api/v5/orders/history", q, decodeHistoryMember)
}

func decodeHistoryMember(r *reader, name string, p *HistoryPage) (err error) {
	switch name {
	case "generatedAt":
		p.GeneratedAt, err = r.str()
	case "pagination":
		err = r.pagination(&p.Pagination)
	case "history":
		err = r.elements(func([]byte) error {
			if r.dec.PeekKind() != '{' {
				return r.skip()
			}
			var e HistoryEntry
			err := r.historyEntry(&e)
			p.History = append(p.History, e)
			return err
		})
	default:
		err = r.skip()
	}
	return err
}

func (r *reader) historyEntry(e *HistoryEntry) error {
	return r.members(func(name []byte) (err error) {
		switch string(name) {
		case "id":
			e.ID, err = r.int()
		case "createdAt":
			e.CreatedAt, err = r.str()
		case "created":
			e.Created, err = r.bool()
		case "deleted":
			e.Deleted, err = r.bool()
		case "source":
			e.Source, err = r.str()
		case "field":
			e.Field, err = r.str()
		case "oldValue":
			e.OldValue, err = r.raw()
		case "newValue":
			e.NewValue, err = r.raw()
		case "order":
			e.Order, err = r.order()
		case "combinedTo":
			e.CombinedTo, err = r.order()
		case "ancestor":
			e.Ancestor, err = r.order()
		case "item":
			e.Item, err = r.raw()
		case "payment":
			e.Payment, err = r.raw()
		case "apiKey":
			err = r.members(func(name []byte) (err error) {
				if string(name) != "current" {
					return r.skip()
				}
				e.APIKeyCurrent, err = r.bool()
				return err
			})
		case "user":
			err = r.members(func(name []byte) (err error) {
				if string(name) != "id" {
					return r.skip()
				}
				e.UserID, err = r.int()
				return err
			})
		default:
			err = r.skip()
		}
		return err
	})
}
