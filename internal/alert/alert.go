// Package alert decides when something is wrong enough to tell an account's people, and tells
// them: by email, or by a signed JSON message to a URL (Standard Webhooks, as the outbound
// webhooks are signed).
//
// What is wrong is an incident. A task has one when it needs attention, when its last 3 runs
// failed, when its last run stored less than 95% of the orders it read, or when it has gone
// without a successful run for longer than 3 times its frequency (at least 3 hours); a webhook
// has one when it was disabled. One incident per task or webhook is open at a time, however
// many of these hold and however many runs fail meanwhile: it is alerted once when it starts
// and once when none holds any more. A hundred failing runs make one email.
package alert

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Kinds of incidents, most serious first: an incident is named after the most serious problem
// at its start.
const (
	KindTaskAttention   = "task_needs_attention"
	KindTaskFailing     = "task_failing"
	KindTaskStale       = "task_stale"
	KindTaskInvalid     = "task_invalid_share"
	KindWebhookDisabled = "webhook_disabled"
)

// The rules' thresholds.
const (
	FailedRunsInRow = 3
	MinStoredShare  = 95 // percent of the orders a run read
	StaleFactor     = 3  // times the task's frequency
	MinStale        = 3 * time.Hour
)

// TaskSubject and WebhookSubject name what an incident is about.
func TaskSubject(id int64) string    { return "task:" + strconv.FormatInt(id, 10) }
func WebhookSubject(id int64) string { return "webhook:" + strconv.FormatInt(id, 10) }

// ParseSubject splits a subject into its kind ("task", "webhook") and id.
func ParseSubject(s string) (string, int64, bool) {
	kind, idText, ok := strings.Cut(s, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || (kind != "task" && kind != "webhook") {
		return "", 0, false
	}
	return kind, id, true
}

// Problem is what is wrong with a subject: the incident's kind and why, in words.
type Problem struct {
	Kind   string
	Detail locale.Message
}

// StaleAfter is how long a task may go without a successful run.
func StaleAfter(frequencyHours int) time.Duration {
	return max(time.Duration(StaleFactor*frequencyHours)*time.Hour, MinStale)
}

// TaskProblem is the most serious problem of a task, if it has one. A deleted task has none:
// its incident is over.
func TaskProblem(h store.TaskHealth, now time.Time) (Problem, bool) {
	if h.Deleted {
		return Problem{}, false
	}
	t := h.Task
	if t.Status == store.TaskNeedsAttention {
		return Problem{Kind: KindTaskAttention, Detail: locale.M("alert_task_attention", "name", t.Name, "reason", t.StatusMsg)}, true
	}
	if len(h.Recent) >= FailedRunsInRow {
		failed := 0
		for _, r := range h.Recent[:FailedRunsInRow] {
			if r.Status == store.RunFailed {
				failed++
			}
		}
		if failed == FailedRunsInRow {
			return Problem{Kind: KindTaskFailing, Detail: locale.M("alert_task_failing", "name", t.Name, "n", FailedRunsInRow,
				"reason", h.Recent[0].Error)}, true
		}
	}
	if t.Active {
		since := t.CreatedAt
		if h.LastSuccess != nil {
			since = *h.LastSuccess
		}
		if limit := StaleAfter(t.FrequencyHours); now.Sub(since) > limit {
			return Problem{Kind: KindTaskStale, Detail: locale.M("alert_task_stale", "name", t.Name, "hours", int64(limit/time.Hour))}, true
		}
	}
	if len(h.Recent) > 0 {
		r := h.Recent[0]
		c := r.Counts
		if r.Status != store.RunFailed && c.Fetched > 0 && (c.Fetched-c.Invalid)*100 < MinStoredShare*c.Fetched {
			return Problem{Kind: KindTaskInvalid, Detail: locale.M("alert_task_invalid", "name", t.Name, "run", r.ID,
				"stored", c.Fetched-c.Invalid, "fetched", c.Fetched, "min", MinStoredShare)}, true
		}
	}
	return Problem{}, false
}

// WebhookProblem is the problem of a webhook (nil: deleted), if it has one.
func WebhookProblem(w *store.Webhook) (Problem, bool) {
	if w == nil || w.Enabled {
		return Problem{}, false
	}
	return Problem{Kind: KindWebhookDisabled, Detail: locale.M("alert_webhook_disabled", "url", w.URL, "reason", w.DisabledReason)}, true
}

// Phases of an incident's alerts.
const (
	PhaseStart = "start"
	PhaseEnd   = "end"
)

// Notice is an alert in words, in one language.
type Notice struct {
	Subject string
	Text    string
	Link    string
	// For machine receivers.
	Event    string // "incident.started" | "incident.ended"
	Incident store.Incident
}

// Render words an incident's alert in p's language; link leads to the page of its subject,
// times are shown in loc.
func Render(p *locale.Printer, in store.Incident, phase, link string, loc *time.Location) Notice {
	title := p.Msg(titleOf(in))
	n := Notice{Link: link, Incident: in, Event: "incident.started"}
	var b strings.Builder
	if phase == PhaseEnd {
		n.Event = "incident.ended"
		n.Subject = p.Msg(locale.M("alert_subject_ended", "title", title))
		b.WriteString(p.Msg(locale.M("alert_ended", "title", title)) + "\n\n")
		b.WriteString(p.T("alert.started_at", p.Time(in.StartedAt, loc)) + "\n")
		if in.EndedAt != nil {
			b.WriteString(p.T("alert.ended_at", p.Time(*in.EndedAt, loc)) + "\n")
		}
	} else {
		n.Subject = p.Msg(locale.M("alert_subject_started", "title", title))
		b.WriteString(p.Msg(in.Detail) + "\n")
		if in.Detail.Detail != "" {
			b.WriteString(in.Detail.Detail + "\n")
		}
		b.WriteString("\n" + p.T("alert.started_at", p.Time(in.StartedAt, loc)) + "\n")
	}
	if link != "" {
		b.WriteString(p.T("alert.open", link) + "\n")
	}
	b.WriteString("\n" + p.T("alert.footer") + "\n")
	n.Text = b.String()
	return n
}

// titleOf is an incident's title: what is wrong, with the task's name or the webhook's URL.
func titleOf(in store.Incident) locale.Message {
	name, url := in.Detail.Args["name"], in.Detail.Args["url"]
	switch in.Kind {
	case KindTaskAttention:
		return locale.M("alert_title_task_needs_attention", "name", name)
	case KindTaskFailing:
		return locale.M("alert_title_task_failing", "name", name)
	case KindTaskStale:
		return locale.M("alert_title_task_stale", "name", name)
	case KindTaskInvalid:
		return locale.M("alert_title_task_invalid_share", "name", name)
	}
	return locale.M("alert_title_webhook_disabled", "url", url)
}

// Link is the page an incident's alert leads to, under the service's address base.
func Link(base string, in store.Incident, counterID int64) string {
	if base == "" {
		return ""
	}
	base = strings.TrimSuffix(base, "/")
	if in.TaskID != 0 {
		return fmt.Sprintf("%s/imports/%d", base, in.TaskID)
	}
	return fmt.Sprintf("%s/counters/%d/webhooks", base, counterID)
}
