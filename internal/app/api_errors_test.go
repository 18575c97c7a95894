package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"orderimport/internal/crmemu"
)

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

func (e *env) raw(method, path, body, token string) (int, string) {
	e.t.Helper()
	return e.rawLang(method, path, body, token, "")
}

// rawLang is raw with an Accept-Language header (none when lang is "").
func (e *env) rawLang(method, path, body, token, lang string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIErrors(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 3, Orders: 30})
	var counter struct{ ID int64 }
	if st := e.do("POST", "/api/v1/counters", map[string]any{"name": "Shop"}, &counter); st != 201 {
		t.Fatalf("create counter: %d", st)
	}
	imports := fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID)
	good := func(over map[string]any) map[string]any {
		m := map[string]any{"name": "Заказы", "retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   any // string = raw body
		status int
		field  string
		code   string
		msg    string // English words the message must have ("" any)
	}{
		{"bad json", "POST", "/api/v1/counters", `{"name": `, 400, "", "json_invalid", "not valid JSON"},
		{"empty body", "POST", "/api/v1/counters", ``, 400, "", "body_empty", "empty"},
		{"unknown field", "POST", "/api/v1/counters", `{"nmae": "x"}`, 400, "nmae", "field_unknown", "nmae"},
		{"wrong type", "POST", "/api/v1/counters", `{"name": 5}`, 400, "name", "field_type", "must be text, not a number"},
		{"counter name missing", "POST", "/api/v1/counters", map[string]any{}, 422, "name", "counter_name_required", "name"},
		{"bad timezone", "POST", "/api/v1/counters", map[string]any{"name": "x", "timezone": "Mars/Base"}, 422, "timezone", "timezone_invalid", "IANA"},
		{"task name missing", "POST", imports, good(map[string]any{"name": ""}), 422, "name", "task_name_required", "name"},
		{"task name too long", "POST", imports, good(map[string]any{"name": strings.Repeat("я", 201)}), 422, "name", "name_too_long", "200"},
		{"frequency zero", "POST", imports, good(map[string]any{"frequency_hours": 0}), 422, "frequency_hours", "frequency_invalid", "1 to 168"},
		{"frequency too big", "POST", imports, good(map[string]any{"frequency_hours": 169}), 422, "frequency_hours", "frequency_invalid", "1 to 168"},
		{"frequency fractional", "POST", imports, `{"name":"x","frequency_hours":1.5,"retailcrm":{"url":"` + e.crm + `","api_key":"k"}}`, 400, "frequency_hours", "field_type", "number"},
		{"type unknown", "POST", imports, good(map[string]any{"type": "amocrm"}), 422, "type", "type_unsupported", "not a supported"},
		{"retailcrm missing", "POST", imports, map[string]any{"name": "x"}, 422, "retailcrm.url", "url_required", "address"},
		{"url missing", "POST", imports, good(map[string]any{"retailcrm": map[string]any{"api_key": "k"}}), 422, "retailcrm.url", "url_required", "address"},
		{"url ftp", "POST", imports, good(map[string]any{"retailcrm": map[string]any{"url": "ftp://shop.retailcrm.ru", "api_key": "k"}}), 422, "retailcrm.url", "url_scheme", ""},
		{"key missing", "POST", imports, good(map[string]any{"retailcrm": map[string]any{"url": e.crm}}), 422, "retailcrm.api_key", "api_key_required", "API access keys"},
		{"wrong key", "POST", imports, good(map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": "not-the-key"}}), 422, "retailcrm.api_key", "crm_invalid_key", "rejected the API key"},
		{"rate limit", "POST", imports, good(map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey, "rate_limit": 0}}), 422, "retailcrm.rate_limit", "rate_limit_invalid", ""},
		{"backfill date", "POST", imports, good(map[string]any{"backfill_from": "01.02.2026"}), 422, "backfill_from", "date_invalid", "YYYY-MM-DD"},
		{"mapping syntax", "POST", imports, good(map[string]any{"mapping": map[string]any{"profit": "totalSumm -"}}), 422, "mapping.profit", "expression_invalid", "line 1"},
		{"mapping unknown field", "POST", imports, good(map[string]any{"mapping": map[string]any{"revenu": "totalSumm"}}), 422, "mapping.revenu", "mapping_unknown_field", ""},
		{"mapping unmap required", "POST", imports, good(map[string]any{"mapping": map[string]any{"order_id": ""}}), 422, "mapping.order_id", "mapping_required_unmapped", ""},
		{"check wrong key", "POST", "/api/v1/retailcrm/check", map[string]any{"url": e.crm, "api_key": "nope"}, 422, "api_key", "crm_invalid_key", "rejected the API key"},
		{"check no url", "POST", "/api/v1/retailcrm/check", map[string]any{"api_key": "nope"}, 422, "url", "url_required", "address"},
		{"orders bad date", "GET", fmt.Sprintf("/api/v1/counters/%d/orders?from=2026-13-01", counter.ID), nil, 400, "from", "date_invalid", "YYYY-MM-DD"},
		{"orders bad limit", "GET", fmt.Sprintf("/api/v1/counters/%d/orders?limit=5000", counter.ID), nil, 400, "limit", "limit_invalid", "1,000"},
		{"orders bad format", "GET", fmt.Sprintf("/api/v1/counters/%d/orders?format=xml", counter.ID), nil, 400, "format", "format_invalid", ""},
		{"orders bad cursor", "GET", fmt.Sprintf("/api/v1/counters/%d/orders?cursor=zzz", counter.ID), nil, 400, "cursor", "cursor_invalid", ""},
		{"unknown endpoint", "GET", "/api/v1/nothing", nil, 404, "", "endpoint_not_found", ""},
		{"wrong method", "PUT", "/api/v1/counters", nil, 405, "", "method_not_allowed", "POST, GET"},
		{"wrong method on an id", "POST", "/api/v1/imports/5", nil, 405, "", "method_not_allowed", "GET, PATCH, DELETE"},
		{"malformed id", "GET", "/api/v1/imports/abc", nil, 404, "", "not_found", ""},
	}
	cyrillic := regexp.MustCompile(`\p{Cyrillic}`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body string
			switch b := c.body.(type) {
			case string:
				body = b
			case nil:
			default:
				body = mustJSON(t, b)
			}
			var english apiError
			for _, lang := range []string{"", "ru-RU,ru;q=0.9,en;q=0.5"} {
				st, text := e.rawLang(c.method, c.path, body, e.token, lang)
				if st != c.status {
					t.Fatalf("%q: status %d, want %d: %s", lang, st, c.status, text)
				}
				var ae apiError
				if err := jsonUnmarshal(text, &ae); err != nil || ae.Error.Code == "" || ae.Error.Message == "" {
					t.Fatalf("not the error envelope: %s", text)
				}
				if ae.Error.Field != c.field || ae.Error.Code != c.code {
					t.Errorf("%q: field %q code %q, want %q %q (%s)", lang, ae.Error.Field, ae.Error.Code, c.field, c.code, ae.Error.Message)
				}
				if strings.Contains(text, crmemu.DemoKey) || strings.Contains(text, "not-the-key") {
					t.Errorf("an API key appears in the answer: %s", text)
				}
				if lang == "" {
					english = ae
					if !strings.Contains(ae.Error.Message, c.msg) || cyrillic.MatchString(ae.Error.Message) {
						t.Errorf("English message %q does not say %q", ae.Error.Message, c.msg)
					}
					continue
				}
				// Accept-Language: ru answers in Russian, with the same code and field.
				if !cyrillic.MatchString(ae.Error.Message) || ae.Error.Message == english.Error.Message {
					t.Errorf("Russian message %q (English %q)", ae.Error.Message, english.Error.Message)
				}
			}
		})
	}
}

func TestAnotherAccountsIDsAre404(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 4, Orders: 5})
	var counter struct{ ID int64 }
	e.do("POST", "/api/v1/counters", map[string]any{"name": "Shop"}, &counter)
	var task struct{ ID int64 }
	if st := e.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), map[string]any{"name": "Заказы", "active": false,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}}, &task); st != 201 {
		t.Fatalf("create task: %d", st)
	}
	var run struct{ ID int64 }
	e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &run)

	ctx := context.Background()
	u, _, err := e.app.Store.AddUser(ctx, "stranger@example.com", "long enough password", "", false)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _, _ := e.app.Store.CreateToken(ctx, u.ID)
	paths := []struct{ method, path, body string }{
		{"GET", fmt.Sprintf("/api/v1/counters/%d", counter.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), ""},
		{"POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), `{"name":"x","retailcrm":{"url":"` + e.crm + `","api_key":"demo-key"}}`},
		{"GET", fmt.Sprintf("/api/v1/counters/%d/orders", counter.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/counters/%d/orders?format=csv", counter.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/counters/%d/orders/summary", counter.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/imports/%d", task.ID), ""},
		{"PATCH", fmt.Sprintf("/api/v1/imports/%d", task.ID), `{"name":"hijack"}`},
		{"DELETE", fmt.Sprintf("/api/v1/imports/%d", task.ID), ""},
		{"POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), ""},
		{"POST", fmt.Sprintf("/api/v1/imports/%d/resync", task.ID), ""},
		{"GET", fmt.Sprintf("/api/v1/runs/%d", run.ID), ""},
		{"POST", "/api/v1/imports/preview", fmt.Sprintf(`{"task_id":%d,"counter_id":%d}`, task.ID, counter.ID)},
	}
	for _, p := range paths {
		if st, text := e.raw(p.method, p.path, p.body, stranger); st != 404 {
			t.Errorf("%s %s as another account: %d %s", p.method, p.path, st, text)
		}
		if st, _ := e.raw(p.method, p.path, p.body, ""); st != 401 {
			t.Errorf("%s %s anonymous: %d", p.method, p.path, st)
		}
	}
	var list struct{ Counters []any }
	st, text := e.raw("GET", "/api/v1/counters", "", stranger)
	if err := jsonUnmarshal(text, &list); st != 200 || err != nil || len(list.Counters) != 0 {
		t.Errorf("another account's counter list: %d %s", st, text)
	}
	if t2, err := e.app.Store.Task(ctx, e.acc, task.ID); err != nil || t2.Name != "Заказы" {
		t.Errorf("the task changed under another account's requests: %+v %v", t2, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
