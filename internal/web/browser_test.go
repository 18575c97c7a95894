package web_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"orderimport/internal/access"
	"orderimport/internal/api"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
	"orderimport/internal/web/uitest"
)

// The browser tests drive the real UI in Debian's Chromium. Without /usr/bin/chromium they
// skip, except in CI (CI=true), where a missing browser is a failure: .ci/run installs it.
func chromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(uitest.ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing: .ci/run installs it with apt-get install -y chromium", uitest.ChromiumPath)
		}
		t.Skipf("%s is not installed (apt-get install -y chromium); skipping the browser test", uitest.ChromiumPath)
	}
	bctx, cancel, err := uitest.Browser(context.Background(), t.TempDir(), 1280, 900)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func textOf(t *testing.T, ctx context.Context, sel chromedp.CSS) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel, chromedp.NodeVisible))
	must(t, err, "read "+string(sel))
	return s
}

// The whole path of the original K50 help page in a browser: log in, create a counter, Настройки → Данные → Импорт
// заказов → «Новое подключение RetailCRM» (logging in again on the way, as the help page's
// "Паспорт" step), check the connection, preview, save, watch the run finish, see the orders and
// the chart, download the CSV, edit the mapping, delete the task.
func TestBrowserImportFlow(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	e := newEnv(t, 150)
	s := e.srv
	st := s.App.Store
	bg := context.Background()

	must(t, chromedp.Do(ctx, s.Login()), "log in")
	must(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("counter-name")),
		chromedp.SendKeys(chromedp.ID("counter-name"), "Интернет-магазин"),
		chromedp.SetValue(chromedp.ID("counter-tz"), "Asia/Yekaterinburg"),
		uitest.Submit(chromedp.CSS(`form[action="/counters"] button[type="submit"]`)),
	), "create a counter")
	if got := textOf(t, ctx, ".notice"); !strings.Contains(got, "Счётчик создан") {
		t.Fatalf("after creating the counter: %q", got)
	}
	counters, _ := st.Counters(bg, s.AccountID)
	if len(counters) != 1 || counters[0].Timezone != "Asia/Yekaterinburg" {
		t.Fatalf("counters %+v", counters)
	}
	cid := strconv.FormatInt(counters[0].ID, 10)

	// Настройки → Данные → Импорт заказов → «Новое подключение RetailCRM», logged out on the way.
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`a.menu-item[href="/counters/`+cid+`/imports"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/counters/`+cid+`/imports/new"]`)),
		chromedp.Navigate(s.URL+"/"),
		uitest.Submit(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.Navigate(s.URL+"/counters/"+cid+"/imports/new"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), uitest.Email),
		chromedp.SendKeys(chromedp.ID("password"), uitest.Password),
		uitest.Submit(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.ID("f-url")),
	), "open the new connection form through the login")
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/counters/"+cid+"/imports/new") {
		t.Fatalf("after login the browser is at %s, not back on the form", loc)
	}

	// Check: the answer appears in place (JSON API), the suggestion is pre-selected.
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("f-url"), s.CRM),
		chromedp.SendKeys(chromedp.ID("f-key"), secretKey),
		chromedp.Click(chromedp.CSS(`[data-js="check"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#check-result .check-ok")),
	), "check the connection")
	if got := textOf(t, ctx, "#check-result"); !strings.Contains(got, "чтение заказов") || !strings.Contains(got, "Москва (UTC+3)") {
		t.Fatalf("check result: %q", got)
	}
	sid, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("map-session_id")))
	must(t, err, "session id choice")
	if sid != "customFields.k50_sid" {
		t.Fatalf("session id choice %q, want the suggested customFields.k50_sid", sid)
	}

	// Preview in place.
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("f-name"), "Заказы"),
		chromedp.Click(chromedp.CSS(`[data-js="preview"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS("#preview-result tbody tr")),
	), "preview")
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#preview-result tbody tr").length`))
	must(t, err, "count preview rows")
	if summary := textOf(t, ctx, "#preview-result .preview-summary"); rows != 10 || !strings.Contains(summary, "Заказов: 10.") {
		t.Fatalf("preview: %d rows, %q", rows, summary)
	}

	// Save: the task page follows the first run until it ends.
	must(t, chromedp.Do(ctx, uitest.Submit(chromedp.CSS(`button[value="save"]`))), "save")
	if got := textOf(t, ctx, ".notice"); !strings.Contains(got, "Задача сохранена") {
		t.Fatalf("after save: %q", got)
	}
	tasks, _ := st.Tasks(bg, s.AccountID, counters[0].ID)
	if len(tasks) != 1 {
		t.Fatalf("%d tasks saved", len(tasks))
	}
	task := tasks[0]
	must(t, chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.ID("live"))), "wait for the run to finish on the page")
	if badge := textOf(t, ctx, "#run-badge"); badge != "успешно" && badge != "с замечаниями" {
		t.Fatalf("run badge %q", badge)
	}
	run, _ := st.LastRun(bg, s.AccountID, task.ID)
	if run == nil || run.Counts.Created != 150 {
		t.Fatalf("run %+v: want 150 orders created", run)
	}

	// Orders and the chart.
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`.tabs a[href="/counters/`+cid+`/orders"]`)),
		chromedp.WaitVisible(chromedp.ID("chart")),
	), "open the orders")
	// The totals count the orders that count (cancelled ones apart).
	summary, err := s.App.Tasks.Summarize(access.System(bg), s.AccountID, counters[0].ID, store.OrderFilter{})
	must(t, err, "the summary")
	if got := textOf(t, ctx, "#total-orders"); got != strconv.FormatInt(summary.Total.Orders, 10) || summary.Total.Orders+summary.Total.Uncounted != 150 {
		t.Fatalf("total orders %q, the summary %+v", got, summary.Total)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chart rect.bar").length`))
	must(t, err, "count bars")
	if bars < 2 {
		t.Fatalf("%d bars in the chart", bars)
	}

	// Download the CSV of the orders.
	dir := t.TempDir()
	events := true
	_, err = chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &events})
	must(t, err, "allow downloads")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("csv-link"), chromedp.NodeVisible)), "click the CSV link")
	recs := waitCSV(t, filepath.Join(dir, "orders-"+cid+".csv"))
	if !slices.Equal(recs[0], api.CSVHeader) || len(recs) != 151 {
		t.Fatalf("downloaded CSV: header %v, %d rows", recs[0], len(recs)-1)
	}

	// Edit the mapping: profit as an own expression, the comment not imported.
	tid := strconv.FormatInt(task.ID, 10)
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/imports/"+tid),
		uitest.Submit(chromedp.CSS(`a[href="/imports/`+tid+`/edit"]`)),
		chromedp.WaitVisible(chromedp.ID("map-profit")),
		chromedp.SetValue(chromedp.ID("map-profit"), "__expr"),
		chromedp.WaitVisible(chromedp.ID("map-profit-expr")),
		chromedp.SendKeys(chromedp.ID("map-profit-expr"), "totalSumm - purchaseSumm"),
		chromedp.SetValue(chromedp.ID("map-comment"), ""),
		uitest.Submit(chromedp.CSS(`button[value="save"]`)),
	), "edit the mapping")
	if got := textOf(t, ctx, ".notice"); !strings.Contains(got, "Задача сохранена") {
		t.Fatalf("after the edit: %q", got)
	}
	edited, _ := st.Task(bg, s.AccountID, task.ID)
	spec := edited.Mapping
	if spec["profit"] != "totalSumm - purchaseSumm" || spec["comment"] != "" || spec["session_id"] != "customFields.k50_sid" {
		t.Fatalf("mapping after the edit: %v", spec)
	}
	if edited.CRMKeySealed != task.CRMKeySealed {
		t.Fatal("the key changed though it was left empty")
	}
	must(t, chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.ID("live"))), "wait for the re-sync the mapping change started")

	// Delete, with confirmation; the orders stay.
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`a[href="/imports/`+tid+`/delete"]`)),
		uitest.Submit(chromedp.CSS(`form[action="/imports/`+tid+`/delete"] button`)),
	), "delete")
	if got := textOf(t, ctx, ".notice"); !strings.Contains(got, "Задача удалена") {
		t.Fatalf("after delete: %q", got)
	}
	if _, err := st.Task(bg, s.AccountID, task.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the task still exists: %v", err)
	}
	left, _, _ := st.Orders(bg, s.AccountID, counters[0].ID, store.OrderFilter{Limit: 1000})
	if len(left) != 150 {
		t.Fatalf("%d orders after the delete, want all 150 to stay", len(left))
	}
	e.noSecret()
}

// waitCSV waits for a finished download (Chromium writes .crdownload until then).
func waitCSV(t *testing.T, path string) [][]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if f, err := os.Open(path); err == nil {
			recs, err := csv.NewReader(f).ReadAll()
			f.Close()
			if err == nil && len(recs) > 0 {
				return recs
			}
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Dir(path))
			t.Fatalf("no %s after 30s; the directory has %v", path, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The error paths in a browser: a wrong key, an invalid expression and a missing required
// mapping each show their message next to their field; the script hands a refused check or
// preview to the server, which answers in words.
func TestBrowserErrorPaths(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	e := newEnv(t, 30)
	s := e.srv
	c := e.counter("Shop")
	form := s.URL + "/counters/" + strconv.FormatInt(c.ID, 10) + "/imports/new"

	must(t, chromedp.Do(ctx, s.Login(),
		chromedp.Navigate(form),
		chromedp.WaitVisible(chromedp.ID("f-url")),
		chromedp.SendKeys(chromedp.ID("f-url"), s.CRM),
		chromedp.SendKeys(chromedp.ID("f-key"), "wrong-key-0000"),
		chromedp.Click(chromedp.CSS(`[data-js="check"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("f-key-err")),
	), "check a wrong key")
	if got := textOf(t, ctx, "#f-key-err"); !strings.Contains(got, "RetailCRM не принял ключ API") {
		t.Fatalf("wrong key: %q", got)
	}
	described, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("f-key").getAttribute("aria-describedby")`))
	must(t, err, "aria-describedby")
	if !strings.Contains(described, "f-key-err") {
		t.Fatalf("the key's error is not linked to it: %q", described)
	}
	if focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "error-summary" {
		t.Errorf("focus is on %q, want the error summary", focused)
	}

	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("f-key"), secretKey),
		chromedp.SendKeys(chromedp.ID("f-name"), "Заказы"),
		chromedp.SetValue(chromedp.ID("map-profit"), "__expr"),
		chromedp.WaitVisible(chromedp.ID("map-profit-expr")),
		chromedp.SendKeys(chromedp.ID("map-profit-expr"), "totalSumm -"),
		chromedp.Click(chromedp.CSS(`[data-js="preview"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("map-profit-err")),
	), "preview an invalid expression")
	if got := textOf(t, ctx, "#map-profit-err"); !strings.Contains(got, "Ошибка в выражении") {
		t.Fatalf("invalid expression: %q", got)
	}

	must(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("map-profit"), "totalSumm"),
		chromedp.SetValue(chromedp.ID("map-order_id"), "__expr"),
		uitest.Submit(chromedp.CSS(`button[value="save"]`)),
		chromedp.WaitVisible(chromedp.ID("map-order_id-err")),
	), "save without the order id")
	if got := textOf(t, ctx, "#map-order_id-err"); got != "⚠ Обязательное поле: выберите, откуда брать значение." && got != "Обязательное поле: выберите, откуда брать значение." {
		t.Fatalf("missing required mapping: %q", got)
	}
	if gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("map-profit-err") === null`)); err != nil || !gone {
		t.Fatalf("the corrected expression still shows an error (%v)", err)
	}
	tasks, _ := s.App.Store.Tasks(context.Background(), s.AccountID, c.ID)
	if len(tasks) != 0 {
		t.Fatal("a task was saved from an invalid form")
	}
	e.noSecret()
}

// A running import updates itself on the task page without a reload: the numbers come from
// GET /api/v1/runs/{id}.
func TestBrowserLiveProgress(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	srv, err := uitest.Start(context.Background(), t.TempDir(), crmemu.Options{Seed: 5, Orders: 4000, OrderSize: "small",
		Latency: 150 * time.Millisecond, Keys: map[string]crmemu.KeyConfig{secretKey: crmemu.FullAccess()}}, nil)
	must(t, err, "start")
	t.Cleanup(func() { srv.Close() })
	e := &env{t: t, srv: srv, client: newClient()}
	c := e.counter("Slow")
	name, active, freq, u, k := "Заказы", true, 1, srv.CRM, secretKey
	task, err := srv.App.Tasks.Create(access.System(context.Background()), srv.AccountID, c.ID, tasks.Input{Name: &name, Active: &active,
		FrequencyHours: &freq, RetailCRM: &tasks.RetailCRMInput{URL: &u, APIKey: &k}})
	must(t, err, "create the task")

	must(t, chromedp.Do(ctx, srv.Login(),
		chromedp.Navigate(srv.URL+"/imports/"+strconv.FormatInt(task.ID, 10)),
		chromedp.WaitVisible(chromedp.ID("live")),
	), "open the running task")
	first := textOf(t, ctx, `#live [data-k="requests"]`)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.__samePage = true)`))
	must(t, err, "mark the page")
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const el = document.querySelector('#live [data-k="requests"]'); return !!el && el.textContent !== `+strconv.Quote(first)+` && window.__samePage === true; })()`,
		chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	must(t, err, "the request count must change on the same page, without a reload")
	rate := textOf(t, ctx, `#live [data-k="rate"]`)
	if !strings.Contains(rate, "заказа/с") {
		t.Fatalf("rate %q", rate)
	}
}
