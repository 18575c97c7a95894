package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"orderimport/internal/tasks"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// A CRM that repeats the key it was sent, in every place an answer can carry text: the worst
// case for an error path that passes RetailCRM's words on.
type leakyCRM struct {
	next http.Handler
	mode atomic.Int32
}

const (
	leakOff = iota
	leakValidation
	leakRejected
	leakRedirect
)

func (l *leakyCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-API-KEY")
	w.Header().Set("Content-Type", "application/json")
	switch l.mode.Load() {
	case leakValidation:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"success":false,"errorMsg":"apiKey %s may not use this filter","errors":{"%s":"unknown key %s","0":"%s"}}`, key, key, key, key)
	case leakRejected:
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"success":false,"errorMsg":"Wrong \"apiKey\" value: %s","errors":["%s"]}`, key, key)
	case leakRedirect:
		w.Header().Set("Location", "https://login.retailcrm.ru/auth?apiKey="+key+"&back=/"+key)
		w.WriteHeader(http.StatusFound)
	default:
		l.next.ServeHTTP(w, r)
	}
}

func randomKey(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "Rk" + hex.EncodeToString(b)
}

// TestCRMKeyNeverLeaks drives every path a RetailCRM key takes (check, create, preview, runs
// that fail in every way, update, re-sync, key rotation, delete) through the JSON API and
// through the web UI, against a CRM that echoes the key back in its errors, its messages and
// its redirects. Then it looks for the keys in everything the service said and kept: every
// response (headers and bodies, error pages included), every log line at debug level as the
// service wrote it, /metrics, and the SQLite database file with its WAL. The log's safety net
// must never have had to act: the keys never reached the logger at all.
func TestCRMKeyNeverLeaks(t *testing.T) {
	key1, key2, wrong := randomKey(t), randomKey(t), randomKey(t)
	leaky := &leakyCRM{}
	e := newSecEnv(t, secOpts{allowPrivate: true,
		emu: crmemu.Options{Seed: 21, Orders: 60, Keys: map[string]crmemu.KeyConfig{key1: crmemu.FullAccess(), key2: crmemu.FullAccess()}},
		crm: func(h http.Handler) http.Handler { leaky.next = h; return leaky }})
	must := func(what string, got, want int, body string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
		}
	}
	jsonBody := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	tok := e.token

	// --- The JSON API ---
	st, body := e.api("POST", "/api/v1/counters", tok, `{"name":"Shop"}`)
	must("counter", st, 201, body)
	var counter struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &counter)

	check := func(key string, mode int32, want int) {
		t.Helper()
		leaky.mode.Store(mode)
		defer leaky.mode.Store(leakOff)
		st, body := e.api("POST", "/api/v1/retailcrm/check", tok, jsonBody(map[string]string{"url": e.crm, "api_key": key}))
		must(fmt.Sprintf("check (mode %d)", mode), st, want, body)
	}
	check(key1, leakOff, 200)
	check(wrong, leakOff, 422)
	check(key1, leakValidation, 422)
	check(key1, leakRejected, 422)
	check(key1, leakRedirect, 422)

	create := func(key string, want int) int64 {
		t.Helper()
		st, body := e.api("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), tok, jsonBody(map[string]any{
			"name": "Заказы", "active": false, "retailcrm": map[string]any{"url": e.crm, "api_key": key}}))
		must("create task", st, want, body)
		var task struct{ ID int64 }
		_ = json.Unmarshal([]byte(body), &task)
		return task.ID
	}
	create(wrong, 422)
	taskID := create(key1, 201)

	preview := func(in map[string]any, mode int32, want int) {
		t.Helper()
		leaky.mode.Store(mode)
		defer leaky.mode.Store(leakOff)
		in["counter_id"] = counter.ID
		st, body := e.api("POST", "/api/v1/imports/preview", tok, jsonBody(in))
		must(fmt.Sprintf("preview (mode %d)", mode), st, want, body)
	}
	preview(map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": key1}}, leakOff, 200)
	preview(map[string]any{"task_id": taskID}, leakOff, 200)
	preview(map[string]any{"task_id": taskID}, leakValidation, 422)
	preview(map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": wrong}}, leakOff, 422)

	runTask := func(mode int32) secRun {
		t.Helper()
		leaky.mode.Store(mode)
		defer leaky.mode.Store(leakOff)
		st, body := e.api("POST", fmt.Sprintf("/api/v1/imports/%d/runs", taskID), tok, "")
		must("run now", st, 202, body)
		var r secRun
		_ = json.Unmarshal([]byte(body), &r)
		return e.waitRun(r.ID)
	}
	if r := runTask(leakOff); !r.ok() {
		t.Fatalf("first run: %+v", r)
	}
	// Transient faults, retried; then answers that fail the run, each echoing the key.
	e.emu.InjectFault(crmemu.Fault503, 2, "")
	e.emu.InjectFault(crmemu.FaultGarbage, 1, "")
	e.emu.InjectFault(crmemu.FaultTruncated, 1, "")
	e.emu.InjectFault(crmemu.Fault500, 1, "")
	runTask(leakOff)
	for _, mode := range []int32{leakValidation, leakRedirect, leakRejected} {
		if r := runTask(mode); r.Status != store.RunFailed || r.Error == "" {
			t.Fatalf("run against a CRM in mode %d: %+v", mode, r)
		}
	}
	st, body = e.api("GET", fmt.Sprintf("/api/v1/imports/%d", taskID), tok, "")
	if st != 200 || !strings.Contains(body, `"needs_attention"`) {
		t.Fatalf("a rejected key puts the task in needs_attention: %s", body)
	}

	patch := func(in map[string]any, want int) {
		t.Helper()
		st, body := e.api("PATCH", fmt.Sprintf("/api/v1/imports/%d", taskID), tok, jsonBody(in))
		must("patch", st, want, body)
	}
	patch(map[string]any{"retailcrm": map[string]any{"api_key": wrong}}, 422)
	patch(map[string]any{"retailcrm": map[string]any{"api_key": key2}}, 200)
	patch(map[string]any{"name": "Заказы 2", "mapping": map[string]any{"comment": "customerComment + ' ' + number"}}, 200)
	if r := e.lastRun(taskID); !r.ok() {
		t.Fatalf("re-sync after the mapping change: %+v", r)
	}

	// Rotation of the key that seals the stored keys, as `orderimport secret rotate` does it,
	// while the service runs; the service opens the re-sealed key without a restart.
	if _, _, err := secret.RotateKeyFile(e.app.Config.KeyFilePath()); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.app.Tasks.Keys.ResealKeys(t.Context(), e.app.Store); err != nil || rep.Resealed != 1 || rep.Remaining != 0 {
		t.Fatalf("reseal: %+v %v", rep, err)
	}
	if r := runTask(leakOff); !r.ok() {
		t.Fatalf("run after the rotation: %+v", r)
	}
	st, body = e.api("POST", fmt.Sprintf("/api/v1/imports/%d/resync", taskID), tok, "")
	must("resync", st, 202, body)
	e.lastRun(taskID)

	for _, p := range []string{"/api/v1/counters", fmt.Sprintf("/api/v1/counters/%d", counter.ID), fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID),
		fmt.Sprintf("/api/v1/imports/%d", taskID), fmt.Sprintf("/api/v1/imports/%d/runs", taskID), fmt.Sprintf("/api/v1/counters/%d/orders?include_deleted=true", counter.ID),
		fmt.Sprintf("/api/v1/counters/%d/orders?format=csv", counter.ID), fmt.Sprintf("/api/v1/counters/%d/orders/summary", counter.ID),
		"/api/v1/audit?limit=1000", "/api/v1/fields"} {
		st, body := e.api("GET", p, tok, "")
		must("GET "+p, st, 200, body)
	}
	st, body = e.api("DELETE", fmt.Sprintf("/api/v1/imports/%d", taskID), tok, "")
	must("delete", st, 204, body)

	// --- The web UI ---
	b := e.login(ownerEmail, ownerPassword)
	c := fmt.Sprint(counter.ID)
	for _, p := range []string{"/", "/counters/" + c + "/settings", "/counters/" + c + "/imports", "/counters/" + c + "/imports/new"} {
		if st, body, _ := b.get(p); st != 200 {
			t.Fatalf("GET %s: %d %s", p, st, body)
		}
	}
	newForm := "/counters/" + c + "/imports/new"
	if st, _, _ := b.post(newForm, taskForm("UI", e.crm, key1, "check")); st != 200 {
		t.Fatalf("form check: %d", st)
	}
	if st, _, _ := b.post(newForm, taskForm("UI", e.crm, key1, "preview")); st != 200 {
		t.Fatalf("form preview: %d", st)
	}
	leaky.mode.Store(leakValidation)
	if st, _, _ := b.post(newForm, taskForm("UI", e.crm, key1, "check")); st != 422 {
		t.Fatalf("form check against an echoing CRM: %d", st)
	}
	leaky.mode.Store(leakOff)
	if st, _, _ := b.post(newForm, taskForm("UI", e.crm, wrong, "save")); st != 422 {
		t.Fatalf("form save with a wrong key: %d", st)
	}
	st, _, h := b.post(newForm, taskForm("UI", e.crm, key1, "save"))
	if st != http.StatusSeeOther {
		t.Fatalf("form save: %d", st)
	}
	uiTask := regexp.MustCompile(`^/imports/(\d+)`).FindStringSubmatch(h.Get("Location"))
	if uiTask == nil {
		t.Fatalf("saved to %q", h.Get("Location"))
	}
	tp := "/imports/" + uiTask[1]
	var uiID int64
	fmt.Sscan(uiTask[1], &uiID)
	e.lastRun(uiID)
	for _, p := range []string{tp, tp + "/edit", tp + "/delete", "/counters/" + c + "/orders", "/counters/" + c + "/orders?format=csv"} {
		if st, body, _ := b.get(p); st != 200 {
			t.Fatalf("GET %s: %d %s", p, st, body)
		}
	}
	if st, _, _ := b.post(tp+"/edit", taskForm("UI", e.crm, "", "check")); st != 200 {
		t.Fatalf("edit form check with the stored key: %d", st)
	}
	if st, _, _ := b.post(tp+"/edit", taskForm("UI", e.crm, key2, "save")); st != http.StatusSeeOther {
		t.Fatalf("edit form save with a new key: %d", st)
	}
	e.lastRun(uiID)
	for _, p := range []string{tp + "/run", tp + "/resync"} {
		if st, _, _ := b.post(p, url.Values{}); st != http.StatusSeeOther {
			t.Fatalf("POST %s: %d", p, st)
		}
		e.lastRun(uiID)
	}
	if st, _, _ := b.post(tp+"/active", url.Values{"active": {"false"}}); st != http.StatusSeeOther {
		t.Fatalf("pause: %d", st)
	}
	if st, _, _ := b.post(tp+"/delete", url.Values{}); st != http.StatusSeeOther {
		t.Fatalf("delete: %d", st)
	}
	if st, body := e.api("GET", "/metrics", "", ""); st != 200 || !strings.Contains(body, "orderimport_log_secrets_redacted_total 0") {
		t.Fatalf("metrics: %d, want the redaction alarm at 0: %s\n%s", st, regexp.MustCompile(`(?m)^orderimport_log.*$`).FindString(body),
			strings.Join(regexp.MustCompile(`(?m)^.*\[redacted\].*$`).FindAllString(e.logs.String(), -1), "\n"))
	}

	// --- Everything the service said and kept ---
	e.stop()
	keys := map[string]string{"key1": key1, "key2": key2, "wrong key": wrong}
	sources := map[string]string{"responses": e.seen.String(), "logs": e.logs.String(), "database file": string(e.dbBytes())}
	for what, text := range sources {
		for name, k := range keys {
			for _, form := range []string{k, url.QueryEscape(k), base64.StdEncoding.EncodeToString([]byte(k)), base64.RawURLEncoding.EncodeToString([]byte(k))} {
				if i := strings.Index(text, form); i >= 0 {
					t.Errorf("%s holds %s: …%s…", what, name, text[max(0, i-300):min(len(text), i+len(form)+100)])
				}
			}
		}
	}
	if n := e.app.SecretsRedactedFromLogs(); n != 0 {
		t.Errorf("the log handler had to redact a key %d times: a code path logs keys", n)
	}
	// The scans above looked at something: the paths did run and say things.
	for _, want := range []string{"retailcrm request", "audit", "import.key_replaced"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("the log has no %q: the test did not drive what it claims", want)
		}
	}
	if !strings.Contains(e.seen.String(), "[API key]") {
		t.Error("no answer shows the redaction marker: the echoing CRM was never heard")
	}
}

type secRun struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

func (r secRun) ok() bool {
	return r.Status == store.RunSucceeded || r.Status == store.RunSucceededWithWarnings
}

// waitRun polls a run until it is final, with a deadline.
func (e *secEnv) waitRun(id int64) secRun {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, body := e.api("GET", fmt.Sprintf("/api/v1/runs/%d", id), e.token, "")
		var r secRun
		if st != 200 || json.Unmarshal([]byte(body), &r) != nil {
			e.t.Fatalf("run %d: %d %s", id, st, body)
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

// lastRun waits for the task's newest run to finish.
func (e *secEnv) lastRun(taskID int64) secRun {
	e.t.Helper()
	run, err := e.app.Store.LastRun(e.t.Context(), e.acc, taskID)
	if err != nil || run == nil {
		e.t.Fatalf("last run of task %d: %v %v", taskID, run, err)
	}
	return e.waitRun(run.ID)
}

// A stored key sealed under a key this process does not hold (another process already seals
// under the next key of a rotation being rolled out) fails the run with words but does not
// park the task; once the key reaches this process's key files, the next run works without
// a restart.
func TestRunUnderAKeyNotYetHere(t *testing.T) {
	e := newSecEnv(t, secOpts{allowPrivate: true, emu: crmemu.Options{Seed: 3, Orders: 5}})
	c, err := e.app.Store.CreateCounter(t.Context(), e.acc, "Shop", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	next, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, _, _ := (&tasks.Keys{Keyring: secret.NewKeyring(next)}).Seal(e.acc, crmemu.DemoKey)
	task, err := e.app.Store.CreateTask(t.Context(), store.Task{AccountID: e.acc, CounterID: c.ID, Name: "Заказы", Type: "retailcrm",
		FrequencyHours: 1, CRMURL: e.crm, CRMKeySealed: sealed, CRMKeyHint: "…-key", RateLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	run := func() secRun {
		st, body := e.api("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), e.token, "")
		var r secRun
		if st != 202 || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("run: %d %s", st, body)
		}
		return e.waitRun(r.ID)
	}
	if r := run(); r.Status != store.RunFailed || !strings.Contains(r.Error, "sealed under a key this process of the service does not have") {
		t.Fatalf("run under an unknown key: %+v", r)
	}
	if got, _ := e.app.Store.Task(t.Context(), e.acc, task.ID); got.Status != store.TaskOK {
		t.Errorf("the task is parked (%s) for a key that is on its way", got.Status)
	}
	if err := os.WriteFile(secret.OldKeysPath(e.app.Config.KeyFilePath()), []byte(next.Base64()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(); !r.ok() {
		t.Fatalf("run once the key is in the key files: %+v", r)
	}
}
