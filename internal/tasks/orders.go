package tasks

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"orderimport/internal/access"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Limits of an orders page.
const (
	DefaultOrdersLimit = 100
	MaxOrdersLimit     = 1000
)

// OrderQuery reads the order filter of a request's query (the API's and the orders page's
// parameters are the same). A parameter that breaks a rule is reported and left out of the
// filter, so a page can still show what the others select.
func OrderQuery(q url.Values) (store.OrderFilter, []FieldError) {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	var bad problems
	f := store.OrderFilter{Status: get("status"), Site: get("site"), Search: get("q"), Cursor: get("cursor"), Limit: DefaultOrdersLimit}
	for _, k := range []string{"from", "to"} {
		v := get(k)
		if v != "" && !isDate(v) {
			bad.add(k, locale.M("date_invalid"))
			continue
		}
		if k == "from" {
			f.From = v
		} else {
			f.To = v
		}
	}
	if f.From != "" && f.To != "" && f.From > f.To {
		bad.add("to", locale.M("to_before_from"))
		f.To = ""
	}
	if v := get("include_deleted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad.add("include_deleted", locale.M("boolean_invalid"))
		}
		f.IncludeDeleted = b
	}
	if v := get("import_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			bad.add("import_id", locale.M("import_id_invalid"))
		} else {
			f.TaskID = id
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxOrdersLimit {
			bad.add("limit", locale.M("limit_invalid", "max", MaxOrdersLimit))
		} else {
			f.Limit = n
		}
	}
	return f, bad
}

// DaySummary is one day of a counter's orders (or their total, with Date "").
type DaySummary struct {
	Date    string
	Orders  int64
	Revenue string // exact decimal text
	Profit  string
}

// Summary totals a counter's live orders per day and over the filter.
type Summary struct {
	Days  []DaySummary
	Total DaySummary
}

// Summarize totals a counter's live orders per day, exactly (decimal sums).
func (s *Service) Summarize(ctx context.Context, accountID, counterID int64, f store.OrderFilter) (Summary, error) {
	if err := access.Require(ctx, accountID, access.Read); err != nil {
		return Summary{}, err
	}
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return Summary{}, err
	}
	var out Summary
	var cur *DaySummary
	var rev, prof, totRev, totProf decimal.Decimal
	flush := func() {
		if cur != nil {
			cur.Revenue, cur.Profit = rev.String(), prof.String()
			out.Days = append(out.Days, *cur)
		}
	}
	err := s.Store.EachOrderMoney(ctx, accountID, counterID, f, func(d store.DayRow) error {
		if cur == nil || cur.Date != d.Day {
			flush()
			cur = &DaySummary{Date: d.Day}
			rev, prof = decimal.Zero, decimal.Zero
		}
		cur.Orders++
		out.Total.Orders++
		if v, err := decimal.NewFromString(d.Revenue); err == nil {
			rev = rev.Add(v)
			totRev = totRev.Add(v)
		}
		if v, err := decimal.NewFromString(d.Profit); err == nil {
			prof = prof.Add(v)
			totProf = totProf.Add(v)
		}
		return nil
	})
	flush()
	if out.Days == nil {
		out.Days = []DaySummary{}
	}
	out.Total.Revenue, out.Total.Profit = totRev.String(), totProf.String()
	return out, err
}
