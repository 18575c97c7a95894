package api

import (
	"net/http"
	"strconv"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// eventJSON is one entry of an order's timeline.
type eventJSON struct {
	At      time.Time               `json:"at"`
	RunID   *int64                  `json:"run_id"`
	Source  string                  `json:"source"`
	Changes map[string]store.Change `json:"changes"`
}

func (a *API) orderTimeline(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	_, events, err := a.Tasks.OrderTimeline(r.Context(), userFrom(r.Context()).AccountID, counterID, r.PathValue("order_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]eventJSON, 0, len(events))
	for _, e := range events {
		ev := eventJSON{At: e.At, Source: e.Source, Changes: e.Changes}
		if e.RunID != 0 {
			id := e.RunID
			ev.RunID = &id
		}
		out = append(out, ev)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
}

// mappingVersionJSON is one saved mapping of a task, as the task shows its mapping: the
// defaults with the task's own choices over them.
type mappingVersionJSON struct {
	Version   int               `json:"version"`
	Mapping   map[string]string `json:"mapping"`
	CreatedAt time.Time         `json:"created_at"`
	CreatedBy *string           `json:"created_by"`
}

func (a *API) listMappings(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	vs, err := a.Tasks.MappingVersions(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]mappingVersionJSON, 0, len(vs))
	for _, v := range vs {
		mv := mappingVersionJSON{Version: v.Version, Mapping: tasks.EffectiveMapping(v.Mapping), CreatedAt: v.CreatedAt}
		if v.CreatedBy != "" {
			by := v.CreatedBy
			mv.CreatedBy = &by
		}
		out = append(out, mv)
	}
	writeJSON(w, http.StatusOK, map[string]any{"mappings": out})
}

func (a *API) restoreMapping(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || version <= 0 {
		problem(w, r, http.StatusNotFound, locale.M("not_found"), "")
		return
	}
	t, err := a.Tasks.RestoreMapping(r.Context(), userFrom(r.Context()).AccountID, id, version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeTask(w, r, http.StatusOK, t)
}
