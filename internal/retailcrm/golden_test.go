package retailcrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"orderimport/internal/crmfixture"
)

// Golden decoding tests: real RetailCRM payloads (crmfixture, whose README says where each comes
// from) are served over HTTP and the decoded values are asserted.

func TestGoldenCredentials(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, routes(map[string]answer{
		"/api/credentials": ok(crmfixture.Read(t, "credentials.php-sdk.testCredentials.json")),
	}))
	cr, err := c.Credentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"order_read", "customer_read", "reference_read"}; !slices.Equal(cr.Scopes, want) {
		t.Errorf("Scopes = %q, want %q", cr.Scopes, want)
	}
	if cr.SiteAccess != "access_full" || cr.Selective() || cr.SitesAvailable != nil {
		t.Errorf("SiteAccess = %q, SitesAvailable = %q", cr.SiteAccess, cr.SitesAvailable)
	}
	if want := []string{"/api/integration-modules/{code}", "/api/integration-modules/{code}/edit"}; !slices.Equal(cr.Credentials, want) {
		t.Errorf("Credentials = %q", cr.Credentials)
	}
	if !cr.Can("order_read") || cr.Can("order_write") {
		t.Error("Can: order_read should be granted, order_write not")
	}
	if err := cr.Require("order_read", "reference_read"); err != nil {
		t.Errorf("Require(granted scopes) = %v", err)
	}
	err = cr.Require("order_read", "custom_fields_read")
	if !IsKind(err, KindAccessDenied) || !KindAccessDenied.Permanent() ||
		!strings.Contains(err.Error(), `"custom_fields_read"`) || strings.Contains(err.Error(), `"order_read"`) {
		t.Errorf("Require(missing scope) = %v", err)
	}
}

func TestGoldenSettings(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, routes(map[string]answer{
		"/api/v5/settings": ok(crmfixture.Read(t, "settings.php-sdk.testGet.json")),
	}))
	s, err := c.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Settings{Timezone: "Europe/Moscow", TimezoneSetAt: "2021-02-08 08:29:40", DefaultCurrency: "RUB", SystemLanguage: "RU"}); *s != want {
		t.Errorf("Settings = %+v, want %+v", *s, want)
	}
}

func TestGoldenSites(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, routes(map[string]answer{
		"/api/v5/reference/sites": ok(crmfixture.Read(t, "reference-sites.php-sdk.testSites.json")),
	}))
	sites, err := c.Sites(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Site{
		{ID: 100, Code: "test", Name: "test", URL: "https://example.com", Currency: "RUB", CountryIso: "RU", Ordering: 989},
		{ID: 101, Code: "test-ru", Name: "Test Shop", URL: "https://example.com/2", Currency: "RUB", CountryIso: "RU", Ordering: 990},
	}
	if !reflect.DeepEqual(sites, want) {
		t.Errorf("Sites = %+v\nwant %+v", sites, want)
	}
}

func TestGoldenStatuses(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, routes(map[string]answer{
		"/api/v5/reference/statuses": ok(crmfixture.Read(t, "reference-statuses.php-sdk.testStatuses.json")),
	}))
	st, err := c.Statuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 39 {
		t.Fatalf("%d statuses, want 39", len(st))
	}
	var codes []string
	for _, s := range st[:8] {
		codes = append(codes, s.Code)
	}
	wantFirst := []string{"availability-confirmed", "complete", "new", "no-call", "send-to-assembling", "send-to-delivery", "assembling", "delivering"}
	if !slices.Equal(codes, wantFirst) {
		t.Errorf("first codes by ordering = %q, want %q", codes, wantFirst)
	}
	byCode := map[string]Status{}
	for _, s := range st {
		byCode[s.Code] = s
	}
	for _, want := range []Status{
		{Code: "delivered", Name: "Доставлен", Group: "delivery", Active: true, Ordering: 40},
		{Code: "3", Name: "3", Group: "complete", Active: true, Ordering: 990},
		{Code: "dict-statuses-1571123798", Name: "Bbbdict-statuses-1571123798", Group: "new", Active: false, Ordering: 990},
		{Code: "cancel-other", Name: "Отменен", Group: "cancel", Active: true, Ordering: 60},
	} {
		if got := byCode[want.Code]; got != want {
			t.Errorf("status %s = %+v, want %+v", want.Code, got, want)
		}
	}
}

func TestGoldenStatusGroups(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, routes(map[string]answer{
		"/api/v5/reference/status-groups": ok(crmfixture.Read(t, "reference-status-groups.php-sdk.testStatusGroups.json")),
	}))
	gs, err := c.StatusGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, g := range gs {
		codes = append(codes, g.Code)
	}
	if want := []string{"new", "approval", "assembling", "delivery", "complete", "cancel"}; !slices.Equal(codes, want) {
		t.Fatalf("groups = %q, want %q", codes, want)
	}
	want := StatusGroup{Code: "complete", Name: "Выполнен", Active: true, Process: false, Ordering: 50, Statuses: []string{"complete", "3"}}
	if !reflect.DeepEqual(gs[4], want) {
		t.Errorf("complete group = %+v, want %+v", gs[4], want)
	}
	if !gs[1].Process || gs[1].Name != "Согласование" || len(gs[1].Statuses) != 4 || len(gs[0].Statuses) != 17 || len(gs[5].Statuses) != 8 {
		t.Errorf("approval = %+v; new has %d statuses, cancel %d", gs[1], len(gs[0].Statuses), len(gs[5].Statuses))
	}
}

func TestGoldenCustomFields(t *testing.T) {
	t.Parallel()
	c, rec := newTestClient(t, routes(map[string]answer{
		"/api/v5/custom-fields": ok(crmfixture.Read(t, "custom-fields-list.php-sdk.testList.json")),
	}))
	fs, err := c.CustomFields(context.Background(), "order")
	if err != nil {
		t.Fatal(err)
	}
	want := []CustomField{
		{Code: "bonus", Name: "бонус", Type: "string", Entity: "order", Ordering: 50},
		{Code: "multi-dictionary", Name: "мультисправочник", Type: "multiselect_dictionary", Entity: "order", Dictionary: "test_dictionary", Ordering: 50},
		{Code: "dictionary", Name: "справочник", Type: "dictionary", Entity: "order", Dictionary: "test_dictionary", Ordering: 50},
	}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("CustomFields = %+v\nwant %+v", fs, want)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests for a one-page list", len(reqs))
	}
	q := reqs[0].URL.Query()
	if q.Get("filter[entity]") != "order" || q.Get("limit") != "100" || q.Get("page") != "1" {
		t.Errorf("query = %v", q)
	}
}

// rawOrders is the oracle for byte-exact Raw: encoding/json's RawMessage keeps the bytes as sent.
func rawOrders(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	var env struct{ Orders []json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	return env.Orders
}

func TestGoldenOrdersList(t *testing.T) {
	t.Parallel()
	body := crmfixture.Read(t, "orders-list.php-sdk.testList.json")
	c, _ := newTestClient(t, routes(map[string]answer{"/api/v5/orders": ok(body)}))
	p, err := c.Orders(context.Background(), OrdersFilter{IDs: []int64{7141}}, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Pagination{Limit: 20, TotalCount: 1, CurrentPage: 1, TotalPageCount: 1}); p.Pagination != want {
		t.Errorf("Pagination = %+v, want %+v", p.Pagination, want)
	}
	if len(p.Orders) != 1 {
		t.Fatalf("%d orders, want 1", len(p.Orders))
	}
	o := p.Orders[0]
	checkOrder(t, o, Order{ID: 7141, Number: "7141C", Site: "moysklad", Status: "assembling", CreatedAt: "2021-02-25 09:37:48", Currency: "RUB",
		PurchaseSumm: "60"})
	if want := rawOrders(t, body)[0]; !bytes.Equal(o.Raw, want) {
		t.Errorf("Raw differs from the bytes sent (%d vs %d bytes)", len(o.Raw), len(want))
	}
	// Raw keeps the PHP quirks for the mapping: payments {} and item properties [].
	var m map[string]any
	if err := json.Unmarshal(o.Raw, &m); err != nil {
		t.Fatal(err)
	}
	if _, isMap := m["payments"].(map[string]any); !isMap {
		t.Errorf("payments = %#v", m["payments"])
	}
	cf := m["customFields"].(map[string]any)
	if cf["dictionary"] != "test2" || !reflect.DeepEqual(cf["multiselect"], []any{"test1", "test3"}) || cf["galka"] != false {
		t.Errorf("customFields = %v", cf)
	}
}

func checkOrder(t *testing.T, got, want Order) {
	t.Helper()
	checkMembers(t, &got)
	got.Raw, want.Raw = nil, nil
	got.members, got.laidOut = nil, false
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order = %+v, want %+v", got, want)
	}
}

// TestGoldenDemoOrders wraps the two demo-account order objects (saved without their envelope) in
// a hand-built list envelope; each object must come back byte for byte.
func TestGoldenDemoOrders(t *testing.T) {
	t.Parallel()
	o53 := bytes.TrimSpace(crmfixture.Read(t, "order-object.demo-account.order-53.json"))
	o73 := bytes.TrimSpace(crmfixture.Read(t, "order-object.demo-account.order-73.json"))
	body := slices.Concat([]byte(`{"success":true,"pagination":{"limit":20,"totalCount":2,"currentPage":1,"totalPageCount":1},"orders":[`),
		o53, []byte(",\n"), o73, []byte("]}"))
	c, _ := newTestClient(t, routes(map[string]answer{"/api/v5/orders": ok(body)}))
	p, err := c.Orders(context.Background(), OrdersFilter{}, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Orders) != 2 {
		t.Fatalf("%d orders", len(p.Orders))
	}
	// Neither names its currency (older payloads); order 53 has a source.
	checkOrder(t, p.Orders[0], Order{ID: 53, Number: "53C", ExternalID: "53", Site: "demo-magazin", Status: "no-call", CreatedAt: "2022-01-08 14:43:25",
		PurchaseSumm: "25073", Source: OrderSource{Source: "e.mail.ru", Medium: "cpc", Campaign: "landing_02", Content: "offline ads"}})
	// Order 73 has neither site nor externalId.
	checkOrder(t, p.Orders[1], Order{ID: 73, Number: "73C", Status: "prepayed", CreatedAt: "2022-01-17 20:06:32", PurchaseSumm: "1572"})
	if !bytes.Equal(p.Orders[0].Raw, o53) || !bytes.Equal(p.Orders[1].Raw, o73) {
		t.Error("Raw differs from the order objects")
	}
}

func TestGoldenHistory(t *testing.T) {
	t.Parallel()
	body := crmfixture.Read(t, "orders-history.php-sdk.testHistory.json")
	c, rec := newTestClient(t, routes(map[string]answer{"/api/v5/orders/history": ok(body)}))
	p, err := c.History(context.Background(), HistoryFilter{SinceID: 2691}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if q := rec.requests()[0].URL.Query(); q.Get("filter[sinceId]") != "2691" || q.Get("limit") != "100" || q.Has("page") {
		t.Errorf("query = %v", q)
	}
	if p.GeneratedAt != "2021-02-25 20:41:40" {
		t.Errorf("GeneratedAt = %q", p.GeneratedAt)
	}
	if want := (Pagination{Limit: 100, TotalCount: 29733, CurrentPage: 1, TotalPageCount: 298}); p.Pagination != want {
		t.Errorf("Pagination = %+v", p.Pagination)
	}
	h := p.History
	if len(h) != 100 || h[0].ID != 7038 || h[99].ID != 7137 {
		t.Fatalf("%d entries, ids %d…%d; want 100, 7038…7137", len(h), h[0].ID, h[len(h)-1].ID)
	}
	first := h[0]
	if !first.Created || first.Deleted || first.Source != "api" || first.Field != "status" || first.APIKeyCurrent ||
		first.CreatedAt != "2018-10-02 13:30:06" || string(first.OldValue) != "null" ||
		string(first.NewValue) != "{\n        \"code\": \"new\"\n      }" {
		t.Errorf("first entry = %+v (old %s new %s)", first, first.OldValue, first.NewValue)
	}
	checkOrder(t, *first.Order, Order{ID: 2031, Number: "14", ExternalID: "14", Site: "BitrixMod", Status: "new", CreatedAt: "2018-10-02 13:00:43",
		PurchaseSumm: "0"})
	last := h[99]
	if last.Created || last.Source != "code" || last.Field != "manager" || string(last.OldValue) != "null" {
		t.Errorf("last entry = %+v", last)
	}
	checkOrder(t, *last.Order, Order{ID: 2045, ExternalID: "30", Site: "BitrixMod", Status: "new"})
	if string(last.Order.Raw) != "{\n        \"id\": 2045,\n        \"externalId\": \"30\",\n        \"managerId\": 23,\n        \"site\": \"BitrixMod\",\n        \"status\": \"new\"\n      }" {
		t.Errorf("stub Raw = %s", last.Order.Raw)
	}

	var created, deleted, users, items, payments int
	byID := map[int64]HistoryEntry{}
	for _, e := range h {
		byID[e.ID] = e
		if e.Created {
			created++
		}
		if e.Deleted {
			deleted++
		}
		if e.UserID != 0 {
			users++
		}
		if e.Item != nil {
			items++
		}
		if e.Payment != nil {
			payments++
		}
		if e.Order == nil || e.Order.ID == 0 || len(e.Order.Raw) == 0 {
			t.Errorf("entry %d has no order", e.ID)
		}
	}
	if created != 23 || deleted != 0 || users != 48 || items != 12 || payments != 18 {
		t.Errorf("created %d deleted %d user %d item %d payment %d; want 23 0 48 12 18", created, deleted, users, items, payments)
	}
	if e := byID[7041]; e.UserID != 19 {
		t.Errorf("entry 7041 user = %d, want 19", e.UserID)
	}
	// oldValue / newValue keep every scalar shape as sent.
	for id, want := range map[int64][2]string{
		7054: {`"2018-10-04 14:21:36"`, ""},
		7081: {`9522`, `30470.4`},
		7079: {`0`, `1904.4`},
		7101: {`false`, ""},
	} {
		e := byID[id]
		if string(e.OldValue) != want[0] || (want[1] != "" && string(e.NewValue) != want[1]) {
			t.Errorf("entry %d: old %s new %s, want %s %s", id, e.OldValue, e.NewValue, want[0], want[1])
		}
	}

	// Every order object, full or stub, round-trips byte for byte.
	var env struct {
		History []struct{ Order json.RawMessage }
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	for i, e := range env.History {
		if !bytes.Equal(h[i].Order.Raw, e.Order) {
			t.Errorf("entry %d: order Raw differs from the bytes sent", h[i].ID)
		}
	}
}

func TestGoldenErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		status  int
		kind    ErrorKind
		message string
		errors  map[string]string
		code    string
		detail  string
	}{
		{
			file: "error-403-wrong-apikey.credentials.go-sdk.json", status: http.StatusForbidden,
			kind: KindInvalidKey, message: `Wrong "apiKey" value`,
			code: "crm_invalid_key", detail: `Wrong "apiKey" value`,
		},
		{
			file: "error-400-validation.orders-history.go-sdk.json", status: http.StatusBadRequest,
			kind: KindValidation, message: "Errors in the input parameters",
			errors: map[string]string{"children[startDate]": "Значение недопустимо."},
			code:   "crm_validation", detail: "Errors in the input parameters; children[startDate]: Значение недопустимо.",
		},
		{
			file: "error-errors-as-array.go-sdk.json", status: http.StatusBadRequest,
			kind: KindValidation, message: "Failed to activate module",
			errors: map[string]string{"0": "Your account has insufficient funds to activate integration module", "1": "Test error"},
			code:   "crm_validation", detail: "Failed to activate module; Your account has insufficient funds to activate integration module; Test error",
		},
		{
			file: "rate-limit-503.go-sdk-mock.json", status: http.StatusServiceUnavailable,
			kind: KindRateLimited, message: "Rate limit exceeded",
			code: "crm_rate_limited", detail: "Rate limit exceeded",
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, routes(map[string]answer{
				"/api/credentials": {status: tc.status, body: crmfixture.Read(t, tc.file)},
			}), func(cfg *Config) { cfg.MaxAttempts = 1 })
			_, err := c.Credentials(context.Background())
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != tc.kind || e.Status != tc.status || e.Message != tc.message || !reflect.DeepEqual(e.Errors, tc.errors) {
				t.Errorf("got %s %d %q %v, want %s %d %q %v", e.Kind, e.Status, e.Message, e.Errors, tc.kind, tc.status, tc.message, tc.errors)
			}
			if m := e.Msg(); m.Code != tc.code || m.Detail != tc.detail {
				t.Errorf("Msg() = %+v, want code %s, detail %q", m, tc.code, tc.detail)
			}
			if e.Endpoint != "GET /api/credentials" {
				t.Errorf("Endpoint = %q", e.Endpoint)
			}
			if n := len(rec.requests()); n != 1 {
				t.Errorf("%d requests with MaxAttempts 1", n)
			}
		})
	}
}
