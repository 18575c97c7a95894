package api

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"orderimport/internal/store"
)

type counterJSON struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Timezone  string    `json:"timezone"`
	CreatedAt time.Time `json:"created_at"`
}

func counterOut(c store.Counter) counterJSON {
	return counterJSON{ID: c.ID, Name: c.Name, Timezone: c.Timezone, CreatedAt: c.CreatedAt}
}

// DefaultTimezone is the contract's default counter timezone.
const DefaultTimezone = "Europe/Moscow"

func (a *API) createCounter(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     *string `json:"name"`
		Timezone *string `json:"timezone"`
	}
	if !decode(w, r, &in) {
		return
	}
	name := ""
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if name == "" || utf8.RuneCountInString(name) > 200 {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "name is required, 1 to 200 characters", "name")
		return
	}
	tz := DefaultTimezone
	if in.Timezone != nil {
		tz = strings.TrimSpace(*in.Timezone)
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "timezone must be an IANA time zone name such as Europe/Moscow", "timezone")
		return
	}
	c, err := a.Store.CreateCounter(r.Context(), userFrom(r.Context()).AccountID, name, tz)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, counterOut(c))
}

func (a *API) listCounters(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Store.Counters(r.Context(), userFrom(r.Context()).AccountID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]counterJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, counterOut(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"counters": out})
}

func (a *API) getCounter(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	c, err := a.Store.Counter(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, counterOut(c))
}
