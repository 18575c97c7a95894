package api

import (
	"net/http"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/store"
)

type runJSON struct {
	ID            int64       `json:"id"`
	TaskID        int64       `json:"import_id"`
	Kind          string      `json:"kind"`
	Status        string      `json:"status"`
	Phase         string      `json:"phase,omitempty"`
	QueuedAt      time.Time   `json:"queued_at"`
	StartedAt     *time.Time  `json:"started_at"`
	FinishedAt    *time.Time  `json:"finished_at"`
	Fetched       int64       `json:"fetched"`
	Created       int64       `json:"created"`
	Updated       int64       `json:"updated"`
	Deleted       int64       `json:"deleted"`
	Invalid       int64       `json:"invalid"`
	Requests      int64       `json:"requests"`
	Pages         int64       `json:"pages"`
	ProgressDone  int64       `json:"progress_done"`
	ProgressTotal int64       `json:"progress_total"`
	Cursor        string      `json:"cursor,omitempty"`
	Error         string      `json:"error"`
	ErrorCode     string      `json:"error_code"`
	ErrorDetail   string      `json:"error_detail,omitempty"`
	Issues        []issueJSON `json:"issues"`
	IssuesTotal   int64       `json:"issues_total"`
}

// issueJSON is a run issue: the order as exported (order_id) and as RetailCRM numbers it,
// the field, the offending value, and why (a code and its words).
type issueJSON struct {
	OrderID     string `json:"order_id"`
	OrderNumber string `json:"order_number"`
	Field       string `json:"field"`
	Value       string `json:"value"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	Detail      string `json:"detail,omitempty"`
}

func issuesOut(p *locale.Printer, list []store.Issue) []issueJSON {
	out := make([]issueJSON, 0, len(list))
	for _, is := range list {
		out = append(out, issueJSON{OrderID: is.OrderID, OrderNumber: is.OrderNumber, Field: is.Field, Value: is.Value,
			Code: is.Msg.Code, Message: p.Msg(is.Msg), Detail: is.Msg.Detail})
	}
	return out
}

func runOut(p *locale.Printer, r store.Run) runJSON {
	return runJSON{ID: r.ID, TaskID: r.TaskID, Kind: r.Kind, Status: r.Status, Phase: r.Phase, QueuedAt: r.QueuedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Fetched: r.Counts.Fetched, Created: r.Counts.Created,
		Updated: r.Counts.Updated, Deleted: r.Counts.Deleted, Invalid: r.Counts.Invalid, Requests: r.Counts.Requests,
		Pages: r.Counts.Pages, ProgressDone: r.ProgressDone, ProgressTotal: r.ProgressTotal, Cursor: r.Cursor,
		Error: p.Msg(r.Error), ErrorCode: r.Error.Code, ErrorDetail: r.Error.Detail,
		Issues: issuesOut(p, r.Issues), IssuesTotal: r.IssuesTotal}
}

func (a *API) runNow(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	run, err := a.Tasks.RunNow(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, runOut(printer(r), run))
}

func (a *API) resync(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	run, err := a.Tasks.Resync(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, runOut(printer(r), run))
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
	p := printer(r)
	out := make([]runJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, runOut(p, run))
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
	writeJSON(w, http.StatusOK, runOut(printer(r), run))
}
