package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"orderimport/internal/alert"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// AlertArgs sends one alert of an incident (its start or its end) through one channel. It is
// unique by its arguments in every state, so an alert is sent once, however often the
// incident is looked at; a channel that fails is retried with River's growing delays (about
// four hours over its attempts), and the imports never wait for it.
type AlertArgs struct {
	IncidentID int64  `json:"incident_id"`
	ChannelID  int64  `json:"channel_id"`
	Phase      string `json:"phase"`
}

// Kind implements river.JobArgs.
func (AlertArgs) Kind() string { return "alert" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (AlertArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: "alerts", MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type alertWorker struct {
	river.WorkerDefaults[AlertArgs]
	j *Jobs
}

// Timeout: a mail server gets its bounded steps (mail.DefaultTimeout each), a URL its 10 s.
func (w *alertWorker) Timeout(*river.Job[AlertArgs]) time.Duration { return 3 * time.Minute }

// NextRetry waits Config.AlertRetryBase × attempt⁴ after a failed attempt.
func (w *alertWorker) NextRetry(job *river.Job[AlertArgs]) time.Time {
	a := time.Duration(max(job.Attempt, 1))
	return time.Now().Add(w.j.cfg.AlertRetryBase * a * a * a * a) // River schedules by the wall clock
}

func (w *alertWorker) Work(ctx context.Context, job *river.Job[AlertArgs]) error {
	return w.j.sendAlert(ctx, job.Args)
}

func (j *Jobs) sendAlert(ctx context.Context, a AlertArgs) error {
	in, err := j.store.IncidentForWorker(ctx, a.IncidentID)
	if err != nil {
		return err
	}
	ch, err := j.store.AlertChannel(ctx, in.AccountID, a.ChannelID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the channel was removed meanwhile
	}
	if err != nil {
		return err
	}
	nt, err := j.Notice(ctx, in, a.Phase, ch)
	if err != nil {
		return err
	}
	sendErr := j.Alerts.Send(ctx, ch, nt)
	msg := locale.Message{}
	if sendErr != nil {
		msg, _ = locale.MessageOf(sendErr)
	}
	if err := j.store.RecordAlertSent(context.WithoutCancel(ctx), ch.ID, j.now(), msg); err != nil {
		j.log.Warn("the outcome of an alert was not recorded", "channel_id", ch.ID, "error", err)
	}
	if sendErr != nil {
		j.log.Warn("alert not sent; it is tried again later", "incident_id", in.ID, "channel_id", ch.ID, "phase", a.Phase, "error", sendErr.Error())
		return sendErr
	}
	j.log.Info("alert sent", "incident_id", in.ID, "channel_id", ch.ID, "phase", a.Phase, "kind", in.Kind)
	return nil
}

// Notice words an incident's alert for a channel: in its language, with a link to the task's
// (or the webhooks') page and times in the counter's timezone.
func (j *Jobs) Notice(ctx context.Context, in store.Incident, phase string, ch store.AlertChannel) (alert.Notice, error) {
	var counterID int64
	var loc *time.Location
	if in.TaskID != 0 {
		if t, err := j.store.TaskForWorker(ctx, in.TaskID); err == nil {
			counterID = t.CounterID
		}
	} else if w, err := j.store.WebhookForWorker(ctx, in.WebhookID); err == nil {
		counterID = w.CounterID
	}
	if counterID != 0 {
		if c, err := j.store.Counter(ctx, in.AccountID, counterID); err == nil {
			loc, _ = time.LoadLocation(c.Timezone)
		}
	}
	base := j.PublicURL
	if base == "" {
		base = ch.BaseURL
	}
	link := alert.Link(base, in, counterID)
	if in.TaskID == 0 && counterID == 0 {
		link = "" // the webhook is gone: nothing to link to
	}
	return alert.Render(locale.For(ch.Language), in, phase, link, loc), nil
}

// Reconsider looks whether the subject ("task:12", "webhook:3") has a problem now and moves
// its incident along: one starts when a problem appears and none is open, the open one ends
// when no problem is left, and each of these enqueues its alert to every channel of the
// account in the same transaction. Nothing happens while the state stays what it was.
func (j *Jobs) Reconsider(ctx context.Context, subject string) error {
	kind, id, ok := alert.ParseSubject(subject)
	if !ok {
		return fmt.Errorf("jobs: reconsider %q: not a subject", subject)
	}
	now := j.now()
	err := j.store.InTx(ctx, func(tx *sql.Tx) error {
		if err := j.store.LockIncidents(ctx, tx); err != nil {
			return err
		}
		open, err := j.store.OpenIncidentTx(ctx, tx, subject)
		if err != nil {
			return err
		}
		var problem alert.Problem
		var bad bool
		var accountID int64
		in := store.Incident{Subject: subject}
		switch kind {
		case "task":
			h, err := j.store.TaskHealthTx(ctx, tx, id)
			if err != nil {
				return err
			}
			problem, bad = alert.TaskProblem(h, now)
			accountID, in.TaskID = h.Task.AccountID, id
		default:
			w, err := j.store.WebhookTx(ctx, tx, id)
			if err != nil {
				return err
			}
			problem, bad = alert.WebhookProblem(w)
			if w != nil {
				accountID = w.AccountID
			}
			in.WebhookID = id
		}
		var phase string
		switch {
		case bad && open == nil:
			in.AccountID, in.Kind, in.Detail = accountID, problem.Kind, problem.Detail
			if in, err = j.store.StartIncidentTx(ctx, tx, in); err != nil {
				return err
			}
			phase = alert.PhaseStart
		case !bad && open != nil:
			if _, err := j.store.EndIncidentTx(ctx, tx, open.ID); err != nil {
				return err
			}
			in, phase = *open, alert.PhaseEnd
		default:
			return nil
		}
		channels, err := j.store.AlertChannelIDsTx(ctx, tx, in.AccountID)
		if err != nil || len(channels) == 0 {
			return err
		}
		params := make([]river.InsertManyParams, 0, len(channels))
		for _, ch := range channels {
			params = append(params, river.InsertManyParams{Args: AlertArgs{IncidentID: in.ID, ChannelID: ch, Phase: phase}})
		}
		if _, err := j.client.InsertManyTx(ctx, tx, params); err != nil {
			return fmt.Errorf("jobs: enqueue the alerts of incident %d: %w", in.ID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("jobs: reconsider %s: %w", subject, err)
	}
	return nil
}

// reconsiderAll is the scheduler's look at every subject whose state may have changed without
// a run finishing: the open incidents (a user fixed a task, a webhook was enabled or deleted)
// and the active tasks that went too long without a success.
func (j *Jobs) reconsiderAll(ctx context.Context) error {
	subjects, err := j.store.OpenIncidentSubjects(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range subjects {
		seen[s] = true
	}
	cands, err := j.store.ActiveTaskSuccesses(ctx)
	if err != nil {
		return err
	}
	now := j.now()
	for _, c := range cands {
		since := c.CreatedAt
		if c.LastSuccess != nil {
			since = *c.LastSuccess
		}
		if s := alert.TaskSubject(c.TaskID); now.Sub(since) > alert.StaleAfter(c.FrequencyHours) && !seen[s] {
			seen[s] = true
			subjects = append(subjects, s)
		}
	}
	var errs []error
	for _, s := range subjects {
		if err := j.Reconsider(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
