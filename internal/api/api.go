// Package api is the JSON API v1: bearer-token (or browser session) authentication, one
// handler file per resource, and the error envelope {"error": {"code", "message", "field",
// "detail", "fields"}}. It is an adapter over the use cases of internal/tasks and
// internal/people: it decodes a request, calls the use case with the caller's principal (an API
// token acts with its user's role) and renders the answer, with every message in English or,
// when the request says Accept-Language: ru, in Russian. What a role may not do is a 403 with
// code "forbidden".
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// MaxBodyBytes bounds request bodies: the largest legitimate one (a task with a full mapping)
// is a few kilobytes.
const MaxBodyBytes = 1 << 20

// API serves /api/v1.
type API struct {
	Store  *store.Store
	Tasks  *tasks.Service
	People *people.Service
	Log    *slog.Logger
	// SessionUser resolves a browser session (the web UI's cookie), when the UI is mounted;
	// csrfRefused: a session's state-changing call without its CSRF token.
	SessionUser func(r *http.Request) (u store.User, ok, csrfRefused bool, err error)
}

type ctxKey struct{}

func userFrom(ctx context.Context) store.User {
	u, _ := ctx.Value(ctxKey{}).(store.User)
	return u
}

// Mux is where routes are mounted: an *http.ServeMux, or a wrapper that also records the
// patterns (the role matrix test enumerates every route from it).
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register mounts every route on mux.
func (a *API) Register(mux Mux) {
	known := newRouteSet()
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request)) {
		known.add(pattern)
		mux.Handle(pattern, a.authenticated(http.HandlerFunc(fn)))
	}
	h("POST /api/v1/counters", a.createCounter)
	h("GET /api/v1/counters", a.listCounters)
	h("GET /api/v1/counters/{id}", a.getCounter)
	h("POST /api/v1/counters/{id}/imports", a.createImport)
	h("GET /api/v1/counters/{id}/imports", a.listImports)
	h("GET /api/v1/imports/{id}", a.getImport)
	h("PATCH /api/v1/imports/{id}", a.updateImport)
	h("DELETE /api/v1/imports/{id}", a.deleteImport)
	h("POST /api/v1/imports/{id}/runs", a.runNow)
	h("GET /api/v1/imports/{id}/runs", a.listRuns)
	h("POST /api/v1/imports/{id}/resync", a.resync)
	h("GET /api/v1/runs/{id}", a.getRun)
	h("POST /api/v1/retailcrm/check", a.check)
	h("POST /api/v1/imports/preview", a.preview)
	h("POST /api/v1/imports/estimate", a.estimate)
	h("GET /api/v1/counters/{id}/orders", a.listOrders)
	h("GET /api/v1/counters/{id}/orders/summary", a.summary)
	h("GET /api/v1/fields", a.fields)
	h("GET /api/v1/audit", a.listAudit)
	h("GET /api/v1/users", a.listUsers)
	h("POST /api/v1/users", a.inviteUser)
	h("PATCH /api/v1/users/{id}", a.updateUser)
	h("DELETE /api/v1/users/{id}", a.removeUser)
	h("GET /api/v1/counters/{id}/orders/changes", a.listChanges)
	h("POST /api/v1/counters/{id}/webhooks", a.createWebhook)
	h("GET /api/v1/counters/{id}/webhooks", a.listWebhooks)
	h("GET /api/v1/webhooks/{id}", a.getWebhook)
	h("DELETE /api/v1/webhooks/{id}", a.deleteWebhook)
	h("POST /api/v1/webhooks/{id}/enable", a.enableWebhook)
	h("POST /api/v1/webhooks/{id}/test", a.testWebhook)
	h("GET /api/v1/webhooks/{id}/deliveries", a.listDeliveries)
	h("POST /api/v1/imports/{id}/trigger/rotate", a.rotateTrigger)
	h("POST /api/v1/alerts/channels", a.createChannel)
	h("GET /api/v1/alerts/channels", a.listChannels)
	h("DELETE /api/v1/alerts/channels/{id}", a.deleteChannel)
	h("POST /api/v1/alerts/channels/{id}/test", a.testChannel)
	h("GET /api/v1/alerts/incidents", a.listIncidents)
	h("GET /api/v1/counters/{id}/orders/{order_id}/timeline", a.orderTimeline)
	h("GET /api/v1/imports/{id}/mappings", a.listMappings)
	h("POST /api/v1/imports/{id}/mappings/{version}/restore", a.restoreMapping)
	mux.Handle("/api/", a.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The catch-all answers every method, so the mux never says 405 by itself.
		if allowed := known.methods(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			problem(w, r, http.StatusMethodNotAllowed, locale.M("method_not_allowed", "methods", strings.Join(allowed, ", ")), "")
			return
		}
		problem(w, r, http.StatusNotFound, locale.M("endpoint_not_found"), "")
	})))
}

// authenticated resolves the caller from the bearer token or the browser session; anything
// else is a 401 before any handler runs.
func (a *API) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u store.User
		ok := false
		via := audit.ViaSession
		if h := r.Header.Get("Authorization"); h != "" {
			via = audit.ViaToken
			scheme, token, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") {
				problem(w, r, http.StatusUnauthorized, locale.M("auth_scheme"), "")
				return
			}
			user, err := a.Store.UserByToken(r.Context(), strings.TrimSpace(token))
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					a.fail(w, r, err)
					return
				}
				problem(w, r, http.StatusUnauthorized, locale.M("token_unknown"), "")
				return
			}
			u, ok = user, true
		} else if a.SessionUser != nil {
			var csrfRefused bool
			var err error
			u, ok, csrfRefused, err = a.SessionUser(r)
			if err != nil {
				a.fail(w, r, fmt.Errorf("api: look up the browser session: %w", err))
				return
			}
			if csrfRefused {
				problem(w, r, http.StatusForbidden, locale.M("csrf_refused"), "")
				return
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderimport"`)
			problem(w, r, http.StatusUnauthorized, locale.M("auth_required"), "")
			return
		}
		langHeaders(w, r)
		ctx := audit.WithActor(context.WithValue(r.Context(), ctxKey{}, u), audit.FromRequest(r, u, via))
		ctx = people.Principal(ctx, u)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail is the envelope's error: a stable code, the message in the reader's language,
// the field it is about, verbatim words nobody can translate (RetailCRM's answer, an
// expression's diagnostic), and on a 422 every invalid field at once.
type errorDetail struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Field   string      `json:"field,omitempty"`
	Detail  string      `json:"detail,omitempty"`
	Fields  []fieldJSON `json:"fields,omitempty"`
}

type fieldJSON struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

// routeSet knows the paths of the routes and their methods, so that a known path asked with
// another method is a 405 that says which methods it takes.
type routeSet struct {
	paths  *http.ServeMux
	byPath map[string][]string
}

func newRouteSet() *routeSet {
	return &routeSet{paths: http.NewServeMux(), byPath: map[string][]string{}}
}

func (rs *routeSet) add(pattern string) {
	method, path, _ := strings.Cut(pattern, " ")
	if _, seen := rs.byPath[path]; !seen {
		rs.paths.Handle(path, http.NotFoundHandler())
	}
	rs.byPath[path] = append(rs.byPath[path], method)
}

// methods are those of the route whose path r's path matches (none: no such path).
func (rs *routeSet) methods(r *http.Request) []string {
	_, pattern := rs.paths.Handler(r)
	return rs.byPath[pattern]
}

// Headers says the answer's language and that it depends on the request's.
func langHeaders(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Language", printer(r).Lang())
	w.Header().Add("Vary", "Accept-Language")
}

// Internal answers a fault of the service in the error envelope (panics caught above the API).
func Internal(w http.ResponseWriter, r *http.Request) {
	problem(w, r, http.StatusInternalServerError, locale.M("internal"), "")
}

// CrossOriginRefused answers a state-changing call from another site, which the browser's
// cross-origin protection refused before any handler ran.
func CrossOriginRefused(w http.ResponseWriter, r *http.Request) {
	problem(w, r, http.StatusForbidden, locale.M("cross_origin_refused"), "")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// printer is the language of the answer: English, or Russian when the request asks for it.
func printer(r *http.Request) *locale.Printer {
	return locale.For(locale.FromAcceptLanguage(r.Header.Get("Accept-Language")))
}

// problem answers an error: the message's code is the error's code.
func problem(w http.ResponseWriter, r *http.Request, status int, msg locale.Message, field string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: msg.Code, Message: printer(r).Msg(msg), Field: field, Detail: msg.Detail}})
}

// fail maps an error from the layers below onto the statuses of the API; only faults of the
// service itself are 5xx, and their details stay in the log. rename maps the use case's field
// names onto a route's own (the key check's fields are top-level).
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error, rename ...func(string) string) {
	field := func(f string) string {
		for _, fn := range rename {
			f = fn(f)
		}
		return f
	}
	p := printer(r)
	var inv *tasks.InvalidError
	var ce *tasks.CRMError
	switch {
	case errors.As(err, &inv):
		first := inv.First()
		d := errorDetail{Code: first.Msg.Code, Message: p.Msg(first.Msg), Field: field(first.Field), Detail: first.Msg.Detail,
			Fields: fieldsOut(p, inv, rename...)}
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: d})
	case errors.As(err, &ce):
		msg := ce.Msg
		code := msg.Code
		if ce.AddressRefused {
			code = "address_refused"
		}
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: errorDetail{Code: code, Message: p.Msg(msg),
			Field: field(ce.Field), Detail: msg.Detail}})
	case errors.Is(err, access.ErrForbidden):
		problem(w, r, http.StatusForbidden, locale.M("forbidden"), "")
	case people.IsConflict(err):
		msg, _ := locale.MessageOf(err)
		problem(w, r, http.StatusConflict, msg, "")
	case errors.Is(err, store.ErrNotFound):
		problem(w, r, http.StatusNotFound, locale.M("not_found"), "")
	case errors.Is(err, store.ErrBadCursor):
		problem(w, r, http.StatusBadRequest, locale.M("cursor_invalid"), "cursor")
	case errors.Is(err, tasks.ErrRunActive):
		problem(w, r, http.StatusConflict, locale.M("run_active"), "")
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to answer.
	case store.IsBusy(err):
		// No database connection within the store's bounded wait (pool in use, PostgreSQL
		// refusing sessions or restarting): not a fault of the request, and it can be repeated.
		w.Header().Set("Retry-After", "5")
		problem(w, r, http.StatusServiceUnavailable, locale.M("database_busy"), "")
	case store.IsDiskFull(err):
		// The write was rolled back whole; it can be sent again once there is room.
		problem(w, r, http.StatusInsufficientStorage, locale.M("database_full"), "")
	default:
		a.log().Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		problem(w, r, http.StatusInternalServerError, locale.M("internal"), "")
	}
}

// fieldsOut is every invalid field of a 422, in the reader's language.
func fieldsOut(p *locale.Printer, inv *tasks.InvalidError, rename ...func(string) string) []fieldJSON {
	out := make([]fieldJSON, 0, len(inv.Fields))
	for _, f := range inv.Fields {
		name := f.Field
		for _, fn := range rename {
			name = fn(name)
		}
		out = append(out, fieldJSON{Field: name, Code: f.Msg.Code, Message: p.Msg(f.Msg), Detail: f.Msg.Detail})
	}
	return out
}

func (a *API) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// decode reads a JSON body strictly: one JSON object, no unknown fields, nothing after it.
// Unknown fields and trailing data are errors that name what was wrong, so typos in field names
// do not pass silently.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			problem(w, r, http.StatusRequestEntityTooLarge, locale.M("body_too_large", "max", MaxBodyBytes), "")
		case errors.Is(err, io.EOF):
			problem(w, r, http.StatusBadRequest, locale.M("body_empty"), "")
		case errors.As(err, &se):
			problem(w, r, http.StatusBadRequest, locale.M("json_invalid_at", "offset", se.Offset).WithDetail(err.Error()), "")
		default:
			problem(w, r, http.StatusBadRequest, locale.M("json_invalid").WithDetail(err.Error()), "")
		}
		return false
	}
	// More would miss a stray '}' or ']': it answers for the inside of an array or object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		problem(w, r, http.StatusBadRequest, locale.M("body_trailing_data"), "")
		return false
	}
	// A JSON null would leave v as it is, and a handler would act on an empty request.
	if len(raw) == 0 || raw[0] != '{' {
		problem(w, r, http.StatusBadRequest, locale.M("body_not_object"), "")
		return false
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			problem(w, r, http.StatusBadRequest, locale.M("field_type", "field", te.Field, "want", jsonKind(te.Type.Kind().String()), "got", jsonValueKind(te.Value)), te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			problem(w, r, http.StatusBadRequest, locale.M("field_unknown", "name", name), name)
		default:
			problem(w, r, http.StatusBadRequest, locale.M("json_invalid").WithDetail(err.Error()), "")
		}
		return false
	}
	return true
}

// jsonKind is the kind code ("kind.<code>" in the catalogues) of a Go type's kind.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "text"
	case "bool":
		return "bool"
	case "int", "int64", "float64":
		return "number"
	case "map", "struct":
		return "object"
	case "slice":
		return "list"
	}
	return "other"
}

// jsonValueKind is the kind code of a JSON value's type as encoding/json names it.
func jsonValueKind(v string) string {
	switch v {
	case "string":
		return "text"
	case "number":
		return "number"
	case "bool":
		return "bool"
	case "array":
		return "list"
	case "object":
		return "object"
	case "null":
		return "nil"
	}
	return "other"
}

// pathID parses the {id} path value; a malformed id is simply not found.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		problem(w, r, http.StatusNotFound, locale.M("not_found"), "")
		return 0, false
	}
	return id, true
}
