package web

import (
	"fmt"
	"net/http"
	"time"

	"orderimport/internal/store"
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
	Errors   map[string]string
}

type zoneOption struct {
	Name  string
	Label string
}

// defaultTimezone is the contract's default counter timezone.
const defaultTimezone = "Europe/Moscow"

// zones offered for a counter: Russia's zones west to east, then neighbours and UTC. The
// names are IANA names (data, not words), labelled with today's UTC offset.
var zones = []string{
	"Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
	"Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
	"Asia/Magadan", "Asia/Kamchatka", "Europe/Minsk", "Asia/Almaty", "Asia/Tashkent", "Asia/Tbilisi",
	"Asia/Yerevan", "Asia/Baku", "Europe/Istanbul", "Europe/Berlin", "Europe/London", "UTC",
}

func zoneOptions(now time.Time) []zoneOption {
	out := make([]zoneOption, 0, len(zones))
	for _, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			continue
		}
		_, off := now.In(loc).Zone()
		sign := "+"
		if off < 0 {
			sign, off = "−", -off
		}
		out = append(out, zoneOption{Name: z, Label: fmt.Sprintf("%s (UTC%s%02d:%02d)", z, sign, off/3600, off%3600/60)})
	}
	return out
}

// home is the account's start page: its counters and a form to add one.
func (h *Web) home(w http.ResponseWriter, r *http.Request, vw *view) {
	h.renderHome(w, r, vw, http.StatusOK, counterForm{Timezone: defaultTimezone, Errors: map[string]string{}})
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
	d := homeData{Form: form, Zones: zoneOptions(h.now())}
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
