package api

import (
	"net/http"

	"github.com/shopspring/decimal"

	"orderimport/internal/store"
)

// DaySummary is one day of a counter's orders.
type DaySummary struct {
	Date    string `json:"date"`
	Orders  int64  `json:"orders"`
	Revenue string `json:"revenue"`
	Profit  string `json:"profit"`
}

// Summarize totals a counter's live orders per day, exactly (decimal sums).
func Summarize(r *http.Request, st *store.Store, acc, counterID int64, f store.OrderFilter) ([]DaySummary, DaySummary, error) {
	var days []DaySummary
	var cur *DaySummary
	var rev, prof, totRev, totProf decimal.Decimal
	var total int64
	flush := func() {
		if cur != nil {
			cur.Revenue, cur.Profit = rev.String(), prof.String()
			days = append(days, *cur)
		}
	}
	err := st.EachOrderMoney(r.Context(), acc, counterID, f, func(d store.DayRow) error {
		if cur == nil || cur.Date != d.Day {
			flush()
			cur = &DaySummary{Date: d.Day}
			rev, prof = decimal.Zero, decimal.Zero
		}
		cur.Orders++
		total++
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
	if days == nil {
		days = []DaySummary{}
	}
	return days, DaySummary{Orders: total, Revenue: totRev.String(), Profit: totProf.String()}, err
}

func (a *API) summary(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	acc := userFrom(r.Context()).AccountID
	if _, err := a.Store.Counter(r.Context(), acc, counterID); err != nil {
		a.fail(w, r, err)
		return
	}
	f, field, msg := OrderFilterFromQuery(r.URL.Query())
	if field != "" {
		writeError(w, http.StatusBadRequest, "bad_request", field+" "+msg, field)
		return
	}
	days, total, err := Summarize(r, a.Store, acc, counterID, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": days, "total": map[string]any{"orders": total.Orders, "revenue": total.Revenue, "profit": total.Profit}})
}
