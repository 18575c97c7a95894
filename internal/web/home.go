package web

import (
	"net/http"
	"time"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

type homeData struct {
	Counters []counterCard
	Form     counterForm
	Zones    []zoneOption
}

type counterCard struct {
	store.Counter
	Tasks     int
	Active    int
	Attention int
}

type counterForm struct {
	Name     string
	Timezone string
	Errors   map[string]*fieldErr
}

type zoneOption struct {
	Name  string
	Label string
}

// zoneOptions are the zones offered for a counter, labelled for people ("Москва (UTC+3)").
func zoneOptions(vw *view, now time.Time) []zoneOption {
	out := make([]zoneOption, 0, len(tasks.Timezones))
	for _, z := range tasks.Timezones {
		out = append(out, zoneOption{Name: z, Label: vw.p.Zone(z, now)})
	}
	return out
}

// home is the account's start page: its counters and a form to add one.
func (h *Web) home(w http.ResponseWriter, r *http.Request, vw *view) {
	h.renderHome(w, r, vw, http.StatusOK, counterForm{Timezone: tasks.DefaultTimezone, Errors: map[string]*fieldErr{}})
}

func (h *Web) renderHome(w http.ResponseWriter, r *http.Request, vw *view, status int, form counterForm) {
	acc := vw.Visitor.User.AccountID
	counters, err := h.Store.Counters(r.Context(), acc)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	tasks, err := h.Store.Tasks(r.Context(), acc, 0)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d := homeData{Form: form, Zones: zoneOptions(vw, h.now())}
	for _, c := range counters {
		card := counterCard{Counter: c}
		for _, t := range tasks {
			if t.CounterID != c.ID {
				continue
			}
			card.Tasks++
			if t.Active {
				card.Active++
			}
			if t.Status == store.TaskNeedsAttention {
				card.Attention++
			}
		}
		d.Counters = append(d.Counters, card)
	}
	vw.Title = vw.T("home.title")
	h.renderStatus(w, r, vw, status, "home.html", d)
}
