package api

import (
	"net/http"
	"time"

	"orderimport/internal/store"
)

type runJSON struct {
	ID            int64         `json:"id"`
	TaskID        int64         `json:"import_id"`
	Kind          string        `json:"kind"`
	Status        string        `json:"status"`
	Phase         string        `json:"phase,omitempty"`
	QueuedAt      time.Time     `json:"queued_at"`
	StartedAt     *time.Time    `json:"started_at"`
	FinishedAt    *time.Time    `json:"finished_at"`
	Fetched       int64         `json:"fetched"`
	Created       int64         `json:"created"`
	Updated       int64         `json:"updated"`
	Deleted       int64         `json:"deleted"`
	Invalid       int64         `json:"invalid"`
	Requests      int64         `json:"requests"`
	Pages         int64         `json:"pages"`
	ProgressDone  int64         `json:"progress_done"`
	ProgressTotal int64         `json:"progress_total"`
	Cursor        string        `json:"cursor,omitempty"`
	Error         string        `json:"error"`
	Issues        []store.Issue `json:"issues"`
	IssuesTotal   int64         `json:"issues_total"`
}

func runOut(r store.Run) runJSON {
	issues := r.Issues
	if issues == nil {
		issues = []store.Issue{}
	}
	return runJSON{ID: r.ID, TaskID: r.TaskID, Kind: r.Kind, Status: r.Status, Phase: r.Phase, QueuedAt: r.QueuedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Fetched: r.Counts.Fetched, Created: r.Counts.Created,
		Updated: r.Counts.Updated, Deleted: r.Counts.Deleted, Invalid: r.Counts.Invalid, Requests: r.Counts.Requests,
		Pages: r.Counts.Pages, ProgressDone: r.ProgressDone, ProgressTotal: r.ProgressTotal, Cursor: r.Cursor,
		Error: r.Error, Issues: issues, IssuesTotal: r.IssuesTotal}
}

func (a *API) runNow(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	run, err := a.Imports.RunNow(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, runOut(run))
}

func (a *API) resync(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	run, err := a.Imports.Resync(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, runOut(run))
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	acc := userFrom(r.Context()).AccountID
	if _, err := a.Store.Task(r.Context(), acc, id); err != nil {
		a.fail(w, r, err)
		return
	}
	runs, err := a.Store.Runs(r.Context(), acc, id, 100)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]runJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, runOut(run))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	run, err := a.Store.Run(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, runOut(run))
}
