package api

import (
	"net/http"

	"orderimport/internal/tasks"
)

type daySummaryJSON struct {
	Date    string `json:"date"`
	Orders  int64  `json:"orders"`
	Revenue string `json:"revenue"`
	Profit  string `json:"profit"`
}

func dayOut(d tasks.DaySummary) daySummaryJSON {
	return daySummaryJSON{Date: d.Date, Orders: d.Orders, Revenue: d.Revenue, Profit: d.Profit}
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
	f, ok := orderFilter(w, r)
	if !ok {
		return
	}
	s, err := a.Tasks.Summarize(r.Context(), acc, counterID, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	days := make([]daySummaryJSON, 0, len(s.Days))
	for _, d := range s.Days {
		days = append(days, dayOut(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": days,
		"total": map[string]any{"orders": s.Total.Orders, "revenue": s.Total.Revenue, "profit": s.Total.Profit}})
}
