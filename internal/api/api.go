// Package api is the JSON API v1 of the contract: bearer-token (or browser session)
// authentication, one handler file per resource, and the error envelope
// {"error": {"code", "message", "field"}}.
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

	"orderimport/internal/audit"
	"orderimport/internal/imports"
	"orderimport/internal/store"
)

// MaxBodyBytes bounds request bodies: the largest legitimate one (a task with a full mapping)
// is a few kilobytes.
const MaxBodyBytes = 1 << 20

// API serves /api/v1.
type API struct {
	Store   *store.Store
	Imports *imports.Service
	Log     *slog.Logger
	// SessionUser resolves a browser session (the web UI's cookie), when the UI is mounted.
	SessionUser func(r *http.Request) (store.User, bool)
}

type ctxKey struct{}

func userFrom(ctx context.Context) store.User {
	u, _ := ctx.Value(ctxKey{}).(store.User)
	return u
}

// Mux is where routes are mounted: an *http.ServeMux, or a wrapper that also records the
// patterns (the tenant isolation test enumerates every route from it).
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register mounts every route on mux.
func (a *API) Register(mux Mux) {
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request)) {
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
	h("GET /api/v1/counters/{id}/orders", a.listOrders)
	h("GET /api/v1/counters/{id}/orders/summary", a.summary)
	h("GET /api/v1/fields", a.fields)
	h("GET /api/v1/audit", a.listAudit)
	mux.Handle("/api/", a.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint", "")
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
				writeError(w, http.StatusUnauthorized, "unauthorized", "use the header Authorization: Bearer <token> (a token from `orderimport token create`)", "")
				return
			}
			user, err := a.Store.UserByToken(r.Context(), strings.TrimSpace(token))
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					a.fail(w, r, err)
					return
				}
				writeError(w, http.StatusUnauthorized, "unauthorized", "the API token is unknown or revoked", "")
				return
			}
			u, ok = user, true
		} else if a.SessionUser != nil {
			u, ok = a.SessionUser(r)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderimport"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "authentication required: send Authorization: Bearer <token>", "")
			return
		}
		ctx := audit.WithActor(context.WithValue(r.Context(), ctxKey{}, u), audit.FromRequest(r, u, via))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg, Field: field}})
}

// fail maps an error from the layers below onto the contract's statuses; only faults of the
// service itself are 5xx, and their details stay in the log.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *imports.FieldError
	var ce *imports.CRMError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusUnprocessableEntity, "invalid", fe.Field+" "+fe.Message, fe.Field)
	case errors.As(err, &ce) && imports.AddressRefused(err):
		writeError(w, http.StatusUnprocessableEntity, "address_refused", ce.Message, ce.Field)
	case errors.As(err, &ce):
		writeError(w, http.StatusUnprocessableEntity, "retailcrm_rejected", "RetailCRM: "+ce.Message, ce.Field)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "not found", "")
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, "bad_request", "cursor is not valid: use next_cursor from a previous page", "cursor")
	case errors.Is(err, imports.ErrRunActive):
		writeError(w, http.StatusConflict, "conflict", err.Error(), "")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err.Error(), "")
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to answer.
	default:
		a.log().Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "the service failed to handle the request; it has been logged", "")
	}
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
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes), "")
		case errors.Is(err, io.EOF):
			writeError(w, http.StatusBadRequest, "bad_request", "the request body is empty: send a JSON object", "")
		case errors.As(err, &se):
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("the body is not valid JSON (at byte %d): %v", se.Offset, err), "")
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "the body is not valid JSON: "+err.Error(), "")
		}
		return false
	}
	// More would miss a stray '}' or ']': it answers for the inside of an array or object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad_request", "the body has data after the JSON object", "")
		return false
	}
	// A JSON null would leave v as it is, and a handler would act on an empty request.
	if len(raw) == 0 || raw[0] != '{' {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must be a JSON object", "")
		return false
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			field := te.Field
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("%s must be %s, not JSON %s", field, jsonType(te.Type.Kind().String()), te.Value), field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("unknown field %q", name), name)
		default:
			writeError(w, http.StatusBadRequest, "bad_request", "the body is not valid JSON: "+err.Error(), "")
		}
		return false
	}
	return true
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice":
		return "a list"
	case "ptr":
		return "a value of another type"
	}
	return kind
}

// pathID parses the {id} path value; a malformed id is simply not found.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "not_found", "not found", "")
		return 0, false
	}
	return id, true
}
