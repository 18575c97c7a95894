package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// ordersPerPage is one page of the orders table; the cursor pages through any number.
const ordersPerPage = 50

type ordersData struct {
	Filter   store.OrderFilter
	Counted  string // the counted filter as given: "", "true", "false"
	Errors   map[string]*fieldErr
	Orders   []orderView
	NextURL  string
	FirstURL string
	CSVURL   string
	Sum      tasks.Summary
	// Money is the counted revenue and profit in each currency, the summary's own first.
	Money     []currencyMoney
	Uncounted string // «12 заказов на 84 300,00 ₽»; "" when every order counts
	// UncountedURL lists the orders that do not count.
	UncountedURL string
	Chart        *chart
	StatusGroups []optionGroup
	Sites        []option
	Sources      *sourcesView
	Filtered     bool
	// OnlyUncounted: the filter shows the orders that do not count; the totals are theirs, and
	// the chart and the breakdown (of what counts) are left out.
	OnlyUncounted bool
	// FreshAt and FreshAgo say how current the counter's orders are: «Данные актуальны на
	// 14:05 (3 мин назад)»; "" before every active task succeeded once.
	FreshAt, FreshAgo string
}

// orderView is an order of the table with the names of its codes and its page.
type orderView struct {
	store.OrderRow
	StatusName, GroupName, SiteName string
	URL                             string
}

type currencyMoney struct {
	Currency string
	tasks.Money
}

type option struct {
	Value, Label string
	Selected     bool
}

type optionGroup struct {
	Label   string
	Data    bool // the label is RetailCRM's name, not the product's words
	Options []option
}

// orders is the counter's orders: filters, totals of the counted orders (per currency, the
// uncounted apart, the share with a session id), a chart, the breakdown by traffic source, a
// page of the table, and the CSV export of everything that matches (the API's export, same
// filters).
func (h *Web) orders(w http.ResponseWriter, r *http.Request, vw *view) {
	c, err := h.loadCounter(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	q := r.URL.Query()
	d := ordersData{Errors: map[string]*fieldErr{}}
	// A filter value that does not parse is named next to its field and left out, so the
	// page still shows something useful.
	var bad []tasks.FieldError
	d.Filter, bad = tasks.OrderQuery(q)
	by, sort, sbad := tasks.SourcesQuery(url.Values{"group_by": {q.Get("by")}, "sort": {q.Get("sort")}})
	for _, fe := range append(bad, sbad...) {
		d.Errors[fe.Field] = msgErr(vw, fe.Msg)
		q.Del(fe.Field)
	}
	if d.Filter.Counted != nil {
		d.Counted = strconv.FormatBool(*d.Filter.Counted)
	}
	d.Filter.Limit = ordersPerPage
	filterQuery := url.Values{}
	for _, k := range []string{"from", "to", "status", "site", "counted", "q", "include_deleted"} {
		if v := q.Get(k); v != "" {
			filterQuery.Set(k, v)
			d.Filtered = true
		}
	}
	acc := vw.Visitor.User.AccountID
	orders, next, err := h.Store.Orders(r.Context(), acc, c.ID, d.Filter)
	if err == store.ErrBadCursor {
		d.Errors["cursor"] = textErr(vw, "orders.err.cursor")
		d.Filter.Cursor = ""
		orders, next, err = h.Store.Orders(r.Context(), acc, c.ID, d.Filter)
	}
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	if asOf, ok, err := h.Tasks.CounterFreshness(r.Context(), acc, c.ID); err != nil {
		h.fail(w, r, vw, err)
		return
	} else if ok {
		d.FreshAt, d.FreshAgo = asOfText(vw, asOf, c.Timezone, h.now())
	}
	names, err := h.Tasks.Names(r.Context(), acc, c.ID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	for _, o := range orders {
		d.Orders = append(d.Orders, orderView{OrderRow: o, StatusName: names.Status(o.TaskID, o.Status),
			GroupName: names.Group(o.TaskID, o.StatusGroup), SiteName: names.Site(o.TaskID, o.Site), URL: orderPath(c, o.OrderID)})
	}
	page := counterPath(c, "/orders")
	if next != "" {
		nq := cloneValues(filterQuery)
		nq.Set("cursor", next)
		d.NextURL = page + "?" + nq.Encode()
	}
	if d.Filter.Cursor != "" {
		d.FirstURL = page + "?" + filterQuery.Encode()
	}
	csvq := cloneValues(filterQuery)
	csvq.Set("format", "csv")
	d.CSVURL = "/api/v1/counters/" + strconv.FormatInt(c.ID, 10) + "/orders?" + csvq.Encode()

	if d.Sum, err = h.Tasks.Summarize(r.Context(), acc, c.ID, d.Filter); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	for _, cur := range d.Sum.Currencies() {
		d.Money = append(d.Money, currencyMoney{Currency: cur, Money: d.Sum.ByCurrency[cur]})
	}
	d.OnlyUncounted = d.Filter.Counted != nil && !*d.Filter.Counted
	switch {
	case d.OnlyUncounted:
		d.Money = nil
		for _, cur := range sortedCurrencies(d.Sum.Uncounted, d.Sum.Currency) {
			d.Money = append(d.Money, currencyMoney{Currency: cur, Money: d.Sum.Uncounted[cur]})
		}
	case d.Sum.Total.Uncounted > 0:
		d.Uncounted = uncountedText(vw, d.Sum)
		uq := cloneValues(filterQuery)
		uq.Set("counted", "false")
		d.UncountedURL = page + "?" + uq.Encode()
	}
	if !d.OnlyUncounted {
		d.Chart = buildChart(vw, d.Sum.Days, d.Filter.From, d.Filter.To, d.Sum.Currency)
	}
	statuses, sites, err := h.Store.OrderFacets(r.Context(), acc, c.ID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.StatusGroups = statusOptions(vw, names, statuses, d.Filter.Status)
	for _, code := range sites {
		d.Sites = append(d.Sites, option{Value: code, Label: named(names.Site(0, code), code), Selected: code == d.Filter.Site})
	}
	if by == "" {
		by = "utm_source"
	}
	if !d.OnlyUncounted {
		src, err := h.Tasks.SourceBreakdown(r.Context(), acc, c.ID, by, sort, d.Filter)
		if err != nil {
			h.fail(w, r, vw, err)
			return
		}
		d.Sources = newSourcesView(vw, src, page, filterQuery)
	}
	vw.Section = "orders"
	vw.Title = vw.T("orders.title")
	h.render(w, r, vw, "orders.html", d)
}

// named is a code's name, or the code when RetailCRM's reference does not name it.
func named(name, code string) string {
	if name == "" {
		return code
	}
	return name
}

// statusOptions lays the statuses of the counter's orders out for the filter, by their status
// group in RetailCRM's order, each by its name.
func statusOptions(vw *view, names *tasks.Names, statuses []string, selected string) []optionGroup {
	byGroup := map[string][]option{}
	var groups []string
	for _, code := range statuses {
		g := names.StatusGroup(0, code)
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], option{Value: code, Label: named(names.Status(0, code), code), Selected: code == selected})
	}
	slices.SortFunc(groups, func(a, b string) int {
		return cmp.Or(cmp.Compare(names.GroupOrder(a), names.GroupOrder(b)), cmp.Compare(a, b))
	})
	out := make([]optionGroup, 0, len(groups))
	for _, g := range groups {
		og := optionGroup{Label: names.Group(0, g), Data: true, Options: byGroup[g]}
		if og.Label == "" {
			og.Label, og.Data = vw.T("orders.group_unknown"), false
		}
		out = append(out, og)
	}
	return out
}

// uncountedText says what the totals leave out: «12 заказов на 84 300,00 ₽ и 5 000,00 ₸».
func uncountedText(vw *view, s tasks.Summary) string {
	var sums []string
	for _, c := range sortedCurrencies(s.Uncounted, s.Currency) {
		sums = append(sums, vw.p.Money(s.Uncounted[c].Revenue, c))
	}
	return vw.T("orders.uncounted_sum", vw.p.Plural("orders", s.Total.Uncounted), strings.Join(sums, vw.T("orders.and")))
}

// sortedCurrencies lists the currencies of m, first first, then alphabetically.
func sortedCurrencies(m map[string]tasks.Money, first string) []string {
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b string) int {
		return cmp.Or(cmp.Compare(boolRank(a != first), boolRank(b != first)), cmp.Compare(a, b))
	})
	return codes
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
