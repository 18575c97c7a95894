package api

import (
	"net/http"
	"strconv"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/store"
)

type auditJSON struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Detail     string    `json:"detail"`
	DetailCode string    `json:"detail_code"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

func auditOut(p *locale.Printer, e store.AuditEvent) auditJSON {
	return auditJSON{ID: e.ID, At: e.CreatedAt, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: p.MsgDetail(e.Detail),
		DetailCode: e.Detail.Code, IP: e.IP, UserAgent: e.UserAgent}
}

// listAudit is the account's audit log, newest first: ?limit= (1–1000, default 100) and
// ?before=<id> for the next page, which next_before names (0 when there is none).
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problem(w, r, http.StatusBadRequest, locale.M("limit_invalid", "max", 1000), "limit")
			return
		}
		limit = n
	}
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			problem(w, r, http.StatusBadRequest, locale.M("before_invalid"), "before")
			return
		}
		before = n
	}
	events, err := a.People.AuditEvents(r.Context(), userFrom(r.Context()).AccountID, before, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := make([]auditJSON, 0, len(events))
	for _, e := range events {
		out = append(out, auditOut(p, e))
	}
	var next int64
	if len(events) == limit {
		next = events[len(events)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_before": next})
}
