package api

import (
	"errors"
	"net/http"
	"time"

	"orderimport/internal/export"
	"orderimport/internal/locale"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// The orders' way out: the changes feed, outbound webhooks and their deliveries log, the
// RetailCRM trigger, alert channels.

func (a *API) listChanges(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	q, bad := tasks.ParseChangesQuery(r.URL.Query())
	if len(bad) > 0 {
		problem(w, r, http.StatusBadRequest, bad[0].Msg, bad[0].Field)
		return
	}
	acc := userFrom(r.Context()).AccountID
	ch, err := a.Tasks.Changes(r.Context(), acc, counterID, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	names, err := a.Tasks.Names(r.Context(), acc, counterID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]export.Change, 0, len(ch.Orders))
	for i := range ch.Orders {
		out = append(out, export.ChangeOf(&ch.Orders[i], names))
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": out, "next": ch.Next.String(), "more": ch.More})
}

type webhookJSON struct {
	ID                 int64      `json:"id"`
	CounterID          int64      `json:"counter_id"`
	URL                string     `json:"url"`
	Secret             string     `json:"secret,omitempty"`
	Enabled            bool       `json:"enabled"`
	DisabledReason     string     `json:"disabled_reason,omitempty"`
	DisabledReasonCode string     `json:"disabled_reason_code,omitempty"`
	DisabledAt         *time.Time `json:"disabled_at"`
	Cursor             string     `json:"cursor"`
	CreatedAt          time.Time  `json:"created_at"`
}

func webhookOut(p *locale.Printer, wh store.Webhook) webhookJSON {
	out := webhookJSON{ID: wh.ID, CounterID: wh.CounterID, URL: wh.URL, Enabled: wh.Enabled, DisabledAt: wh.DisabledAt,
		Cursor: wh.Cursor.String(), CreatedAt: wh.CreatedAt}
	if !wh.DisabledReason.IsZero() {
		out.DisabledReason, out.DisabledReasonCode = p.Msg(wh.DisabledReason), wh.DisabledReason.Code
	}
	return out
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	var in tasks.WebhookInput
	if !decode(w, r, &in) {
		return
	}
	wh, secret, err := a.Tasks.CreateWebhook(r.Context(), userFrom(r.Context()).AccountID, counterID, in)
	if err != nil {
		a.failAddress(w, r, err)
		return
	}
	out := webhookOut(printer(r), wh)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

// failAddress answers a refused receiver address as address_refused, as a refused RetailCRM
// address is.
func (a *API) failAddress(w http.ResponseWriter, r *http.Request, err error) {
	var inv *tasks.InvalidError
	if errors.As(err, &inv) {
		for _, f := range inv.Fields {
			if f.Msg.Code == "webhook_address_private" {
				p := printer(r)
				writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: errorDetail{Code: "address_refused", Message: p.Msg(f.Msg),
					Field: f.Field, Fields: fieldsOut(p, inv)}})
				return
			}
		}
	}
	a.fail(w, r, err)
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) {
	counterID, ok := pathID(w, r)
	if !ok {
		return
	}
	acc := userFrom(r.Context()).AccountID
	if _, err := a.Store.Counter(r.Context(), acc, counterID); err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.Store.Webhooks(r.Context(), acc, counterID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := make([]webhookJSON, 0, len(list))
	for _, wh := range list {
		out = append(out, webhookOut(p, wh))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	wh, err := a.Store.Webhook(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookOut(printer(r), wh))
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.Tasks.DeleteWebhook(r.Context(), userFrom(r.Context()).AccountID, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) enableWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	wh, err := a.Tasks.EnableWebhook(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookOut(printer(r), wh))
}

type deliveryJSON struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Changes    int       `json:"changes"`
	Attempt    int       `json:"attempt"`
	Status     string    `json:"status"`
	HTTPStatus int       `json:"http_status"`
	Error      string    `json:"error"`
	ErrorCode  string    `json:"error_code"`
	DurationMS int64     `json:"duration_ms"`
	At         time.Time `json:"at"`
}

func deliveryOut(p *locale.Printer, at store.Attempt) deliveryJSON {
	return deliveryJSON{ID: at.MsgID, Type: at.Type, Changes: at.Changes, Attempt: at.Attempt, Status: at.Status, HTTPStatus: at.HTTPStatus,
		Error: p.Msg(at.Error), ErrorCode: at.Error.Code, DurationMS: at.Duration.Milliseconds(), At: at.At}
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	q, bad := tasks.ParseDeliveriesQuery(r.URL.Query().Get)
	if len(bad) > 0 {
		problem(w, r, http.StatusBadRequest, bad[0].Msg, bad[0].Field)
		return
	}
	list, err := a.Tasks.Deliveries(r.Context(), userFrom(r.Context()).AccountID, id, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := make([]deliveryJSON, 0, len(list))
	for _, at := range list {
		out = append(out, deliveryOut(p, at))
	}
	var next *int64
	if len(list) == q.Limit {
		next = &list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out, "next_before": next})
}

// testResultJSON is how a test message went.
type testResultJSON struct {
	OK         bool   `json:"ok"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Error      string `json:"error,omitempty"`
	ErrorCode  string `json:"error_code,omitempty"`
	Detail     string `json:"detail,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	res, err := a.Tasks.TestWebhook(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := testResultJSON{OK: res.OK, HTTPStatus: res.HTTPStatus, DurationMS: res.Duration.Milliseconds()}
	if !res.Error.IsZero() {
		out.Error, out.ErrorCode, out.Detail = p.Msg(res.Error), res.Error.Code, res.Error.Detail
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) rotateTrigger(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := a.Tasks.RotateTrigger(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeTask(w, r, http.StatusOK, t)
}

// RegisterHooks mounts the URLs other systems call, which are not behind login: RetailCRM's
// trigger. The token in the path is the credential.
func (a *API) RegisterHooks(mux Mux) {
	mux.Handle("GET "+tasks.TriggerPath+"{token}", http.HandlerFunc(a.trigger))
	mux.Handle("POST "+tasks.TriggerPath+"{token}", http.HandlerFunc(a.trigger))
}

// trigger takes RetailCRM's call: 202 for a task's token (its run follows within seconds), 404
// for anything else. The body is never read.
func (a *API) trigger(w http.ResponseWriter, r *http.Request) {
	langHeaders(w, r)
	if err := a.Tasks.Trigger(r.Context(), r.PathValue("token")); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

type channelJSON struct {
	ID            int64      `json:"id"`
	Type          string     `json:"type"`
	Address       string     `json:"address,omitempty"`
	URL           string     `json:"url,omitempty"`
	Secret        string     `json:"secret,omitempty"`
	Language      string     `json:"language"`
	LastSentAt    *time.Time `json:"last_sent_at"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorCode string     `json:"last_error_code,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

func channelOut(p *locale.Printer, c store.AlertChannel) channelJSON {
	out := channelJSON{ID: c.ID, Type: c.Type, Address: c.Address, URL: c.URL, Language: c.Language, LastSentAt: c.LastSentAt, CreatedAt: c.CreatedAt}
	if !c.LastError.IsZero() {
		out.LastError, out.LastErrorCode = p.Msg(c.LastError), c.LastError.Code
	}
	return out
}

func (a *API) createChannel(w http.ResponseWriter, r *http.Request) {
	var in tasks.ChannelInput
	if !decode(w, r, &in) {
		return
	}
	c, secret, err := a.Tasks.CreateChannel(r.Context(), userFrom(r.Context()).AccountID, in, baseURL(r))
	if err != nil {
		a.failAddress(w, r, err)
		return
	}
	out := channelOut(printer(r), c)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.AlertChannels(r.Context(), userFrom(r.Context()).AccountID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := make([]channelJSON, 0, len(list))
	for _, c := range list {
		out = append(out, channelOut(p, c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.Tasks.DeleteChannel(r.Context(), userFrom(r.Context()).AccountID, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) testChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	msg, err := a.Tasks.TestChannel(r.Context(), userFrom(r.Context()).AccountID, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := testResultJSON{OK: msg.IsZero()}
	if !msg.IsZero() {
		out.Error, out.ErrorCode, out.Detail = printer(r).Msg(msg), msg.Code, msg.Detail
	}
	writeJSON(w, http.StatusOK, out)
}

type incidentJSON struct {
	ID            int64      `json:"id"`
	Kind          string     `json:"kind"`
	ImportID      int64      `json:"import_id,omitempty"`
	WebhookID     int64      `json:"webhook_id,omitempty"`
	Message       string     `json:"message"`
	MessageCode   string     `json:"message_code"`
	MessageDetail string     `json:"message_detail,omitempty"`
	StartedAt     time.Time  `json:"started_at"`
	EndedAt       *time.Time `json:"ended_at"`
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) {
	list, err := a.Store.Incidents(r.Context(), userFrom(r.Context()).AccountID, 100)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := make([]incidentJSON, 0, len(list))
	for _, in := range list {
		out = append(out, incidentJSON{ID: in.ID, Kind: in.Kind, ImportID: in.TaskID, WebhookID: in.WebhookID, Message: p.Msg(in.Detail),
			MessageCode: in.Detail.Code, MessageDetail: in.Detail.Detail, StartedAt: in.StartedAt, EndedAt: in.EndedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out})
}
