package web

import (
	"errors"
	"net/http"
	"strconv"

	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// incidentsShown bounds the incidents the alerts page lists.
const incidentsShown = 30

type alertsData struct {
	Channels  []channelRow
	Incidents []incidentRow
	Form      channelForm
	MailReady bool // an SMTP server is configured: email channels can send
	// Created is the channel just added; Secret its signing secret (webhooks), shown once.
	Created *store.AlertChannel
	Secret  string
	// Tested is the channel a test was just sent through, and how it went.
	Tested     int64
	TestResult *testResult
	Languages  []string
}

type channelRow struct {
	store.AlertChannel
	Err *fieldErr
}

type incidentRow struct {
	store.Incident
	Text *fieldErr
}

type channelForm struct {
	Type, Address, URL, Language string
	Errors                       map[string]*fieldErr
}

// alerts is the account's alerts: where they go (email addresses, URLs), a test for each, and
// the recent incidents they told about.
func (h *Web) alerts(w http.ResponseWriter, r *http.Request, vw *view) {
	h.showAlerts(w, r, vw, http.StatusOK, alertsData{Form: channelForm{Type: store.ChannelEmail, Language: vw.Lang, Errors: map[string]*fieldErr{}}})
}

func (h *Web) showAlerts(w http.ResponseWriter, r *http.Request, vw *view, status int, d alertsData) {
	acc := vw.Visitor.User.AccountID
	chans, err := h.Store.AlertChannels(r.Context(), acc)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	for _, c := range chans {
		row := channelRow{AlertChannel: c}
		if !c.LastError.IsZero() {
			row.Err = msgErr(vw, c.LastError)
		}
		d.Channels = append(d.Channels, row)
	}
	incs, err := h.Store.Incidents(r.Context(), acc, incidentsShown)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	for _, in := range incs {
		d.Incidents = append(d.Incidents, incidentRow{Incident: in, Text: msgErr(vw, in.Detail)})
	}
	d.MailReady = h.Tasks.Alerts != nil && h.Tasks.Alerts.Mail != nil
	d.Languages = locale.Languages
	vw.Title = vw.T("alerts.title")
	vw.Crumbs = []crumb{{Label: vw.T("alerts.title")}}
	h.renderStatus(w, r, vw, status, "alerts.html", d)
}

// createChannel adds an alert channel from the page's form.
func (h *Web) createChannel(w http.ResponseWriter, r *http.Request, vw *view) {
	f := channelForm{Type: r.PostFormValue("type"), Address: r.PostFormValue("address"), URL: r.PostFormValue("url"),
		Language: r.PostFormValue("language"), Errors: map[string]*fieldErr{}}
	in := tasks.ChannelInput{Type: &f.Type}
	if f.Language != "" {
		in.Language = &f.Language
	}
	if f.Type == store.ChannelWebhook {
		in.URL = &f.URL
	} else {
		in.Address = &f.Address
	}
	c, secret, err := h.Tasks.CreateChannel(r.Context(), vw.Visitor.User.AccountID, in, baseURL(r))
	var inv *tasks.InvalidError
	switch {
	case errors.As(err, &inv):
		for _, fe := range inv.Fields {
			f.Errors[fe.Field] = msgErr(vw, fe.Msg)
		}
		h.showAlerts(w, r, vw, http.StatusUnprocessableEntity, alertsData{Form: f})
	case err != nil:
		h.fail(w, r, vw, err)
	default:
		h.showAlerts(w, r, vw, http.StatusOK, alertsData{Created: &c, Secret: secret,
			Form: channelForm{Type: f.Type, Language: f.Language, Errors: map[string]*fieldErr{}}})
	}
}

// testChannel sends a test alert through a channel now and shows how it went.
func (h *Web) testChannel(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	msg, err := h.Tasks.TestChannel(r.Context(), vw.Visitor.User.AccountID, id)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	tr := &testResult{OK: msg.IsZero()}
	if !msg.IsZero() {
		tr.Err = msgErr(vw, msg)
	}
	h.showAlerts(w, r, vw, http.StatusOK, alertsData{Tested: id, TestResult: tr,
		Form: channelForm{Type: store.ChannelEmail, Language: vw.Lang, Errors: map[string]*fieldErr{}}})
}

// deleteChannel removes an alert channel.
func (h *Web) deleteChannel(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	if err := h.Tasks.DeleteChannel(r.Context(), vw.Visitor.User.AccountID, id); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, withDone("/alerts", "channel_deleted"))
}

// Link is the page of what the incident is about.
func (in incidentRow) Link() string {
	if in.TaskID != 0 {
		return "/imports/" + strconv.FormatInt(in.TaskID, 10)
	}
	return "/webhooks/" + strconv.FormatInt(in.WebhookID, 10)
}
