package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/store"
)

// orderJSON has the contract's field names, shared with the CSV columns.
type orderJSON struct {
	OrderID      string   `json:"order_id"`
	OrderDate    string   `json:"order_date"`
	SessionID    string   `json:"session_id"`
	UserID       string   `json:"user_id"`
	ItemCount    string   `json:"item_count"`
	Profit       string   `json:"profit"`
	Revenue      string   `json:"revenue"`
	Comment      string   `json:"comment"`
	ContactName  string   `json:"contact_name"`
	ContactPhone string   `json:"contact_phone"`
	ContactEmail string   `json:"contact_email"`
	Tags         []string `json:"tags"`
	Status       string   `json:"status"`
	Site         string   `json:"site"`
	Deleted      bool     `json:"deleted"`
}

func orderOut(o *store.OrderRow) orderJSON {
	tags := o.Tags
	if tags == nil {
		tags = []string{}
	}
	return orderJSON{OrderID: o.OrderID, OrderDate: o.OrderLocal, SessionID: o.SessionID, UserID: o.UserID, ItemCount: o.ItemCount,
		Profit: o.Profit, Revenue: o.Revenue, Comment: o.Comment, ContactName: o.ContactName, ContactPhone: o.ContactPhone,
		ContactEmail: o.ContactEmail, Tags: tags, Status: o.Status, Site: o.Site, Deleted: o.Deleted}
}

// CSVHeader is the contract's column list, in order.
var CSVHeader = []string{"order_id", "order_date", "session_id", "user_id", "item_count", "profit", "revenue", "comment",
	"contact_name", "contact_phone", "contact_email", "tags", "status", "site", "deleted"}

// CSVRecord renders an order as CSV cells. Text cells that a spreadsheet would run as a
// formula are made inert with a leading apostrophe; the numeric cells (dates, counts, money)
// are produced by us from exact decimals, so a leading minus there is a negative number and is
// left alone.
func CSVRecord(o *store.OrderRow) []string {
	return []string{inert(o.OrderID), o.OrderLocal, inert(o.SessionID), inert(o.UserID), o.ItemCount, o.Profit, o.Revenue,
		inert(o.Comment), inert(o.ContactName), inert(o.ContactPhone), inert(o.ContactEmail), inert(strings.Join(o.Tags, ",")),
		inert(o.Status), inert(o.Site), strconv.FormatBool(o.Deleted)}
}

func inert(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// OrderFilterFromQuery parses the contract's query parameters; bad ones are named.
func OrderFilterFromQuery(q map[string][]string) (store.OrderFilter, string, string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f := store.OrderFilter{From: get("from"), To: get("to"), Status: get("status"), Site: get("site"), Search: get("q"), Cursor: get("cursor")}
	for _, k := range []string{"from", "to"} {
		if v := get(k); v != "" {
			if _, err := time.Parse("2006-01-02", v); err != nil {
				return f, k, "must be a date YYYY-MM-DD"
			}
		}
	}
	if f.From != "" && f.To != "" && f.From > f.To {
		return f, "to", "must not be before from"
	}
	if v := get("include_deleted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, "include_deleted", "must be true or false"
		}
		f.IncludeDeleted = b
	}
	if v := get("import_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, "import_id", "must be an import id"
		}
		f.TaskID = id
	}
	f.Limit = 100
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, "limit", "must be a whole number from 1 to 1000"
		}
		f.Limit = n
	}
	return f, "", ""
}

func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	acc := userFrom(r.Context()).AccountID
	if _, err := a.Store.Counter(r.Context(), acc, counterID); err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	f, field, msg := OrderFilterFromQuery(q)
	if field != "" {
		writeError(w, http.StatusBadRequest, "bad_request", field+" "+msg, field)
		return
	}
	format := q.Get("format")
	switch format {
	case "", "json":
	case "csv":
		a.exportCSV(w, r, acc, counterID, f)
		return
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "format must be json or csv", "format")
		return
	}
	orders, next, err := a.Store.Orders(r.Context(), acc, counterID, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]orderJSON, 0, len(orders))
	for i := range orders {
		out = append(out, orderOut(&orders[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out, "next_cursor": next})
}

// exportCSV streams every matching order; nothing is held in memory but one row.
func (a *API) exportCSV(w http.ResponseWriter, r *http.Request, acc, counterID int64, f store.OrderFilter) {
	if f.Cursor != "" {
		writeError(w, http.StatusBadRequest, "bad_request", "cursor is for format=json; the CSV export streams every matching order", "cursor")
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="orders-`+strconv.FormatInt(counterID, 10)+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	n := 0
	err := a.Store.EachOrder(r.Context(), acc, counterID, f, func(o *store.OrderRow) error {
		if err := cw.Write(CSVRecord(o)); err != nil {
			return err
		}
		n++
		if n%1000 == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	})
	cw.Flush()
	if err != nil {
		// Headers are gone; a truncated file is the only signal left, and the log says why.
		a.log().Error("csv export failed", "counter_id", counterID, "rows", n, "error", err)
	}
}
