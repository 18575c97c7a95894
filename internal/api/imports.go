package api

import (
	"net/http"
	"time"

	"orderimport/internal/mapping"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

type taskJSON struct {
	ID                int64             `json:"id"`
	CounterID         int64             `json:"counter_id"`
	Name              string            `json:"name"`
	Active            bool              `json:"active"`
	Type              string            `json:"type"`
	FrequencyHours    int               `json:"frequency_hours"`
	RetailCRM         taskCRMJSON       `json:"retailcrm"`
	Mapping           map[string]string `json:"mapping"`
	BackfillFrom      string            `json:"backfill_from,omitempty"`
	BackfillTo        string            `json:"backfill_to,omitempty"`
	Counting          store.Counting    `json:"counting"`
	CountingIsDefault bool              `json:"counting_default"`
	Sites             []string          `json:"sites"`
	PII               string            `json:"pii"`
	RetentionDays     *int              `json:"orders_retention_days"`
	Names             namesJSON         `json:"names"`
	Status            string            `json:"status"`
	StatusCode        string            `json:"status_code"`
	StatusMessage     string            `json:"status_message"`
	StatusDetail      string            `json:"status_detail,omitempty"`
	LastRun           *runJSON          `json:"last_run"`
	NextRunAt         *time.Time        `json:"next_run_at"`
	TriggerURL        string            `json:"trigger_url"`
	Freshness         freshnessJSON     `json:"freshness"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// namesJSON names the RetailCRM codes a task's counting and stores name, as the task's kept
// reference has them (empty before the task read one).
type namesJSON struct {
	StatusGroups map[string]string `json:"status_groups"`
	Statuses     map[string]string `json:"statuses"`
	Sites        map[string]string `json:"sites"`
}

// taskCRMJSON never carries the key: only its last characters, so a user can tell keys apart.
type taskCRMJSON struct {
	URL        string  `json:"url"`
	APIKeyHint string  `json:"api_key_hint"`
	RateLimit  float64 `json:"rate_limit"`
}

func (a *API) taskOut(r *http.Request, t store.Task) (taskJSON, error) {
	p := printer(r)
	out := taskJSON{ID: t.ID, CounterID: t.CounterID, Name: t.Name, Active: t.Active, Type: t.Type, FrequencyHours: t.FrequencyHours,
		RetailCRM: taskCRMJSON{URL: t.CRMURL, APIKeyHint: t.CRMKeyHint, RateLimit: t.RateLimit}, BackfillFrom: t.BackfillFrom,
		Mapping: tasks.EffectiveMapping(t.Mapping), Status: t.Status, StatusCode: t.StatusMsg.Code, StatusMessage: p.Msg(t.StatusMsg),
		StatusDetail: t.StatusMsg.Detail, NextRunAt: t.NextRunAt, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	tc, err := a.Tasks.Counting(r.Context(), t)
	if err != nil {
		return out, err
	}
	out.BackfillTo, out.Counting, out.CountingIsDefault = t.BackfillTo, tc.Counting, tc.Default
	out.Sites = t.Sites
	out.PII, out.RetentionDays = t.PII, t.OrdersRetentionDays
	if out.Sites == nil {
		out.Sites = []string{}
	}
	out.Names = namesJSON{StatusGroups: map[string]string{}, Statuses: map[string]string{}, Sites: map[string]string{}}
	if ref := tc.Reference; ref != nil {
		for _, code := range tc.Counting.StatusGroups {
			if g, ok := ref.Group(code); ok {
				out.Names.StatusGroups[code] = g.Name
			}
		}
		for _, code := range tc.Counting.ExcludeStatuses {
			if st, ok := ref.Status(code); ok {
				out.Names.Statuses[code] = st.Name
			}
		}
		for _, code := range t.Sites {
			if st, ok := ref.Site(code); ok {
				out.Names.Sites[code] = st.Name
			}
		}
	}
	last, err := a.Store.LastRun(r.Context(), t.AccountID, t.ID)
	if err != nil {
		return out, err
	}
	if last != nil {
		lr := runOut(p, *last)
		out.LastRun = &lr
	}
	if out.TriggerURL, err = a.Tasks.TriggerURL(r.Context(), &t, baseURL(r)); err != nil {
		return out, err
	}
	f, err := a.Tasks.Freshness(r.Context(), t)
	if err != nil {
		return out, err
	}
	out.Freshness = freshnessOut(f)
	return out, nil
}

// freshnessJSON is how current a task's orders are.
type freshnessJSON struct {
	LastSuccessAt *time.Time `json:"last_success_at"`
	AsOf          *time.Time `json:"as_of"`
	LagSeconds    *int64     `json:"lag_seconds"`
	Cursor        string     `json:"cursor"`
	RequestsToday int64      `json:"requests_today"`
	PaceRPS       float64    `json:"pace_rps"`
}

func freshnessOut(f tasks.Freshness) freshnessJSON {
	out := freshnessJSON{LastSuccessAt: f.LastSuccessAt, AsOf: f.AsOf, Cursor: f.Cursor, RequestsToday: f.RequestsToday, PaceRPS: f.PaceRPS}
	if f.AsOf != nil {
		lag := int64(f.Lag / time.Second)
		out.LagSeconds = &lag
	}
	return out
}

func (a *API) writeTask(w http.ResponseWriter, r *http.Request, status int, t store.Task) {
	out, err := a.taskOut(r, t)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, out)
}

func (a *API) createImport(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	var in tasks.Input
	if !decode(w, r, &in) {
		return
	}
	t, err := a.Tasks.Create(r.Context(), userFrom(r.Context()).AccountID, counterID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeTask(w, r, http.StatusCreated, t)
}

func (a *API) listImports(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	acc := userFrom(r.Context()).AccountID
	if _, err := a.Store.Counter(r.Context(), acc, counterID); err != nil {
		a.fail(w, r, err)
		return
	}
	tasks, err := a.Store.Tasks(r.Context(), acc, counterID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]taskJSON, 0, len(tasks))
	for _, t := range tasks {
		tj, err := a.taskOut(r, t)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out = append(out, tj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": out})
}

func (a *API) getImport(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := a.Store.Task(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeTask(w, r, http.StatusOK, t)
}

func (a *API) updateImport(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in tasks.Input
	if !decode(w, r, &in) {
		return
	}
	t, err := a.Tasks.Update(r.Context(), userFrom(r.Context()).AccountID, id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeTask(w, r, http.StatusOK, t)
}

func (a *API) deleteImport(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.Tasks.Delete(r.Context(), userFrom(r.Context()).AccountID, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fields describes the tracker's order fields and the default mapping (for clients building
// a settings form), titled in the reader's language.
func (a *API) fields(w http.ResponseWriter, r *http.Request) {
	type fieldJSON struct {
		Name     string `json:"name"`
		Required bool   `json:"required"`
		Title    string `json:"title"`
		Help     string `json:"help"`
		Default  string `json:"default"`
	}
	p := printer(r)
	def := mapping.Default()
	out := make([]fieldJSON, 0, len(mapping.Fields))
	for _, f := range mapping.Fields {
		out = append(out, fieldJSON{Name: f.Name, Required: f.Required, Title: p.T("field." + f.Name), Help: p.T("field_help." + f.Name),
			Default: def[f.Name]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"fields": out})
}

type estimateJSON struct {
	*tasks.Estimate
	Text string `json:"text"`
}

// estimate says what a first run will read and how long it takes, in words too («≈ 84 000
// orders, about 2 minutes»).
func (a *API) estimate(w http.ResponseWriter, r *http.Request) {
	var in tasks.EstimateInput
	if !decode(w, r, &in) {
		return
	}
	e, err := a.Tasks.Estimate(r.Context(), userFrom(r.Context()).AccountID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, estimateJSON{Estimate: e, Text: printer(r).Msg(tasks.EstimateText(e))})
}
