package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"

	"orderimport/internal/export"
	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// CSVHeader is the export's column list, in order (docs/API.md): clients rely on it. The first
// 15 columns came first; columns added later are appended after them.
var CSVHeader = []string{"order_id", "order_date", "session_id", "user_id", "item_count", "profit", "revenue", "comment",
	"contact_name", "contact_phone", "contact_email", "tags", "status", "site", "deleted",
	"status_group", "currency", "counted", "utm_source", "utm_medium", "utm_campaign"}

// CSVRecord renders an order as CSV cells. Text cells that a spreadsheet would run as a
// formula are made inert with a leading apostrophe; the numeric cells (dates, counts, money)
// are produced by us from exact decimals, so a leading minus there is a negative number and is
// left alone.
func CSVRecord(o *store.OrderRow) []string {
	return []string{inert(o.OrderID), o.OrderLocal, inert(o.SessionID), inert(o.UserID), o.ItemCount, o.Profit, o.Revenue,
		inert(o.Comment), inert(o.ContactName), inert(o.ContactPhone), inert(o.ContactEmail), inert(strings.Join(o.Tags, ",")),
		inert(o.Status), inert(o.Site), strconv.FormatBool(o.Deleted),
		inert(o.StatusGroup), inert(o.Currency), strconv.FormatBool(o.Counted), inert(o.Source.Source), inert(o.Source.Medium),
		inert(o.Source.Campaign)}
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
	f, ok := orderFilter(w, r)
	if !ok {
		return
	}
	format := q.Get("format")
	switch format {
	case "", "json":
	case "csv":
		a.exportCSV(w, r, acc, counterID, f)
		return
	default:
		problem(w, r, http.StatusBadRequest, locale.M("format_invalid"), "format")
		return
	}
	orders, next, err := a.Store.Orders(r.Context(), acc, counterID, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	names, err := a.Tasks.Names(r.Context(), acc, counterID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]export.Order, 0, len(orders))
	for i := range orders {
		out = append(out, export.OrderOf(&orders[i], names))
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": out, "next_cursor": next})
}

// orderFilter reads the order filter of the query; a parameter that breaks a rule is a 400
// naming it.
func orderFilter(w http.ResponseWriter, r *http.Request) (store.OrderFilter, bool) {
	f, bad := tasks.OrderQuery(r.URL.Query())
	if len(bad) > 0 {
		problem(w, r, http.StatusBadRequest, bad[0].Msg, bad[0].Field)
		return f, false
	}
	return f, true
}

// exportCSV streams every matching order; nothing is held in memory but one row.
func (a *API) exportCSV(w http.ResponseWriter, r *http.Request, acc, counterID int64, f store.OrderFilter) {
	if f.Cursor != "" {
		problem(w, r, http.StatusBadRequest, locale.M("cursor_csv"), "cursor")
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
