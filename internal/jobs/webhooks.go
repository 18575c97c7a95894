package jobs

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"orderimport/internal/alert"
	"orderimport/internal/export"
	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/webhook"
)

// DeliverArgs delivers a webhook's feed: the job sends its pending delivery, or freezes the
// next batch of the feed after the webhook's cursor and sends that, until the webhook is
// caught up. It is unique per webhook in every state but the final ones, running included,
// so one delivery of a webhook is in flight at a time and they go out in feed order.
type DeliverArgs struct {
	WebhookID int64 `json:"webhook_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook_delivery" }

// InsertOpts implements river.JobArgsWithInsertOpts. The attempts count faults of the service
// (the database away); a receiver's failures are retried by the job's own schedule, which
// snoozes and so spends none.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "webhooks",
		MaxAttempts: 10,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
			rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}},
	}
}

// SecretOpener opens a sealed signing secret of one of an account's webhooks or alert channels.
type SecretOpener interface {
	OpenSecret(accountID int64, sealed string) (string, error)
}

// retryFactors are the waits after each failed attempt, in units of Config.WebhookRetryBase
// (5 s: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then 10 h each), the schedule Standard Webhooks
// senders use. From the first failed attempt, a delivery is tried for Config.WebhookGiveUp
// (24 h; with this schedule the last try is about 27.5 h after the first).
var retryFactors = []time.Duration{1, 60, 360, 1440, 3600, 7200}

func (j *Jobs) retryDelay(attempts int) time.Duration {
	f := retryFactors[min(attempts, len(retryFactors))-1]
	d := j.cfg.WebhookRetryBase * f
	// Up to a tenth more, so that webhooks that failed together do not retry together.
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	j *Jobs
}

// Timeout: a slice of deliveries plus one send.
func (w *deliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.j.cfg.WebhookSlice + 2*webhook.Timeout
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.j.deliver(ctx, job.Args.WebhookID)
}

// deliver sends the webhook's deliveries in feed order for a slice of time, then hands the
// rest to a new attempt of the job (snooze 0), so a webhook with a long backlog does not hold
// a worker for long.
func (j *Jobs) deliver(ctx context.Context, webhookID int64) error {
	deadline := j.now().Add(j.cfg.WebhookSlice)
	for {
		w, err := j.store.WebhookForWorker(ctx, webhookID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if !w.Enabled {
			return nil
		}
		d, err := j.store.PendingDelivery(ctx, w.ID)
		if err != nil {
			return err
		}
		if d == nil {
			msgID, err := webhook.NewMessageID()
			if err != nil {
				return err
			}
			var names export.Namer
			if j.Names != nil {
				if names, err = j.Names(ctx, w.AccountID, w.CounterID); err != nil {
					return err
				}
			}
			now := j.now()
			d, err = j.store.NextDelivery(ctx, w, webhook.MaxChanges, msgID, func(rows []store.OrderRow) ([]byte, error) {
				return webhook.ChangesBody(w.CounterID, now, rows, names)
			})
			if err != nil || d == nil {
				return err // nil: caught up
			}
		}
		if d.NextAttemptAt != nil {
			if wait := d.NextAttemptAt.Sub(j.now()); wait > 0 {
				return river.JobSnooze(wait)
			}
		}
		secret, err := j.Secrets.OpenSecret(w.AccountID, w.SecretSealed)
		if err != nil {
			return j.giveUp(ctx, w, *d, webhook.Result{Error: locale.M("secret_undecryptable"), At: j.now()})
		}
		res := j.Sender.Send(ctx, w.URL, secret, webhook.Message{ID: d.MsgID, Body: d.Body})
		if ctx.Err() != nil {
			// Stopped mid-send: the receiver may have it or not; the same delivery, under the
			// same id, goes again when a worker takes the job up.
			return river.JobSnooze(0)
		}
		if !res.OK {
			first := res.At
			if d.FirstAttemptAt != nil {
				first = *d.FirstAttemptAt
			}
			if res.At.Sub(first) >= j.cfg.WebhookGiveUp {
				return j.giveUp(ctx, w, *d, res)
			}
			next := res.At.Add(j.retryDelay(d.Attempts + 1))
			if _, err := j.store.RecordAttempt(ctx, *d, attempt(res), next, locale.Message{}); err != nil {
				return err
			}
			j.log.Info("webhook delivery failed; it is sent again later", "webhook_id", w.ID, "delivery", d.MsgID,
				"attempt", d.Attempts+1, "error", res.Error.String(), "next", next.UTC().Format(time.RFC3339))
			return river.JobSnooze(max(next.Sub(j.now()), 0))
		}
		if _, err := j.store.RecordAttempt(ctx, *d, attempt(res), time.Time{}, locale.Message{}); err != nil {
			return err
		}
		if j.OnDelivered != nil {
			j.OnDelivered(w.ID, d.Changes)
		}
		if !j.now().Before(deadline) {
			return river.JobSnooze(0)
		}
	}
}

// giveUp records the last failed attempt, disables the webhook and raises its incident.
func (j *Jobs) giveUp(ctx context.Context, w store.Webhook, d store.Delivery, res webhook.Result) error {
	reason := locale.M("webhook_gave_up", "hours", int64(j.cfg.WebhookGiveUp/time.Hour), "last", res.Error)
	if _, err := j.store.RecordAttempt(ctx, d, attempt(res), time.Time{}, reason); err != nil {
		return err
	}
	j.log.Warn("webhook disabled: its deliveries failed for too long", "webhook_id", w.ID, "delivery", d.MsgID, "error", res.Error.String())
	if err := j.Reconsider(ctx, alert.WebhookSubject(w.ID)); err != nil {
		j.log.Warn("the incident of a disabled webhook was not recorded; the scheduler tries again", "webhook_id", w.ID, "error", err)
	}
	return nil
}

func attempt(r webhook.Result) store.AttemptResult {
	return store.AttemptResult{OK: r.OK, HTTPStatus: r.HTTPStatus, Error: r.Error, Duration: r.Duration, At: r.At}
}

// feedGrew starts the deliveries of the counters' enabled webhooks (the store's feed listener,
// through a coalescer). A webhook whose delivery job is running right now may have read the
// feed before this change committed: it is asked again a second later, when that job is over.
func (j *Jobs) feedGrew(ctx context.Context, counterIDs []int64) []int64 {
	ids, err := j.store.EnabledWebhookIDs(ctx, counterIDs)
	if err != nil {
		j.log.Warn("webhook deliveries not started; the scheduler starts them", "error", err)
		return nil
	}
	busy := false
	for _, id := range ids {
		res, err := j.client.Insert(ctx, DeliverArgs{WebhookID: id}, nil)
		if err != nil {
			j.log.Warn("webhook delivery not started; the scheduler starts it", "webhook_id", id, "error", err)
			continue
		}
		if res.UniqueSkippedAsDuplicate && res.Job != nil && res.Job.State == rivertype.JobStateRunning {
			busy = true
		}
	}
	if busy {
		return counterIDs
	}
	return nil
}

// startBehindWebhooks is the scheduler's safety net: a delivery job for every enabled webhook
// with something to deliver (a process stopped before it started one).
func (j *Jobs) startBehindWebhooks(ctx context.Context) error {
	ids, err := j.store.WebhooksBehind(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := j.client.Insert(ctx, DeliverArgs{WebhookID: id}, nil); err != nil {
			return err
		}
	}
	return nil
}

// StartDeliveries starts the delivery job of a webhook (after it was enabled again). Its last
// job may not be over yet (it stopped because the webhook was switched off, and River marks it
// completed a moment later): then the webhook is asked again a second later, as when its feed
// grows under a running job.
func (j *Jobs) StartDeliveries(ctx context.Context, w store.Webhook) error {
	res, err := j.client.Insert(ctx, DeliverArgs{WebhookID: w.ID}, nil)
	if err != nil {
		return err
	}
	if res.UniqueSkippedAsDuplicate && res.Job != nil && res.Job.State == rivertype.JobStateRunning {
		j.feed.add(w.CounterID)
	}
	return nil
}
