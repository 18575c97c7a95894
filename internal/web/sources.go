package web

import (
	"net/url"
	"strings"

	"orderimport/internal/tasks"
)

// sourcesView is the breakdown of the counted orders by traffic source on the orders page:
// tabs for the source, the medium and the campaign, a table sortable by each column.
type sourcesView struct {
	By       string
	KeyLabel string // the heading of the key column: source, medium or campaign
	Currency string
	Tabs     []sourceTab
	Heads    []sortHead
	Rows     []sourceRow
	Orders   int64
	// WithoutSource is the share, in percent, of counted orders RetailCRM names no source for.
	WithoutSource int64
}

type sourceTab struct {
	Label, URL string
	Current    bool
}

// sortHead is a column heading that sorts by its column: descending first, ascending when it
// sorts descending already.
type sortHead struct {
	Label, URL string
	Numeric    bool
	Sort       string // "ascending", "descending" or "" (aria-sort)
}

type sourceRow struct {
	Key     string // "" for orders without a source
	Orders  int64
	Revenue string
	Profit  string
	Share   int64 // percent of the counted orders
	Other   []currencyMoney
}

var sourceFields = []string{"utm_source", "utm_medium", "utm_campaign"}

func newSourcesView(vw *view, s tasks.Sources, page string, filter url.Values) *sourcesView {
	v := &sourcesView{By: s.By, Currency: s.Currency, Orders: s.Orders, WithoutSource: s.WithoutSource()}
	link := func(by, sort string) string {
		q := cloneValues(filter)
		q.Set("by", by)
		if sort != "" && sort != "-revenue" {
			q.Set("sort", sort)
		}
		return page + "?" + q.Encode() + "#sources"
	}
	for _, f := range sourceFields {
		v.Tabs = append(v.Tabs, sourceTab{Label: vw.T("sources.by." + f), URL: link(f, s.Sort), Current: f == s.By})
	}
	v.KeyLabel = vw.T("sources.by." + s.By)
	for _, col := range []string{"key", "orders", "revenue", "profit"} {
		h := sortHead{Label: v.KeyLabel, Numeric: col != "key"}
		if col != "key" {
			h.Label = vw.T("sources.col." + col)
		}
		next := "-" + col
		if col == "key" {
			next = col
		}
		switch s.Sort {
		case "-" + col:
			h.Sort, next = "descending", col
		case col:
			h.Sort, next = "ascending", "-"+col
		}
		h.URL = link(s.By, next)
		v.Heads = append(v.Heads, h)
	}
	for _, g := range s.Groups {
		row := sourceRow{Key: g.Key, Orders: g.Orders, Revenue: g.Revenue, Profit: g.Profit}
		if s.Orders > 0 {
			row.Share = g.Orders * 100 / s.Orders
		}
		for cur, m := range g.ByCurrency {
			if cur != s.Currency {
				row.Other = append(row.Other, currencyMoney{Currency: cur, Money: m})
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// Sorted is the heading of the column the table is sorted by, for the caption.
func (v *sourcesView) Sorted() string {
	for _, h := range v.Heads {
		if h.Sort != "" {
			return strings.ToLower(h.Label)
		}
	}
	return ""
}
