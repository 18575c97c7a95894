package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"orderimport/internal/api"
	"orderimport/internal/app"
	"orderimport/internal/crmemu"
	"orderimport/internal/jobs"
	"orderimport/internal/servicetest"
	"orderimport/internal/store"
)

// env is a running service (real SQLite, real River, real HTTP) in front of a real emulator.
type env struct {
	t     *testing.T
	app   *app.App
	base  string
	token string
	emu   *crmemu.Emulator
	crm   string
	acc   int64
}

func newEnv(t *testing.T, emuOpts crmemu.Options) *env {
	t.Helper()
	return newEnvWith(t, emuOpts, jobsConfigForTests())
}

// newEnvWith is newEnv with its own job system settings.
func newEnvWith(t *testing.T, emuOpts crmemu.Options, jobsCfg jobs.Config) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := servicetest.Start(context.Background(), servicetest.Options{Emulator: emuOpts, Jobs: jobsCfg, Log: log, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop the service: %v", err)
		}
	})
	return &env{t: t, app: s.App, base: s.URL, token: s.Token, emu: s.Emu, crm: s.CRM, acc: s.AccountID}
}

func (e *env) do(method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (e *env) csv(counterID int64, query string) [][]string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/counters/%d/orders?format=csv%s", e.base, counterID, query), nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("csv export: status %d", resp.StatusCode)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

type runOut struct {
	ID          int64  `json:"id"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	Fetched     int64  `json:"fetched"`
	Created     int64  `json:"created"`
	Updated     int64  `json:"updated"`
	Deleted     int64  `json:"deleted"`
	Invalid     int64  `json:"invalid"`
	Requests    int64  `json:"requests"`
	IssuesTotal int64  `json:"issues_total"`
}

// waitRun polls the run until it is final, with a deadline (never a sleep-and-hope).
func (e *env) waitRun(id int64) runOut {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r runOut
		if st := e.do("GET", fmt.Sprintf("/api/v1/runs/%d", id), nil, &r); st != 200 {
			e.t.Fatalf("get run %d: status %d", id, st)
		}
		switch r.Status {
		case store.RunSucceeded, store.RunSucceededWithWarnings, store.RunFailed, store.RunInterrupted:
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %d still %s after the deadline", id, r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectedCSV maps the emulator's current orders with the default mapping, exactly as an
// import must store them, and renders them as the export's rows.
func (e *env) expectedCSV(t *testing.T, counterTZ string) [][]string {
	t.Helper()
	return e.expectedTask(t, store.Task{}, counterTZ)
}

// expectedTask is expectedCSV for a task of its own (mapping, stores, range, counting).
func (e *env) expectedTask(t *testing.T, task store.Task, counterTZ string) [][]string {
	t.Helper()
	byID, err := servicetest.ExpectedRows(e.emu, crmemu.DemoKey, task, counterTZ)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, row := range byID {
		rows = append(rows, api.CSVRecord(&row))
	}
	return rows
}

func sortRows(rows [][]string) {
	slices.SortFunc(rows, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
}

func TestImportEndToEnd(t *testing.T) {
	e := newEnv(t, crmemu.Options{Seed: 7, Orders: 450})

	// Counter and task through the API, as a user would.
	var counter struct {
		ID       int64  `json:"id"`
		Timezone string `json:"timezone"`
	}
	if st := e.do("POST", "/api/v1/counters", map[string]any{"name": "Shop", "timezone": "Asia/Yekaterinburg"}, &counter); st != 201 {
		t.Fatalf("create counter: %d", st)
	}
	var task struct {
		ID        int64 `json:"id"`
		RetailCRM struct {
			URL        string `json:"url"`
			APIKeyHint string `json:"api_key_hint"`
		} `json:"retailcrm"`
		Status string `json:"status"`
	}
	st := e.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), map[string]any{
		"name": "Заказы", "active": true, "type": "retailcrm", "frequency_hours": 1,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey},
	}, &task)
	if st != 201 {
		t.Fatalf("create task: %d", st)
	}
	if task.RetailCRM.APIKeyHint == "" || strings.Contains(task.RetailCRM.APIKeyHint, crmemu.DemoKey) {
		t.Fatalf("api_key_hint %q must hint at the key without showing it", task.RetailCRM.APIKeyHint)
	}

	// The first run starts by itself right after saving.
	var runs struct{ Runs []runOut }
	e.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &runs)
	if len(runs.Runs) != 1 {
		t.Fatalf("an active task must start a run when saved; runs: %+v", runs.Runs)
	}
	first := e.waitRun(runs.Runs[0].ID)
	if first.Status != store.RunSucceeded && first.Status != store.RunSucceededWithWarnings {
		t.Fatalf("first run: %+v", first)
	}
	want := e.expectedCSV(t, counter.Timezone)
	got := e.csv(counter.ID, "")
	if !slices.Equal(got[0], api.CSVHeader) {
		t.Fatalf("csv header %v", got[0])
	}
	assertRows(t, "after backfill", got[1:], want)
	if first.Created != int64(len(want)) {
		t.Errorf("first run created %d, want %d", first.Created, len(want))
	}

	// Change the CRM: create, update, delete, merge.
	ids := e.emu.OrderIDs(crmemu.DemoKey)
	newID := e.emu.CreateOrder(crmemu.OrderInput{})
	if err := e.emu.UpdateOrder(ids[0], crmemu.Change{Field: "status", Value: "complete"}); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.UpdateOrder(ids[1], crmemu.Change{Field: "customer_comment", Value: "Позвонить после 18:00, \"домофон\" 12"}); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.DeleteOrder(ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := e.emu.MergeOrders(ids[3], ids[4]); err != nil {
		t.Fatal(err)
	}
	var second runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &second); st != 202 {
		t.Fatalf("run now: %d", st)
	}
	second = e.waitRun(second.ID)
	if second.Status != store.RunSucceeded && second.Status != store.RunSucceededWithWarnings {
		t.Fatalf("second run: %+v", second)
	}
	want = e.expectedCSV(t, counter.Timezone)
	assertRows(t, "after changes", e.csv(counter.ID, "")[1:], want)
	if second.Deleted < 2 {
		t.Errorf("second run deleted %d orders, want the deleted and the merged-away one", second.Deleted)
	}
	// Requests depend on the number of changes, not on the 450 orders: preflight (2), the
	// reference (3), one history page, one re-fetch of the changed orders.
	if second.Requests > 9 {
		t.Errorf("second run made %d requests for 5 changes", second.Requests)
	}
	_ = newID

	// Deleted orders stay available with their last values on request.
	all := e.csv(counter.ID, "&include_deleted=true")[1:]
	deleted := 0
	for _, r := range all {
		if r[14] == "true" {
			deleted++
		}
	}
	if deleted != 2 {
		t.Errorf("include_deleted: %d deleted rows, want 2", deleted)
	}

	// A third run with nothing changed writes nothing.
	var third runOut
	e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &third)
	third = e.waitRun(third.ID)
	t.Logf("first %+v\nsecond %+v\nthird %+v", first, second, third)
	if third.Created+third.Updated+third.Deleted != 0 || third.Requests > 7 {
		t.Errorf("idle run: %+v", third)
	}
}

func assertRows(t *testing.T, when string, got, want [][]string) {
	t.Helper()
	sortRows(got)
	sortRows(want)
	if len(got) != len(want) {
		t.Errorf("%s: %d rows exported, want %d", when, len(got), len(want))
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		if !slices.Equal(got[i], want[i]) {
			for j := range api.CSVHeader {
				if got[i][j] != want[i][j] {
					t.Errorf("%s: order %s: %s = %q, want %q", when, want[i][0], api.CSVHeader[j], got[i][j], want[i][j])
				}
			}
			if t.Failed() && i > 5 {
				return
			}
		}
	}
}

func jobsConfigForTests() jobs.Config { return servicetest.Jobs() }

// testWriter sends the service's warnings and errors to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
