package app_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"orderimport/internal/access"
	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// The API reference (docs/API.md) and the OpenAPI document (docs/openapi.yaml) are checked
// against the service itself: the document is valid OpenAPI 3.1, real answers of the main
// routes match it (every object closed with additionalProperties: false, so an answer that
// gains a field or loses a required one fails), and both documents name every route the
// service registers and every message code of the catalogues.

const (
	openAPIPath = "../../docs/openapi.yaml"
	apiDocPath  = "../../docs/API.md"
	apiBase     = "/api/v1"
)

// apiOnlyCodes are the codes the API answers that have no words of their own: address_refused
// speaks through the message of address_private or address_redirect.
var apiOnlyCodes = []string{"address_refused"}

type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t *testing.T) *apiSpec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openAPIPath)
	if err != nil {
		t.Fatalf("load %s: %v", openAPIPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openAPIPath, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s says openapi %s; want 3.1", openAPIPath, doc.OpenAPI)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router over %s: %v", openAPIPath, err)
	}
	return &apiSpec{doc: doc, router: router}
}

// validate checks one exchange against the document: the answer always, the request too when
// the answer is a success (error cases send broken requests on purpose).
func (s *apiSpec) validate(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	ctx := context.Background()
	req = req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s is not in the document: %w", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("request %s %s does not match the document: %w", req.Method, req.URL, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("answer %d to %s %s does not match the document: %w", status, req.Method, req.URL, err)
	}
	return nil
}

// exchange is one request and its answer, as the service gave it.
type exchange struct {
	req     *http.Request
	reqBody []byte
	status  int
	header  http.Header
	body    []byte
}

// specClient calls the service and checks every answer against the document.
type specClient struct {
	t    *testing.T
	e    *secEnv
	spec *apiSpec
	lang string // Accept-Language; "" sends none
}

// call sends body (nil: none; string or []byte: as is; anything else: as JSON) with the owner's
// token, wants the status and a valid exchange, and returns the exchange.
func (c *specClient) call(method, path string, body any, want int) exchange {
	c.t.Helper()
	return c.callAs(c.e.token, method, path, body, want)
}

func (c *specClient) callAs(token, method, path string, body any, want int) exchange {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.e.base+apiBase+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	st, text, h := c.e.request(http.DefaultClient, req)
	if st != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, text)
	}
	x := exchange{req: req, reqBody: raw, status: st, header: h, body: []byte(text)}
	if err := c.spec.validate(x.req, x.reqBody, x.status, x.header, x.body); err != nil {
		c.t.Fatalf("%v\nbody: %s", err, text)
	}
	if st >= 400 {
		c.checkError(x)
	}
	return x
}

var cyrillic = regexp.MustCompile(`\p{Cyrillic}`)

// checkError checks an error answer's language: English without the header, Russian with it.
func (c *specClient) checkError(x exchange) {
	c.t.Helper()
	var ae struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(x.body, &ae); err != nil {
		c.t.Fatalf("error answer %s: %v", x.body, err)
	}
	if russian := cyrillic.MatchString(ae.Error.Message); russian != (c.lang == "ru") {
		c.t.Errorf("Accept-Language %q answered %q", c.lang, ae.Error.Message)
	}
}

func (c *specClient) decode(x exchange, v any) {
	c.t.Helper()
	if err := json.Unmarshal(x.body, v); err != nil {
		c.t.Fatalf("%s %s: decode %s: %v", x.req.Method, x.req.URL.Path, x.body, err)
	}
}

// gatedCRM holds RetailCRM's order requests while closed, so a run can be caught running.
type gatedCRM struct {
	mu      sync.Mutex
	hold    chan struct{}
	entered chan struct{}
}

func (g *gatedCRM) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v5/orders") {
			g.mu.Lock()
			hold, entered := g.hold, g.entered
			g.mu.Unlock()
			if hold != nil {
				select {
				case entered <- struct{}{}:
				default:
				}
				select {
				case <-hold:
				case <-r.Context().Done():
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// close starts holding order requests; the returned function lets them through again.
func (g *gatedCRM) close() (entered <-chan struct{}, open func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.entered = make(chan struct{}), make(chan struct{}, 1)
	hold := g.hold
	return g.entered, func() {
		g.mu.Lock()
		g.hold, g.entered = nil, nil
		g.mu.Unlock()
		close(hold)
	}
}

func TestOpenAPIDocumentMatchesTheService(t *testing.T) {
	spec := loadSpec(t)
	gate := &gatedCRM{}
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/api/v5/credentials", http.StatusFound)
	}))
	defer redirector.Close()
	roots := x509.NewCertPool()
	roots.AddCert(redirector.Certificate())
	e := newSecEnv(t, secOpts{allowPrivate: true, rootCAs: roots, crm: gate.wrap, emu: crmemu.Options{Seed: 11, Orders: 40,
		Currencies: map[string]string{crmemu.SiteOpt: "KZT"}}})
	// Orders whose values cannot be stored as they are: the runs and previews have issues.
	e.emu.CreateOrder(crmemu.OrderInput{Phone: "12345", Email: "not-an-email"})
	e.emu.CreateOrder(crmemu.OrderInput{Phone: "+7 (912) 345-67-89", Email: "@nowhere"})

	for _, lang := range []string{"", "ru"} {
		t.Run("lang="+lang, func(t *testing.T) {
			c := &specClient{t: t, e: e, spec: spec, lang: lang}
			last := walkAPI(c, redirector.URL, gate)
			t.Run("drift", func(t *testing.T) { checkDriftFails(t, spec, last) })
		})
	}
}

// walkAPI calls every route, in the states worth describing, and returns the exchange of a
// task whose last run has issues.
func walkAPI(c *specClient, redirector string, gate *gatedCRM) exchange {
	t, e := c.t, c.e
	lang := c.lang
	if lang == "" {
		lang = "en"
	}

	// Counters.
	var counter struct{ ID int64 }
	c.decode(c.call("POST", "/counters", map[string]any{"name": "Shop " + lang, "timezone": "Asia/Yekaterinburg"}, 201), &counter)
	c.call("POST", "/counters", map[string]any{"name": "Default zone " + lang}, 201)
	c.call("GET", "/counters", nil, 200)
	c.call("GET", fmt.Sprintf("/counters/%d", counter.ID), nil, 200)

	// Helpers for the settings form.
	c.call("GET", "/fields", nil, 200)
	c.call("POST", "/retailcrm/check", map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}, 200)
	c.call("POST", "/retailcrm/check", map[string]any{"url": e.crm, "api_key": "not-the-key"}, 422)
	c.call("POST", "/retailcrm/check", map[string]any{"url": redirector, "api_key": crmemu.DemoKey}, 422)

	// An import task: created active, its first run imports at once.
	imports := fmt.Sprintf("/counters/%d/imports", counter.ID)
	var task struct{ ID int64 }
	c.decode(c.call("POST", imports, map[string]any{"name": "Orders", "active": true, "type": "retailcrm", "frequency_hours": 1,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey, "rate_limit": 50},
		"mapping":   map[string]any{"session_id": "customFields.k50_sid", "tags": ""}, "backfill_from": "2020-01-01"}, 201), &task)
	if r := e.lastRun(task.ID); !r.ok() {
		t.Fatalf("first run: %+v", r)
	}
	taskPath := fmt.Sprintf("/imports/%d", task.ID)
	withIssues := c.call("GET", taskPath, nil, 200)
	var got struct {
		LastRun struct {
			IssuesTotal int64 `json:"issues_total"`
		} `json:"last_run"`
	}
	c.decode(withIssues, &got)
	if got.LastRun.IssuesTotal == 0 {
		t.Fatalf("the first run recorded no issue: %s", withIssues.body)
	}
	c.call("GET", imports, nil, 200)
	c.call("POST", "/retailcrm/check", map[string]any{"task_id": task.ID}, 200)

	// What counts: a task's own counting and stores, the estimate.
	c.call("PATCH", taskPath, map[string]any{"counting": map[string]any{"status_groups": []string{"complete", "delivery"},
		"exclude_statuses": []string{"delivered"}}}, 200)
	c.call("PATCH", taskPath, map[string]any{"counting": map[string]any{}, "backfill_to": "2100-01-01"}, 200)
	c.call("POST", "/imports/estimate", map[string]any{"task_id": task.ID, "backfill_from": "2020-01-01", "sites": []string{crmemu.SiteMain}}, 200)
	c.call("POST", "/imports/estimate", map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey, "rate_limit": 2}}, 200)
	c.call("POST", "/imports/estimate", map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": "not-the-key"}}, 422)
	c.call("PATCH", taskPath, map[string]any{"counting": map[string]any{"status_groups": []string{"paid"}}, "sites": []string{"nowhere"},
		"backfill_from": "2026-02-01", "backfill_to": "2026-01-01"}, 422)
	c.call("PATCH", taskPath, map[string]any{"counting": map[string]any{"status_groups": []string{"paid"}}, "sites": []string{"nowhere"}}, 422)

	// Preview: as the task maps, and with a mapping that rejects every order.
	c.call("POST", "/imports/preview", map[string]any{"counter_id": counter.ID, "task_id": task.ID, "limit": 5}, 200)
	c.call("POST", "/imports/preview", map[string]any{"counter_id": counter.ID, "limit": 3,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey},
		"mapping":   map[string]any{"order_date": "customerComment", "profit": nil}}, 200)

	// Runs: one caught running (a re-sync then conflicts), then a re-sync.
	entered, open := gate.close()
	var run struct{ ID int64 }
	c.decode(c.call("POST", taskPath+"/runs", nil, 202), &run)
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		open()
		t.Fatal("the run never asked RetailCRM for orders")
	}
	c.call("GET", fmt.Sprintf("/runs/%d", run.ID), nil, 200)
	c.call("POST", taskPath+"/resync", nil, 409)
	open()
	if r := e.waitRun(run.ID); !r.ok() {
		t.Fatalf("run: %+v", r)
	}
	c.decode(c.call("POST", taskPath+"/resync", nil, 202), &run)
	e.waitRun(run.ID)
	c.call("GET", taskPath+"/runs", nil, 200)
	c.call("GET", fmt.Sprintf("/runs/%d", run.ID), nil, 200)

	// A task whose key RetailCRM revoked: a failed run, a task that needs attention.
	key := "revoked-" + lang
	e.emu.SetKey(key, crmemu.FullAccess())
	var parked struct{ ID int64 }
	c.decode(c.call("POST", imports, map[string]any{"name": "Parked", "active": false,
		"retailcrm": map[string]any{"url": e.crm, "api_key": key}}, 201), &parked)
	e.emu.RemoveKey(key)
	c.decode(c.call("POST", fmt.Sprintf("/imports/%d/runs", parked.ID), nil, 202), &run)
	if r := e.waitRun(run.ID); r.Status != "failed" {
		t.Fatalf("run with a revoked key: %+v", r)
	}
	c.call("GET", fmt.Sprintf("/runs/%d", run.ID), nil, 200)
	c.call("GET", fmt.Sprintf("/imports/%d", parked.ID), nil, 200)

	// Orders: JSON pages, a summary, the CSV file.
	orders := fmt.Sprintf("/counters/%d/orders", counter.ID)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	c.decode(c.call("GET", orders+"?limit=5&from=2020-01-01&include_deleted=true", nil, 200), &page)
	if page.NextCursor == "" {
		t.Fatal("the first page of 5 orders has no next_cursor")
	}
	c.call("GET", orders+"?format=json&limit=1000&cursor="+page.NextCursor, nil, 200)
	c.call("GET", fmt.Sprintf("%s?import_id=%d&q=%s", orders, task.ID, "nobody@example.com"), nil, 200)
	csvx := c.call("GET", orders+"?format=csv&to=2100-01-01", nil, 200)
	if ct := csvx.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("CSV export: Content-Type %q", ct)
	}
	c.call("GET", orders+"/summary?from=2020-01-01", nil, 200)
	c.call("GET", orders+"/summary?counted=true&group_by=utm_source&sort=orders", nil, 200)
	c.call("GET", orders+"?counted=false&limit=3", nil, 200)
	c.call("GET", orders+"/summary?group_by=utm_term", nil, 400)

	// Order memory: an order's timeline, the task's contacts and retention, its mapping
	// versions, a restore, and one of a version today's rules refuse.
	var listed struct {
		Orders []struct {
			OrderID string `json:"order_id"`
		} `json:"orders"`
	}
	c.decode(c.call("GET", orders+"?limit=1", nil, 200), &listed)
	if len(listed.Orders) == 0 {
		t.Fatal("no order to read the timeline of")
	}
	c.call("GET", orders+"/"+url.PathEscape(listed.Orders[0].OrderID)+"/timeline", nil, 200)
	c.call("GET", orders+"/no-such-order/timeline", nil, 404)
	c.call("PATCH", taskPath, map[string]any{"pii": "hash", "orders_retention_days": 365}, 200)
	c.call("PATCH", taskPath, map[string]any{"pii": "sha1", "orders_retention_days": 0}, 422)
	c.call("PATCH", taskPath, map[string]any{"mapping": map[string]any{"comment": "customerComment + \" !\""}, "orders_retention_days": nil}, 200)
	c.call("GET", taskPath+"/mappings", nil, 200)
	c.call("POST", taskPath+"/mappings/1/restore", nil, 200)
	c.call("POST", taskPath+"/mappings/999/restore", nil, 404)
	err := e.app.Store.InTx(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `INSERT INTO mapping_versions (account_id, task_id, version, mapping, created_at, created_by_id, created_by)
			VALUES ($1, $2, 1000, $3, $4, 0, '')`, e.acc, task.ID, `{"revenue_net":"totalSumm"}`, time.Now().UTC())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.call("POST", taskPath+"/mappings/1000/restore", nil, 422)

	// Changing and deleting a task.
	c.call("PATCH", taskPath, map[string]any{"name": "Orders, hourly", "frequency_hours": 3, "active": false}, 200)
	c.call("PATCH", fmt.Sprintf("/imports/%d", parked.ID), map[string]any{"retailcrm": map[string]any{"api_key": crmemu.DemoKey}}, 200)
	c.call("DELETE", fmt.Sprintf("/imports/%d", parked.ID), nil, 204)
	c.call("GET", fmt.Sprintf("/imports/%d", parked.ID), nil, 404)

	// The audit log, two pages.
	var audit struct {
		NextBefore int64 `json:"next_before"`
	}
	c.decode(c.call("GET", "/audit?limit=2", nil, 200), &audit)
	c.call("GET", fmt.Sprintf("/audit?before=%d", audit.NextBefore), nil, 200)

	// The changes feed, a webhook with its test and log, the trigger, alerts.
	var changes struct {
		Next string `json:"next"`
	}
	feed := fmt.Sprintf("/counters/%d/orders/changes", counter.ID)
	c.decode(c.call("GET", feed+"?limit=3", nil, 200), &changes)
	c.call("GET", feed+"?limit=1000&after="+changes.Next, nil, 200)
	c.call("GET", feed+"?after=garbage", nil, 400)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	var hook struct{ ID int64 }
	c.decode(c.call("POST", fmt.Sprintf("/counters/%d/webhooks", counter.ID), map[string]any{"url": receiver.URL + "/orders"}, 201), &hook)
	var down struct{ ID int64 }
	c.decode(c.call("POST", fmt.Sprintf("/counters/%d/webhooks", counter.ID), map[string]any{"url": receiver.URL + "/down"}, 201), &down)
	c.call("POST", fmt.Sprintf("/counters/%d/webhooks", counter.ID), map[string]any{"url": "ftp://example.com/x"}, 422)
	c.call("GET", fmt.Sprintf("/counters/%d/webhooks", counter.ID), nil, 200)
	c.call("POST", fmt.Sprintf("/webhooks/%d/test", hook.ID), nil, 200)
	c.call("POST", fmt.Sprintf("/webhooks/%d/test", down.ID), nil, 200)
	c.call("GET", fmt.Sprintf("/webhooks/%d/deliveries?limit=1", down.ID), nil, 200)
	c.call("GET", fmt.Sprintf("/webhooks/%d/deliveries", hook.ID), nil, 200)
	c.call("GET", fmt.Sprintf("/webhooks/%d/deliveries?before=x", hook.ID), nil, 400)
	c.call("POST", fmt.Sprintf("/webhooks/%d/enable", hook.ID), nil, 200)
	c.call("GET", fmt.Sprintf("/webhooks/%d", hook.ID), nil, 200)
	c.call("DELETE", fmt.Sprintf("/webhooks/%d", down.ID), nil, 204)
	c.call("POST", taskPath+"/trigger/rotate", nil, 200)
	var ch struct{ ID int64 }
	c.decode(c.call("POST", "/alerts/channels", map[string]any{"type": "webhook", "url": receiver.URL + "/alerts", "language": "en"}, 201), &ch)
	c.call("POST", "/alerts/channels", map[string]any{"type": "email", "address": "ops@example.com"}, 422)
	c.call("POST", "/alerts/channels", map[string]any{"type": "pager"}, 422)
	c.call("GET", "/alerts/channels", nil, 200)
	c.call("POST", fmt.Sprintf("/alerts/channels/%d/test", ch.ID), nil, 200)
	c.call("GET", "/alerts/incidents", nil, 200)
	c.call("DELETE", fmt.Sprintf("/alerts/channels/%d", ch.ID), nil, 204)

	// The account's users, and a viewer's token refused what its role may not do.
	c.call("GET", "/users", nil, 200)
	var invited struct{ ID int64 }
	c.decode(c.call("POST", "/users", map[string]any{"email": "viewer-" + lang + "@example.com", "role": "viewer"}, 201), &invited)
	c.call("POST", "/users", map[string]any{"email": "editor-" + lang + "@example.com"}, 201)
	c.call("POST", "/users", map[string]any{"email": ownerEmail}, 409)
	c.call("POST", "/users", map[string]any{"email": "nobody", "role": "admin"}, 422)
	c.call("PATCH", fmt.Sprintf("/users/%d", invited.ID), map[string]any{"role": "editor"}, 200)
	c.call("PATCH", fmt.Sprintf("/users/%d", e.user), map[string]any{"role": "viewer"}, 409)
	c.call("PATCH", "/users/999999", map[string]any{"role": "viewer"}, 404)
	c.call("DELETE", fmt.Sprintf("/users/%d", invited.ID), nil, 204)
	viewer, _, err := e.app.Store.AddUserWithRole(t.Context(), "reader-"+lang+"@example.com", ownerPassword, "Shop", true, access.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	viewerToken, _, _ := e.app.Store.CreateToken(t.Context(), viewer.ID)
	c.callAs(viewerToken, "POST", "/counters", map[string]any{"name": "Not mine to make"}, 403)
	c.callAs(viewerToken, "GET", "/audit", nil, 403)
	c.callAs(viewerToken, "GET", "/users", nil, 403)
	c.callAs(viewerToken, "GET", "/counters", nil, 200)
	c.callAs(viewerToken, "POST", fmt.Sprintf("/counters/%d/webhooks", counter.ID), map[string]any{"url": receiver.URL + "/viewer"}, 403)
	c.callAs(viewerToken, "POST", "/alerts/channels", map[string]any{"type": "webhook", "url": receiver.URL + "/viewer"}, 403)
	c.callAs(viewerToken, "POST", taskPath+"/trigger/rotate", nil, 403)
	c.callAs(viewerToken, "GET", feed, nil, 200)

	// Errors.
	c.call("POST", "/counters", `{"name": `, 400)
	c.call("POST", "/counters", `{"nmae": "Shop"}`, 400)
	c.call("GET", orders+"?from=01.02.2026", nil, 400)
	c.call("GET", "/audit?limit=0", nil, 400)
	c.callAs("", "GET", "/counters", nil, 401)
	c.callAs("not-a-token", "GET", "/counters", nil, 401)
	c.call("GET", "/counters/999999", nil, 404)
	c.call("GET", "/runs/999999", nil, 404)
	c.call("POST", "/counters", `{"name": "`+strings.Repeat("a", 1<<20)+`"}`, 413)
	c.call("POST", "/counters", map[string]any{"name": " "}, 422)
	several := c.call("POST", imports, map[string]any{"name": "", "type": "amocrm", "frequency_hours": 0,
		"retailcrm": map[string]any{"url": "ftp://shop.retailcrm.ru", "api_key": "k", "rate_limit": 500},
		"mapping":   map[string]any{"profit": "totalSumm -", "order_id": ""}, "backfill_from": "yesterday"}, 422)
	var inv struct {
		Error struct {
			Fields []struct{ Field, Code string } `json:"fields"`
		} `json:"error"`
	}
	c.decode(several, &inv)
	if len(inv.Error.Fields) < 7 {
		t.Errorf("an import with seven invalid fields: %s", several.body)
	}
	c.call("POST", imports, map[string]any{"name": "x", "retailcrm": map[string]any{"url": e.crm, "api_key": "wrong"}}, 422)
	c.call("POST", "/imports/preview", map[string]any{"limit": 500}, 422)

	// A path the API does not have answers the same envelope.
	st, text, _ := e.request(http.DefaultClient, authorized(e, "GET", "/api/v1/nothing-here", lang))
	if st != 404 {
		t.Fatalf("unknown endpoint: %d %s", st, text)
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	if err := c.spec.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("unknown endpoint: %s: %v", text, err)
	}
	return withIssues
}

func authorized(e *secEnv, method, path, lang string) *http.Request {
	req, _ := http.NewRequest(method, e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Accept-Language", lang)
	return req
}

// checkDriftFails proves the document catches drift: a real answer that gains a field, or
// loses a required one, at the top or inside a nested object, no longer validates.
func checkDriftFails(t *testing.T, spec *apiSpec, x exchange) {
	if err := spec.validate(x.req, x.reqBody, x.status, x.header, x.body); err != nil {
		t.Fatalf("the unchanged answer: %v", err)
	}
	edits := map[string]func(task map[string]any){
		"a new top-level field":       func(task map[string]any) { task["undocumented"] = 1 },
		"a required field gone":       func(task map[string]any) { delete(task, "status_code") },
		"a new field in a run":        func(task map[string]any) { task["last_run"].(map[string]any)["undocumented"] = "x" },
		"a new field in an issue":     func(task map[string]any) { issue0(task)["undocumented"] = true },
		"a required issue field gone": func(task map[string]any) { delete(issue0(task), "order_number") },
		"an unknown message code":     func(task map[string]any) { issue0(task)["code"] = "no_such_code" },
		"a status outside the enum":   func(task map[string]any) { task["status"] = "sleeping" },
	}
	for name, edit := range edits {
		var task map[string]any
		if err := json.Unmarshal(x.body, &task); err != nil {
			t.Fatal(err)
		}
		edit(task)
		body, _ := json.Marshal(task)
		if err := spec.validate(x.req, x.reqBody, x.status, x.header, body); err == nil {
			t.Errorf("%s: the changed answer still validates: %s", name, body)
		}
	}
}

func issue0(task map[string]any) map[string]any {
	return task["last_run"].(map[string]any)["issues"].([]any)[0].(map[string]any)
}

// TestAPIDocsNameEveryRouteAndCode: every route the service registers under /api/ is in
// docs/API.md and docs/openapi.yaml (and neither document has a route the service lacks);
// every message code of the catalogues is in API.md's table of codes and in the document's
// MessageCode enum (and neither has a code that does not exist).
func TestAPIDocsNameEveryRouteAndCode(t *testing.T) {
	spec := loadSpec(t)
	md, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}

	params := regexp.MustCompile(`\{[^}]*\}`)
	norm := func(method, path string) string { return method + " " + params.ReplaceAllString(path, "{}") }
	var routes []string
	for _, p := range serviceRoutes(t) {
		method, path, ok := strings.Cut(p, " ")
		if ok && strings.HasPrefix(path, "/api/") {
			routes = append(routes, norm(method, path))
		}
	}
	if len(routes) == 0 {
		t.Fatal("the service registers no API route")
	}
	var inSpec []string
	for path, item := range spec.doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec = append(inSpec, norm(method, apiBase+path))
		}
	}
	heading := regexp.MustCompile("(?m)^### `(GET|POST|PUT|PATCH|DELETE) (/api/\\S+)`")
	var inMD []string
	for _, m := range heading.FindAllStringSubmatch(string(md), -1) {
		inMD = append(inMD, norm(m[1], m[2]))
	}
	sameSet(t, "routes", routes, map[string][]string{"docs/openapi.yaml": inSpec, "docs/API.md (### `METHOD /api/…` headings)": inMD})

	codes := slices.Clone(apiOnlyCodes)
	for _, lang := range locale.Languages {
		for _, k := range locale.For(lang).Keys() {
			if code, ok := strings.CutPrefix(k, "msg."); ok && !slices.Contains(codes, code) {
				codes = append(codes, code)
			}
		}
	}
	var enum []string
	for _, v := range spec.doc.Components.Schemas["MessageCode"].Value.Enum {
		enum = append(enum, fmt.Sprint(v))
	}
	section := string(md)
	if i := strings.Index(section, "\n## Message codes"); i >= 0 {
		section = section[i+1:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
	} else {
		t.Fatal("docs/API.md has no section \"## Message codes\"")
	}
	var inTable []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|").FindAllStringSubmatch(section, -1) {
		inTable = append(inTable, m[1])
	}
	sameSet(t, "message codes", codes, map[string][]string{"docs/openapi.yaml (MessageCode enum)": enum, "docs/API.md (table of message codes)": inTable})
}

// serviceRoutes are the patterns the assembled service registers; nothing is started.
func serviceRoutes(t *testing.T) []string {
	t.Helper()
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "routes.db")}}
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler), app.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return a.Routes()
}

// sameSet reports what each document misses of want, and what it has that want does not.
func sameSet(t *testing.T, what string, want []string, docs map[string][]string) {
	t.Helper()
	for doc, got := range docs {
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: %s of the service is missing", doc, w)
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				t.Errorf("%s: %s is not among the service's %s", doc, g, what)
			}
		}
		if dup := duplicates(got); len(dup) > 0 {
			t.Errorf("%s: listed twice: %v", doc, dup)
		}
	}
}

func duplicates(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if seen[s] {
			out = append(out, s)
		}
		seen[s] = true
	}
	return out
}
