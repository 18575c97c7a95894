package web

import (
	"net/http"
	"net/url"
	"strconv"

	"orderimport/internal/api"
	"orderimport/internal/store"
)

// ordersPerPage is one page of the orders table; the cursor pages through any number.
const ordersPerPage = 50

type ordersData struct {
	Filter   store.OrderFilter
	Errors   map[string]string
	Orders   []store.OrderRow
	NextURL  string
	FirstURL string
	CSVURL   string
	Total    api.DaySummary
	Days     []api.DaySummary
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
	d := ordersData{Errors: map[string]string{}}
	// A filter value that does not parse is named next to its field and left out, so the
	// page still shows something useful.
	for {
		f, field, _ := api.OrderFilterFromQuery(q)
		if field == "" {
			d.Filter = f
			break
		}
		d.Errors[field] = vw.T("orders.err." + errorKey(field))
		q.Del(field)
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
		d.Errors["cursor"] = vw.T("orders.err.cursor")
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

	d.Days, d.Total, err = api.Summarize(r, h.Store, acc, c.ID, d.Filter)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.Chart = buildChart(vw, d.Days, d.Filter.From, d.Filter.To)
	if d.Statuses, d.Sites, err = h.Store.OrderFacets(r.Context(), acc, c.ID); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	vw.Section = "orders"
	vw.Title = vw.T("orders.title")
	h.render(w, r, vw, "orders.html", d)
}

// errorKey names the message for a filter field the API's parser refused.
func errorKey(field string) string {
	switch field {
	case "from", "to", "include_deleted", "limit":
		return field
	}
	return "other"
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
