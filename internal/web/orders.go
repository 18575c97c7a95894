package web

import (
	"net/http"
	"net/url"
	"strconv"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// ordersPerPage is one page of the orders table; the cursor pages through any number.
const ordersPerPage = 50

type ordersData struct {
	Filter   store.OrderFilter
	Errors   map[string]*fieldErr
	Orders   []store.OrderRow
	NextURL  string
	FirstURL string
	CSVURL   string
	Total    tasks.DaySummary
	Days     []tasks.DaySummary
	Chart    *chart
	Statuses []string
	Sites    []string
	Filtered bool
}

// orders is the counter's orders: filters, a chart and totals of the filtered set, a page of
// the table, and the CSV export of everything that matches (the API's export, same filters).
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
	for _, fe := range bad {
		d.Errors[fe.Field] = msgErr(vw, fe.Msg)
		q.Del(fe.Field)
	}
	d.Filter.Limit = ordersPerPage
	filterQuery := url.Values{}
	for _, k := range []string{"from", "to", "status", "site", "q", "include_deleted"} {
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
	d.Orders = orders
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

	sum, err := h.Tasks.Summarize(r.Context(), acc, c.ID, d.Filter)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.Days, d.Total = sum.Days, sum.Total
	d.Chart = buildChart(vw, d.Days, d.Filter.From, d.Filter.To)
	if d.Statuses, d.Sites, err = h.Store.OrderFacets(r.Context(), acc, c.ID); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	vw.Section = "orders"
	vw.Title = vw.T("orders.title")
	h.render(w, r, vw, "orders.html", d)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
