package api

import (
	"net/http"
	"strings"
	"time"

	"orderimport/internal/tasks"
)

func (a *API) check(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL    string `json:"url"`
		APIKey string `json:"api_key"`
		TaskID int64  `json:"task_id"`
	}
	if !decode(w, r, &in) {
		return
	}
	res, err := a.Tasks.Check(r.Context(), userFrom(r.Context()).AccountID, tasks.CheckInput{URL: in.URL, APIKey: in.APIKey, TaskID: in.TaskID})
	if err != nil {
		// The check's fields are top-level: url, api_key.
		a.fail(w, r, err, func(f string) string { return strings.TrimPrefix(f, "retailcrm.") })
		return
	}
	p := printer(r)
	names := make(map[string]string, len(res.Scopes))
	for _, s := range res.Scopes {
		if k := "scope." + s; p.Has(k) {
			names[s] = p.T(k)
		}
	}
	writeJSON(w, http.StatusOK, checkJSON{CheckResult: res, ScopeNames: names, TimezoneName: p.Zone(res.Timezone, time.Now())})
}

// checkJSON is the check's answer with names for people beside RetailCRM's codes.
type checkJSON struct {
	*tasks.CheckResult
	ScopeNames   map[string]string `json:"scope_names"`
	TimezoneName string            `json:"timezone_name"`
}
