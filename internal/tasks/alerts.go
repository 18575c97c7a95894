package tasks

import (
	"context"
	"net/mail"
	"strconv"
	"strings"

	"orderimport/internal/access"
	"orderimport/internal/alert"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// MaxAlertChannels bounds an account's alert channels.
const MaxAlertChannels = 20

// ChannelInput is a new alert channel as sent by a user.
type ChannelInput struct {
	Type     *string `json:"type"`
	Address  *string `json:"address"`
	URL      *string `json:"url"`
	Language *string `json:"language"`
}

// CreateChannel adds an alert channel to the account and returns it with the signing secret of
// a webhook channel ("" for email), shown this once. base is the service's address as the
// request reached it: the channel's alerts link there unless PublicURL is set.
func (s *Service) CreateChannel(ctx context.Context, accountID int64, in ChannelInput, base string) (store.AlertChannel, string, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.AlertChannel{}, "", err
	}
	var bad problems
	c := store.AlertChannel{AccountID: accountID, Language: locale.Default, BaseURL: strings.TrimSuffix(base, "/")}
	if in.Type != nil {
		c.Type = strings.TrimSpace(*in.Type)
	}
	switch c.Type {
	case store.ChannelEmail:
		addr := ""
		if in.Address != nil {
			addr = strings.TrimSpace(*in.Address)
		}
		a, err := mail.ParseAddress(addr)
		switch {
		case addr == "":
			bad.add("address", locale.M("alert_email_required"))
		case err != nil || a.Name != "" || a.Address != addr:
			bad.add("address", locale.M("alert_email_invalid", "value", clip(addr)))
		default:
			c.Address = strings.ToLower(a.Address)
		}
		if in.URL != nil {
			bad.add("url", locale.M("alert_field_not_for_type", "type", c.Type))
		}
		if s.Alerts == nil || s.Alerts.Mail == nil {
			bad.add("type", locale.M("smtp_not_configured"))
		}
	case store.ChannelWebhook:
		c.URL = s.checkReceiver(ctx, in.URL, "url", &bad)
		if in.Address != nil {
			bad.add("address", locale.M("alert_field_not_for_type", "type", c.Type))
		}
	case "":
		bad.add("type", locale.M("alert_type_required"))
	default:
		bad.add("type", locale.M("alert_type_unsupported", "value", clip(c.Type)))
	}
	if in.Language != nil {
		lang := strings.TrimSpace(*in.Language)
		if !locale.Valid(lang) {
			bad.add("language", locale.M("language_unsupported", "value", clip(lang)))
		} else {
			c.Language = lang
		}
	}
	if err := bad.err(); err != nil {
		return store.AlertChannel{}, "", err
	}
	existing, err := s.Store.AlertChannels(ctx, accountID)
	if err != nil {
		return store.AlertChannel{}, "", err
	}
	if len(existing) >= MaxAlertChannels {
		return store.AlertChannel{}, "", invalid("type", locale.M("alert_channels_too_many", "max", MaxAlertChannels))
	}
	secret := ""
	if c.Type == store.ChannelWebhook {
		if secret, c.SecretSealed, err = s.sealSecret(accountID); err != nil {
			return store.AlertChannel{}, "", err
		}
	}
	if c, err = s.Store.CreateAlertChannel(ctx, c); err != nil {
		return store.AlertChannel{}, "", err
	}
	s.Audit.Record(ctx, accountID, audit.AlertChannelCreate, channelTarget(c.ID), locale.M("audit_alert_channel_created", "target", c.Address+c.URL))
	return c, secret, nil
}

func channelTarget(id int64) string { return "alert_channel:" + strconv.FormatInt(id, 10) }

// DeleteChannel removes one of the account's alert channels.
func (s *Service) DeleteChannel(ctx context.Context, accountID, id int64) error {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return err
	}
	c, err := s.Store.AlertChannel(ctx, accountID, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteAlertChannel(ctx, accountID, id); err != nil {
		return err
	}
	s.Audit.Record(ctx, accountID, audit.AlertChannelDelete, channelTarget(id), locale.M("audit_alert_channel_deleted", "target", c.Address+c.URL))
	return nil
}

// TestChannel sends a test alert through one of the account's channels now and says how it
// went: a zero message when it was sent, else why not.
func (s *Service) TestChannel(ctx context.Context, accountID, id int64) (locale.Message, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return locale.Message{}, err
	}
	c, err := s.Store.AlertChannel(ctx, accountID, id)
	if err != nil {
		return locale.Message{}, err
	}
	base := s.PublicURL
	if base == "" {
		base = c.BaseURL
	}
	p := locale.For(c.Language)
	nt := alert.Notice{Subject: p.Msg(locale.M("alert_test_subject")), Event: "incident.test",
		Text: p.Msg(locale.M("alert_test_text")) + "\n\n" + p.T("alert.open", base+"/alerts") + "\n\n" + p.T("alert.footer") + "\n",
		Link: base + "/alerts"}
	ctx, cancel := context.WithTimeout(ctx, 2*testTimeout)
	defer cancel()
	sendErr := s.Alerts.Send(ctx, c, nt)
	msg := locale.Message{}
	if sendErr != nil {
		msg, _ = locale.MessageOf(sendErr)
		if msg.IsZero() {
			msg = locale.M("alert_email_failed").WithDetail(sendErr.Error())
		}
	}
	if err := s.Store.RecordAlertSent(context.WithoutCancel(ctx), c.ID, s.now(), msg); err != nil {
		return msg, err
	}
	return msg, nil
}
