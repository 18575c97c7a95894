package api

import (
	"net/http"
	"time"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
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

func (a *API) createCounter(w http.ResponseWriter, r *http.Request) {
	var in tasks.CounterInput
	if !decode(w, r, &in) {
		return
	}
	c, err := a.Tasks.CreateCounter(r.Context(), userFrom(r.Context()).AccountID, in)
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
