package api

import (
	"net/http"

	"orderimport/internal/tasks"
)

type moneyJSON struct {
	Orders  int64  `json:"orders"`
	Revenue string `json:"revenue"`
	Profit  string `json:"profit"`
}

type daySummaryJSON struct {
	Date        string               `json:"date,omitempty"`
	Orders      int64                `json:"orders"`
	Revenue     string               `json:"revenue"`
	Profit      string               `json:"profit"`
	Uncounted   int64                `json:"orders_uncounted"`
	WithSession int64                `json:"with_session_id"`
	ByCurrency  map[string]moneyJSON `json:"by_currency,omitempty"`
}

func moneyOut(m map[string]tasks.Money) map[string]moneyJSON {
	out := make(map[string]moneyJSON, len(m))
	for c, v := range m {
		out[c] = moneyJSON{Orders: v.Orders, Revenue: v.Revenue, Profit: v.Profit}
	}
	return out
}

// dayOut is a day of the summary; its money per currency is listed only when the summary has
// more than one currency (otherwise it is the day's own).
func dayOut(d tasks.DaySummary, multi bool) daySummaryJSON {
	out := daySummaryJSON{Date: d.Date, Orders: d.Orders, Revenue: d.Revenue, Profit: d.Profit, Uncounted: d.Uncounted, WithSession: d.WithSession}
	if multi {
		out.ByCurrency = moneyOut(d.ByCurrency)
	}
	return out
}

type groupJSON struct {
	Key        string               `json:"key"`
	Orders     int64                `json:"orders"`
	Revenue    string               `json:"revenue"`
	Profit     string               `json:"profit"`
	ByCurrency map[string]moneyJSON `json:"by_currency,omitempty"`
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
	by, sort, bad := tasks.SourcesQuery(r.URL.Query())
	if len(bad) > 0 {
		problem(w, r, http.StatusBadRequest, bad[0].Msg, bad[0].Field)
		return
	}
	if by != "" {
		src, err := a.Tasks.SourceBreakdown(r.Context(), acc, counterID, by, sort, f)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		groups := make([]groupJSON, 0, len(src.Groups))
		for _, g := range src.Groups {
			gj := groupJSON{Key: g.Key, Orders: g.Orders, Revenue: g.Revenue, Profit: g.Profit}
			if len(g.ByCurrency) > 1 || (len(g.ByCurrency) == 1 && g.ByCurrency[src.Currency].Orders == 0) {
				gj.ByCurrency = moneyOut(g.ByCurrency)
			}
			groups = append(groups, gj)
		}
		writeJSON(w, http.StatusOK, map[string]any{"group_by": by, "sort": sort, "currency": src.Currency, "orders": src.Orders,
			"groups": groups})
		return
	}
	s, err := a.Tasks.Summarize(r.Context(), acc, counterID, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	multi := len(s.ByCurrency) > 1
	days := make([]daySummaryJSON, 0, len(s.Days))
	for _, d := range s.Days {
		days = append(days, dayOut(d, multi))
	}
	total := dayOut(s.Total, multi)
	writeJSON(w, http.StatusOK, map[string]any{"currency": s.Currency, "days": days, "total": total,
		"by_currency": moneyOut(s.ByCurrency), "uncounted_by_currency": moneyOut(s.Uncounted)})
}
