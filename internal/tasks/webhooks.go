package tasks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/alert"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/webhook"
)

// Limits of webhooks.
const (
	MaxWebhooksPerCounter = 10
	DefaultDeliveriesPage = 50
	MaxDeliveriesPage     = 200
	// testTimeout bounds a test message a user waits for: one send (10 s) and the records.
	testTimeout = 20 * time.Second
)

func signingAAD(accountID int64) []byte {
	return []byte(fmt.Sprintf("orderimport/signing-secret/account:%d", accountID))
}

// OpenSecret opens a sealed signing secret of one of the account's webhooks or alert channels
// (the job system's SecretOpener).
func (k *Keys) OpenSecret(accountID int64, sealed string) (string, error) {
	b, err := k.Keyring.Open(sealed, signingAAD(accountID))
	if err != nil {
		return "", fmt.Errorf("tasks: open a signing secret: %w", err)
	}
	return string(b), nil
}

// sealSecret makes a signing secret and seals it for the account.
func (s *Service) sealSecret(accountID int64) (secret, sealed string, err error) {
	if secret, err = webhook.NewSecret(); err != nil {
		return "", "", err
	}
	if sealed, err = s.Keys.Keyring.Seal([]byte(secret), signingAAD(accountID)); err != nil {
		return "", "", fmt.Errorf("tasks: seal a signing secret: %w", err)
	}
	return secret, sealed, nil
}

// WebhookInput is a new webhook as sent by a user.
type WebhookInput struct {
	URL *string `json:"url"`
}

// checkReceiver applies the SSRF guard to a receiver's URL: its form, and where its name
// resolves to now (every connection is checked again).
func (s *Service) checkReceiver(ctx context.Context, raw *string, field string, bad *problems) string {
	v := ""
	if raw != nil {
		v = *raw
	}
	u, err := s.WebhookPolicy.CheckWebhookURL(v)
	if err == nil {
		err = s.WebhookPolicy.CheckWebhookAddress(ctx, u)
	}
	if err != nil {
		bad.add(field, urlMessage(err))
		return ""
	}
	return u
}

// CreateWebhook adds a webhook to one of the account's counters and returns it with its
// signing secret, which is shown this once.
func (s *Service) CreateWebhook(ctx context.Context, accountID, counterID int64, in WebhookInput) (store.Webhook, string, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Webhook{}, "", err
	}
	if _, err := s.Store.Counter(ctx, accountID, counterID); err != nil {
		return store.Webhook{}, "", err
	}
	var bad problems
	u := s.checkReceiver(ctx, in.URL, "url", &bad)
	if err := bad.err(); err != nil {
		return store.Webhook{}, "", err
	}
	existing, err := s.Store.Webhooks(ctx, accountID, counterID)
	if err != nil {
		return store.Webhook{}, "", err
	}
	if len(existing) >= MaxWebhooksPerCounter {
		return store.Webhook{}, "", invalid("url", locale.M("webhooks_too_many", "max", MaxWebhooksPerCounter))
	}
	secret, sealed, err := s.sealSecret(accountID)
	if err != nil {
		return store.Webhook{}, "", err
	}
	w, err := s.Store.CreateWebhook(ctx, accountID, counterID, u, sealed)
	if err != nil {
		return store.Webhook{}, "", err
	}
	s.Audit.Record(ctx, accountID, audit.WebhookCreate, webhookTarget(w.ID), locale.M("audit_webhook_created", "url", w.URL, "counter", counterID))
	return w, secret, nil
}

func webhookTarget(id int64) string { return "webhook:" + strconv.FormatInt(id, 10) }

// DeleteWebhook removes a webhook, its deliveries and their log; an incident it had is over.
func (s *Service) DeleteWebhook(ctx context.Context, accountID, id int64) error {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return err
	}
	w, err := s.Store.Webhook(ctx, accountID, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteWebhook(ctx, accountID, id); err != nil {
		return err
	}
	s.Audit.Record(ctx, accountID, audit.WebhookDelete, webhookTarget(id), locale.M("audit_webhook_deleted", "url", w.URL))
	s.reconsider(ctx, alert.WebhookSubject(id))
	return nil
}

// EnableWebhook turns a disabled webhook on again: its deliveries go on from its cursor.
func (s *Service) EnableWebhook(ctx context.Context, accountID, id int64) (store.Webhook, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Webhook{}, err
	}
	w, err := s.Store.EnableWebhook(ctx, accountID, id)
	if err != nil {
		return store.Webhook{}, err
	}
	s.Audit.Record(ctx, accountID, audit.WebhookEnable, webhookTarget(id), locale.M("audit_webhook_enabled", "url", w.URL))
	s.reconsider(ctx, alert.WebhookSubject(id))
	if s.Flow != nil {
		if err := s.Flow.StartDeliveries(ctx, w); err != nil {
			return w, err
		}
	}
	return w, nil
}

// reconsider moves a subject's incident along now rather than at the scheduler's next look;
// a failure is left to that look.
func (s *Service) reconsider(ctx context.Context, subject string) {
	if s.Flow == nil {
		return
	}
	if err := s.Flow.Reconsider(ctx, subject); err != nil && s.Audit != nil && s.Audit.Logger != nil {
		s.Audit.Logger.Warn("an incident was not updated; the scheduler does it", "subject", subject, "error", err)
	}
}

// DeliveriesQuery is a page of a webhook's deliveries log.
type DeliveriesQuery struct {
	Before int64 // an attempt id: the page ends before it (0: from the newest)
	Limit  int
}

// ParseDeliveriesQuery reads `before` and `limit`.
func ParseDeliveriesQuery(get func(string) string) (DeliveriesQuery, []FieldError) {
	var bad problems
	q := DeliveriesQuery{Limit: DefaultDeliveriesPage}
	if v := strings.TrimSpace(get("before")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			bad.add("before", locale.M("cursor_invalid"))
		} else {
			q.Before = n
		}
	}
	if v := strings.TrimSpace(get("limit")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxDeliveriesPage {
			bad.add("limit", locale.M("limit_invalid", "max", MaxDeliveriesPage))
		} else {
			q.Limit = n
		}
	}
	return q, bad
}

// Deliveries lists one of the account's webhooks' deliveries log, newest first.
func (s *Service) Deliveries(ctx context.Context, accountID, webhookID int64, q DeliveriesQuery) ([]store.Attempt, error) {
	if _, err := s.Store.Webhook(ctx, accountID, webhookID); err != nil {
		return nil, err
	}
	return s.Store.Attempts(ctx, accountID, webhookID, q.Before, q.Limit)
}

// TestWebhook sends a test message (type webhook.test, no changes) to the webhook now, signed
// as every delivery is, and records it in the deliveries log. It is sent once: the answer is
// what the user wants to see.
func (s *Service) TestWebhook(ctx context.Context, accountID, id int64) (store.AttemptResult, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.AttemptResult{}, err
	}
	w, err := s.Store.Webhook(ctx, accountID, id)
	if err != nil {
		return store.AttemptResult{}, err
	}
	secret, err := s.Keys.OpenSecret(accountID, w.SecretSealed)
	if err != nil {
		return store.AttemptResult{}, err
	}
	msgID, err := webhook.NewMessageID()
	if err != nil {
		return store.AttemptResult{}, err
	}
	body, err := webhook.TestBody(w.CounterID, s.now())
	if err != nil {
		return store.AttemptResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	d, err := s.Store.CreateTestDelivery(ctx, w, msgID, body)
	if err != nil {
		return store.AttemptResult{}, err
	}
	res := s.Sender.Send(ctx, w.URL, secret, webhook.Message{ID: msgID, Body: body})
	out := store.AttemptResult{OK: res.OK, HTTPStatus: res.HTTPStatus, Error: res.Error, Duration: res.Duration, At: res.At}
	if _, err := s.Store.RecordAttempt(context.WithoutCancel(ctx), d, out, time.Time{}, locale.Message{}); err != nil {
		return out, err
	}
	return out, nil
}
