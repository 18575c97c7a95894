package web

import (
	"errors"
	"net/http"
	"strconv"

	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

type webhooksData struct {
	Webhooks []store.Webhook
	Reasons  map[int64]*fieldErr // why a webhook is disabled
	Form     webhookForm
	// Created is the webhook just added, with its secret: shown this once.
	Created *store.Webhook
	Secret  string
	// FeedCall is the API call that reads the counter's changes feed.
	FeedCall string
}

type webhookForm struct {
	URL    string
	Errors map[string]*fieldErr
}

// webhooks is the counter's outbound webhooks: where its orders' changes are posted, signed,
// as they are imported; and the form that adds one.
func (h *Web) webhooks(w http.ResponseWriter, r *http.Request, vw *view) {
	c, err := h.loadCounter(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d := webhooksData{Form: webhookForm{Errors: map[string]*fieldErr{}}}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		d.Form.URL = r.PostFormValue("url")
		wh, secret, err := h.Tasks.CreateWebhook(r.Context(), c.AccountID, c.ID, tasks.WebhookInput{URL: &d.Form.URL})
		var inv *tasks.InvalidError
		switch {
		case errors.As(err, &inv):
			for _, fe := range inv.Fields {
				d.Form.Errors[fe.Field] = msgErr(vw, fe.Msg)
			}
			status = http.StatusUnprocessableEntity
		case err != nil:
			h.fail(w, r, vw, err)
			return
		default:
			d.Created, d.Secret, d.Form.URL = &wh, secret, ""
		}
	}
	if d.Webhooks, err = h.Store.Webhooks(r.Context(), c.AccountID, c.ID); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d.Reasons = map[int64]*fieldErr{}
	for _, wh := range d.Webhooks {
		if !wh.DisabledReason.IsZero() {
			d.Reasons[wh.ID] = msgErr(vw, wh.DisabledReason)
		}
	}
	d.FeedCall = "GET /api/v1/counters/" + strconv.FormatInt(c.ID, 10) + "/orders/changes?after=…"
	vw.Section = "settings"
	vw.Title = vw.T("webhooks.title")
	vw.Crumbs = []crumb{{Label: vw.T("settings.title"), Href: counterPath(c, "/settings")}, {Label: vw.T("webhooks.title")}}
	h.renderStatus(w, r, vw, status, "webhooks.html", d)
}

type webhookData struct {
	Webhook  store.Webhook
	Reason   *fieldErr
	Attempts []attemptRow
	More     string // the next page of the log
	Tested   *testResult
}

type attemptRow struct {
	store.Attempt
	Err *fieldErr
}

// testResult is how a test message went, in the visitor's words.
type testResult struct {
	OK         bool
	HTTPStatus int
	Err        *fieldErr
}

// webhook is one webhook: its state, the buttons that act on it, and its deliveries log.
func (h *Web) webhook(w http.ResponseWriter, r *http.Request, vw *view) {
	h.showWebhook(w, r, vw, nil)
}

func (h *Web) showWebhook(w http.ResponseWriter, r *http.Request, vw *view, tested *testResult) {
	wh, c, err := h.loadWebhook(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	q, _ := tasks.ParseDeliveriesQuery(r.URL.Query().Get)
	q.Limit = tasks.DefaultDeliveriesPage
	attempts, err := h.Tasks.Deliveries(r.Context(), wh.AccountID, wh.ID, q)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d := webhookData{Webhook: wh, Tested: tested}
	if !wh.DisabledReason.IsZero() {
		d.Reason = msgErr(vw, wh.DisabledReason)
	}
	for _, a := range attempts {
		row := attemptRow{Attempt: a}
		if !a.Error.IsZero() {
			row.Err = msgErr(vw, a.Error)
		}
		d.Attempts = append(d.Attempts, row)
	}
	if len(attempts) == q.Limit {
		d.More = webhookPath(wh) + "?before=" + strconv.FormatInt(attempts[len(attempts)-1].ID, 10)
	}
	vw.Title = vw.T("webhook.title")
	vw.Crumbs = []crumb{{Label: vw.T("settings.title"), Href: counterPath(c, "/settings")},
		{Label: vw.T("webhooks.title"), Href: counterPath(c, "/webhooks")}, {Label: wh.URL, Data: true}}
	h.render(w, r, vw, "webhook.html", d)
}

// testWebhook sends a test message now and shows the webhook page with how it went.
func (h *Web) testWebhook(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	res, err := h.Tasks.TestWebhook(r.Context(), vw.Visitor.User.AccountID, id)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	tr := &testResult{OK: res.OK, HTTPStatus: res.HTTPStatus}
	if !res.Error.IsZero() {
		tr.Err = msgErr(vw, res.Error)
	}
	h.showWebhook(w, r, vw, tr)
}

// enableWebhook turns a disabled webhook on again.
func (h *Web) enableWebhook(w http.ResponseWriter, r *http.Request, vw *view) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	wh, err := h.Tasks.EnableWebhook(r.Context(), vw.Visitor.User.AccountID, id)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, withDone(webhookPath(wh), "webhook_enabled"))
}

// deleteWebhook removes a webhook and goes back to the counter's webhooks.
func (h *Web) deleteWebhook(w http.ResponseWriter, r *http.Request, vw *view) {
	wh, c, err := h.loadWebhook(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	if err := h.Tasks.DeleteWebhook(r.Context(), wh.AccountID, wh.ID); err != nil {
		h.fail(w, r, vw, err)
		return
	}
	redirect(w, r, withDone(counterPath(c, "/webhooks"), "webhook_deleted"))
}

// loadWebhook reads {id} as one of the visitor's webhooks, with its counter in the navigation.
func (h *Web) loadWebhook(r *http.Request, vw *view) (store.Webhook, store.Counter, error) {
	id, err := pathID(r)
	if err != nil {
		return store.Webhook{}, store.Counter{}, err
	}
	acc := vw.Visitor.User.AccountID
	wh, err := h.Store.Webhook(r.Context(), acc, id)
	if err != nil {
		return store.Webhook{}, store.Counter{}, err
	}
	c, err := h.Store.Counter(r.Context(), acc, wh.CounterID)
	if err != nil {
		return store.Webhook{}, store.Counter{}, err
	}
	vw.Counter = &c
	vw.Section = "settings"
	return wh, c, nil
}

func webhookPath(wh store.Webhook) string { return "/webhooks/" + strconv.FormatInt(wh.ID, 10) }
