package tasks

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"orderimport/internal/access"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Money is the orders, revenue and profit of a set of orders in one currency (exact decimal
// text).
type Money struct {
	Orders  int64
	Revenue string
	Profit  string
}

// DaySummary is one day of a counter's orders (or their total, with Date ""). Orders, Revenue
// and Profit are of the counted orders, the money in the summary's currency; the orders of
// every currency are in ByCurrency.
type DaySummary struct {
	Date        string
	Orders      int64
	Revenue     string
	Profit      string
	Uncounted   int64 // orders that do not count (cancelled ones, by default)
	WithSession int64 // counted orders with a session id: Orders' share of them is the match rate
	ByCurrency  map[string]Money
}

// MatchRate is the percentage of counted orders that carry a session id (0 without orders).
func (d DaySummary) MatchRate() int64 {
	if d.Orders == 0 {
		return 0
	}
	return d.WithSession * 100 / d.Orders
}

// Summary totals a counter's live orders per day and over the filter. Only counted orders go
// into the sums, per currency: amounts of different currencies are never added together.
type Summary struct {
	// Currency is the one most counted orders are in (the days' and the total's money); ""
	// when nothing counts.
	Currency   string
	Days       []DaySummary
	Total      DaySummary
	ByCurrency map[string]Money // counted orders
	Uncounted  map[string]Money // orders that do not count, which the totals leave out
}

// Currencies lists the summary's currencies, its own first, then alphabetically.
func (s Summary) Currencies() []string {
	out := make([]string, 0, len(s.ByCurrency))
	for c := range s.ByCurrency {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b string) int {
		return cmp.Or(cmp.Compare(boolRank(a != s.Currency), boolRank(b != s.Currency)), cmp.Compare(a, b))
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tally sums money exactly.
type tally struct {
	orders          int64
	revenue, profit decimal.Decimal
}

func (t *tally) add(revenue, profit string) {
	t.orders++
	if v, err := decimal.NewFromString(revenue); err == nil {
		t.revenue = t.revenue.Add(v)
	}
	if v, err := decimal.NewFromString(profit); err == nil {
		t.profit = t.profit.Add(v)
	}
}

func (t *tally) money() Money {
	return Money{Orders: t.orders, Revenue: t.revenue.String(), Profit: t.profit.String()}
}

type byCurrency map[string]*tally

func (b byCurrency) add(currency, revenue, profit string) {
	t := b[currency]
	if t == nil {
		t = &tally{}
		b[currency] = t
	}
	t.add(revenue, profit)
}

func (b byCurrency) money() map[string]Money {
	out := make(map[string]Money, len(b))
	for c, t := range b {
		out[c] = t.money()
	}
	return out
}

// main is the currency with the most orders (ties: the first alphabetically).
func (b byCurrency) main() string {
	best := ""
	for c, t := range b {
		if bt := b[best]; bt == nil || t.orders > bt.orders || (t.orders == bt.orders && c < best) {
			best = c
		}
	}
	return best
}

// Summarize totals a counter's live orders per day, exactly (decimal sums), per currency, with
// the orders that do not count and the share with a session id.
func (s *Service) Summarize(ctx context.Context, accountID, counterID int64, f store.OrderFilter) (Summary, error) {
	if err := access.Require(ctx, accountID, access.Read); err != nil {
		return Summary{}, err
	}
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return Summary{}, err
	}
	type day struct {
		date        string
		counted     byCurrency
		uncounted   int64
		withSession int64
	}
	var days []*day
	total, uncounted := byCurrency{}, byCurrency{}
	var withSession int64
	err := s.Store.EachOrderMoney(ctx, accountID, counterID, f, func(r store.DayRow) error {
		if len(days) == 0 || days[len(days)-1].date != r.Day {
			days = append(days, &day{date: r.Day, counted: byCurrency{}})
		}
		d := days[len(days)-1]
		if !r.Counted {
			d.uncounted++
			uncounted.add(r.Currency, r.Revenue, r.Profit)
			return nil
		}
		d.counted.add(r.Currency, r.Revenue, r.Profit)
		total.add(r.Currency, r.Revenue, r.Profit)
		if r.WithSession {
			d.withSession++
			withSession++
		}
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	out := Summary{Currency: total.main(), ByCurrency: total.money(), Uncounted: uncounted.money(), Days: []DaySummary{}}
	if out.Currency == "" && len(total) == 0 {
		out.Currency = uncounted.main()
	}
	sum := func(b byCurrency, date string, uncounted, withSession int64) DaySummary {
		d := DaySummary{Date: date, Revenue: "0", Profit: "0", Uncounted: uncounted, WithSession: withSession, ByCurrency: b.money()}
		for _, t := range b {
			d.Orders += t.orders
		}
		if t := b[out.Currency]; t != nil {
			d.Revenue, d.Profit = t.revenue.String(), t.profit.String()
		}
		return d
	}
	for _, d := range days {
		out.Days = append(out.Days, sum(d.counted, d.date, d.uncounted, d.withSession))
	}
	var totalUncounted int64
	for _, t := range uncounted {
		totalUncounted += t.orders
	}
	out.Total = sum(total, "", totalUncounted, withSession)
	return out, nil
}

// SourceGroup is one traffic source (or medium, or campaign) of a breakdown: its counted
// orders, their revenue and profit in the breakdown's currency, and every currency's.
type SourceGroup struct {
	Key        string // "" for orders without one
	Orders     int64
	Revenue    string
	Profit     string
	ByCurrency map[string]Money
}

// Sources is a breakdown of counted orders by traffic source.
type Sources struct {
	By       string // utm_source, utm_medium or utm_campaign
	Sort     string
	Currency string
	Groups   []SourceGroup
	Orders   int64 // counted orders in all groups
}

// WithoutSource is the share, in percent, of counted orders without a source.
func (s Sources) WithoutSource() int64 {
	if s.Orders == 0 {
		return 0
	}
	for _, g := range s.Groups {
		if g.Key == "" {
			return g.Orders * 100 / s.Orders
		}
	}
	return 0
}

// Breakdown sort orders: a column, descending with a leading minus.
var breakdownSorts = []string{"-revenue", "revenue", "-orders", "orders", "-profit", "profit", "key", "-key"}

// SourcesQuery reads the breakdown's parameters: group_by (utm_source, utm_medium,
// utm_campaign; "" for none) and sort (default -revenue).
func SourcesQuery(q url.Values) (by, sort string, bad []FieldError) {
	var p problems
	by = strings.TrimSpace(q.Get("group_by"))
	if _, ok := store.SourceFields[by]; by != "" && !ok {
		p.add("group_by", locale.M("group_by_invalid"))
		by = ""
	}
	sort = strings.TrimSpace(q.Get("sort"))
	if sort == "" {
		sort = breakdownSorts[0]
	}
	if !slices.Contains(breakdownSorts, sort) {
		p.add("sort", locale.M("sort_invalid"))
		sort = breakdownSorts[0]
	}
	return by, sort, p
}

// SourceBreakdown sums a counter's counted orders (with counted=false in the filter: those
// that do not count) by traffic source (by: one of store.SourceFields), exactly and per
// currency, sorted as asked.
func (s *Service) SourceBreakdown(ctx context.Context, accountID, counterID int64, by, sort string, f store.OrderFilter) (Sources, error) {
	if err := access.Require(ctx, accountID, access.Read); err != nil {
		return Sources{}, err
	}
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return Sources{}, err
	}
	groups := map[string]byCurrency{}
	all := byCurrency{}
	err := s.Store.EachSourceMoney(ctx, accountID, counterID, by, f, func(r store.SourceRow) error {
		g := groups[r.Key]
		if g == nil {
			g = byCurrency{}
			groups[r.Key] = g
		}
		g.add(r.Currency, r.Revenue, r.Profit)
		all.add(r.Currency, r.Revenue, r.Profit)
		return nil
	})
	if err != nil {
		return Sources{}, err
	}
	out := Sources{By: by, Sort: sort, Currency: all.main(), Groups: []SourceGroup{}}
	revenue := map[string]decimal.Decimal{}
	profit := map[string]decimal.Decimal{}
	for key, b := range groups {
		g := SourceGroup{Key: key, Revenue: "0", Profit: "0", ByCurrency: b.money()}
		for _, t := range b {
			g.Orders += t.orders
		}
		if t := b[out.Currency]; t != nil {
			g.Revenue, g.Profit = t.revenue.String(), t.profit.String()
			revenue[key], profit[key] = t.revenue, t.profit
		}
		out.Orders += g.Orders
		out.Groups = append(out.Groups, g)
	}
	desc := strings.HasPrefix(sort, "-")
	slices.SortFunc(out.Groups, func(a, b SourceGroup) int {
		var c int
		switch strings.TrimPrefix(sort, "-") {
		case "orders":
			c = cmp.Compare(a.Orders, b.Orders)
		case "profit":
			c = profit[a.Key].Cmp(profit[b.Key])
		case "key":
			c = cmp.Compare(a.Key, b.Key)
		default:
			c = revenue[a.Key].Cmp(revenue[b.Key])
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}
