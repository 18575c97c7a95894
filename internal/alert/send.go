package alert

import (
	"context"
	"encoding/json"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/mail"
	"orderimport/internal/store"
	"orderimport/internal/webhook"
)

// SecretOpener opens a sealed signing secret of one of the account's channels.
type SecretOpener interface {
	OpenSecret(accountID int64, sealed string) (string, error)
}

// Notifier sends notices through an account's channels.
type Notifier struct {
	Mail    *mail.Mailer // nil: no SMTP server configured, email channels cannot send
	Sender  *webhook.Sender
	Secrets SecretOpener
	Now     func() time.Time
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// Send delivers a notice through one channel, once. The error is a *locale.Error that says, in
// the reader's words, why it did not go (the cause for logs wrapped inside).
func (n *Notifier) Send(ctx context.Context, ch store.AlertChannel, nt Notice) error {
	switch ch.Type {
	case store.ChannelEmail:
		if n.Mail == nil {
			return locale.Err("smtp_not_configured")
		}
		err := n.Mail.Send(ctx, mail.Message{To: []string{ch.Address}, Subject: nt.Subject, Text: nt.Text})
		if err != nil {
			return locale.Wrap(locale.M("alert_email_failed").WithDetail(err.Error()), err)
		}
		return nil
	case store.ChannelWebhook:
		secret, err := n.Secrets.OpenSecret(ch.AccountID, ch.SecretSealed)
		if err != nil {
			return locale.Wrap(locale.M("secret_undecryptable"), err)
		}
		id, err := webhook.NewMessageID()
		if err != nil {
			return locale.Wrap(locale.M("internal"), err)
		}
		body, err := json.Marshal(payload(nt, n.now()))
		if err != nil {
			return locale.Wrap(locale.M("internal"), err)
		}
		res := n.Sender.Send(ctx, ch.URL, secret, webhook.Message{ID: id, Body: body})
		if !res.OK {
			return &locale.Error{Msg: res.Error}
		}
		return nil
	}
	return locale.Err("alert_channel_type")
}

// alertPayload is the JSON an alert webhook is posted: the Standard Webhooks envelope, with
// the words in the channel's language — and "text" on top, which chat services that take
// incoming webhooks (Slack and its kin) show as the message.
type alertPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Text      string    `json:"text"`
	Data      alertData `json:"data"`
}

type alertData struct {
	IncidentID int64      `json:"incident_id"`
	Kind       string     `json:"kind"`
	Subject    string     `json:"subject"`
	TaskID     int64      `json:"task_id,omitempty"`
	WebhookID  int64      `json:"webhook_id,omitempty"`
	Title      string     `json:"title"`
	Message    string     `json:"message"`
	Link       string     `json:"link,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
}

func payload(nt Notice, now time.Time) alertPayload {
	in := nt.Incident
	return alertPayload{Type: nt.Event, Timestamp: now.UTC(), Text: nt.Subject + "\n" + nt.Link,
		Data: alertData{IncidentID: in.ID, Kind: in.Kind, Subject: in.Subject, TaskID: in.TaskID, WebhookID: in.WebhookID,
			Title: nt.Subject, Message: nt.Text, Link: nt.Link, StartedAt: in.StartedAt, EndedAt: in.EndedAt}}
}
