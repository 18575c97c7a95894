package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"orderimport/internal/access"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
	"orderimport/internal/web/uitest"
)

// newEnvCurrencies is newEnv with the second store selling in tenge.
func newEnvCurrencies(t *testing.T, orders int) *env {
	t.Helper()
	srv, err := uitest.Start(context.Background(), t.TempDir(), crmemu.Options{Seed: 11, Orders: orders,
		Keys: map[string]crmemu.KeyConfig{secretKey: crmemu.FullAccess()}, Currencies: map[string]string{crmemu.SiteOpt: "KZT"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &env{t: t, srv: srv, client: newClient()}
}

var hiddenReference = regexp.MustCompile(`name="reference" id="reference" value="([^"]*)"`)

// The choice of what counts without JavaScript: a check lays out the account's status groups
// with their statuses and its stores by their names, with the default checked and the first
// import estimated; saving keeps the choice; the edit form shows it again from the kept
// reference; a choice that counts nothing is refused next to it.
func TestCountingFormWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnvCurrencies(t, 80)
	e.login()
	c := e.counter("Shop")
	path := "/counters/" + itoa(c.ID) + "/imports/new"
	token := e.csrf()

	p := e.get(path)
	if !strings.Contains(text(p.body), "Проверьте подключение — здесь появятся группы статусов") || strings.Contains(p.body, `id="cg-`) {
		t.Fatal("before a check the form knows no statuses and says how to get them")
	}
	p = e.post(path, formValues(token, "check", "", e.srv.CRM, secretKey, nil))
	visible := text(p.body)
	for _, want := range []string{"Что учитывать", "Отменённые заказы не учитываются в доходе и прибыли", "Согласование", "Предоплата поступила",
		"Отменен", "Недозвон", "Демо-магазин", "Оптовый магазин", "opt-magazin · KZT", "≈ 80 заказов, меньше минуты"} {
		if !strings.Contains(visible, want) {
			t.Errorf("after the check: %q is not on the form", want)
		}
	}
	if !strings.Contains(p.body, `id="cg-approval" name="count_group" value="approval" checked`) ||
		strings.Contains(p.body, `id="cg-cancel" name="count_group" value="cancel" checked`) {
		t.Error("the default is every group checked but the cancelled one")
	}

	// Save: the groups but cancel, «Доставлен» left out, only the main store.
	v := formValues(token, "save", "Заказы", e.srv.CRM, "", nil)
	v.Set("key_sealed", hiddenSealed.FindStringSubmatch(p.body)[1])
	v.Set("reference", html.UnescapeString(hiddenReference.FindStringSubmatch(p.body)[1]))
	v.Set("counting_shown", "1")
	for _, g := range []string{"new", "approval", "assembling", "delivery", "complete"} {
		v.Add("count_group", g)
	}
	for _, s := range []string{"new", "availability-confirmed", "send-to-delivery", "delivering", "complete"} {
		v.Add("count_status", s)
	}
	v.Add("site", crmemu.SiteMain)
	p = e.post(path, v)
	if p.status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.status, text(p.body))
	}
	tasks, _ := e.srv.App.Store.Tasks(context.Background(), e.srv.AccountID, c.ID)
	if len(tasks) != 1 {
		t.Fatalf("%d tasks", len(tasks))
	}
	task := tasks[0]
	if task.Counting == nil || len(task.Counting.StatusGroups) != 5 || !slices.Contains(task.Counting.ExcludeStatuses, "delivered") ||
		slices.Contains(task.Counting.ExcludeStatuses, "complete") || !slices.Equal(task.Sites, []string{crmemu.SiteMain}) {
		t.Fatalf("saved counting %+v, stores %v", task.Counting, task.Sites)
	}
	if _, err := e.srv.WaitRuns(context.Background(), task.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	p = e.get("/imports/" + itoa(task.ID))
	if visible := text(p.body); !strings.Contains(visible, "Учитываются Новый, Согласование, Комплектация, Доставка, Выполнен") ||
		!strings.Contains(visible, "кроме статусов:") || !strings.Contains(visible, "Доставлен") || !strings.Contains(visible, "Магазины Демо-магазин") {
		t.Errorf("the task page: %s", visible)
	}

	// The edit form lays the choice out again from the reference the task kept.
	edit := "/imports/" + itoa(task.ID) + "/edit"
	p = e.get(edit)
	for _, want := range []string{`id="cs-delivered" name="count_status" value="delivered">`, `id="cs-complete" name="count_status" value="complete" checked>`,
		`id="site-` + crmemu.SiteOpt + `" name="site" value="` + crmemu.SiteOpt + `">`, `name="counting_shown" value="1"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the edit form lacks %s", want)
		}
	}

	// Nothing checked counts nothing: refused next to the choice, with a range that ends first.
	v = formValues(token, "save", "Заказы", task.CRMURL, "", nil)
	v.Set("counting_shown", "1")
	v.Set("backfill_from", "2026-02-01")
	v.Set("backfill_to", "2026-01-01")
	p = e.post(edit, v)
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("nothing counted: %d", p.status)
	}
	if got := text(p.body); !strings.Contains(got, "Выберите хотя бы одну группу статусов") || !strings.Contains(got, "Конец периода не может быть раньше его начала") {
		t.Errorf("the errors: %s", got)
	}
	if !strings.Contains(p.body, `href="#counting"`) || !strings.Contains(p.body, `href="#f-backfill-to"`) {
		t.Error("the error summary does not lead to the choice and the range")
	}
	e.noSecret()
}

// The choice of what counts in a browser: the check lays out the groups and stores in place
// and estimates the first import; the choice is saved; the orders page totals the counted
// orders per currency with the uncounted line and the share with a session id, and breaks them
// down by traffic source, sortable.
func TestBrowserWhatCounts(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	e := newEnvCurrencies(t, 160)
	s := e.srv
	c := e.counter("Интернет-магазин")
	cid := strconv.FormatInt(c.ID, 10)
	must(t, chromedp.Do(ctx, s.Login(),
		chromedp.Navigate(s.URL+"/counters/"+cid+"/imports/new"),
		chromedp.WaitVisible(chromedp.ID("f-url")),
		chromedp.SendKeys(chromedp.ID("f-url"), s.CRM),
		chromedp.SendKeys(chromedp.ID("f-key"), secretKey),
		chromedp.SendKeys(chromedp.ID("f-name"), "Заказы"),
		chromedp.Click(chromedp.CSS(`[data-js="check"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("cg-cancel")),
	), "check the connection")
	groups, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#count-groups .count-group")].map(g =>
		g.dataset.group + ":" + g.querySelector("label").textContent + ":" + g.querySelector("input").checked)`))
	must(t, err, "the groups")
	if len(groups) != 6 || groups[0] != "new:Новый:true" || groups[5] != "cancel:Отменен:false" {
		t.Fatalf("groups after the check: %v", groups)
	}
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("estimate-result").textContent.startsWith("≈ 160 заказов")`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("the estimate after the check: %q (%v)", textOf(t, ctx, "#estimate-result"), err)
	}
	// A group unchecked greys its statuses out; «Доставлен» left out; only the main store.
	must(t, chromedp.Do(ctx, toggle("cg-approval")), "uncheck a group")
	off, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('[data-group="approval"]').classList.contains("off") &&
		document.getElementById("cs-prepayed").disabled`))
	if err != nil || !off {
		t.Fatalf("an unchecked group's statuses stay live (%v)", err)
	}
	must(t, chromedp.Do(ctx, toggle("cg-approval"), toggle("cs-delivered"), toggle("site-"+crmemu.SiteOpt)), "the choice")
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`/^≈ \d+ заказ/.test(document.getElementById("estimate-result").textContent) &&
		!document.getElementById("estimate-result").textContent.startsWith("≈ 160")`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("the estimate does not follow the stores: %q (%v)", textOf(t, ctx, "#estimate-result"), err)
	}
	must(t, chromedp.Do(ctx, uitest.Submit(chromedp.CSS(`button[value="save"]`))), "save")
	tasks, _ := s.App.Store.Tasks(context.Background(), s.AccountID, c.ID)
	if len(tasks) != 1 || tasks[0].Counting == nil || !slices.Equal(tasks[0].Counting.ExcludeStatuses, []string{"delivered"}) ||
		!slices.Equal(tasks[0].Sites, []string{crmemu.SiteMain}) {
		t.Fatalf("saved: %+v", tasks)
	}
	must(t, chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.ID("live"))), "the first run")

	// The orders page: totals of what counts, the uncounted apart, the match rate.
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.URL+"/counters/"+cid+"/orders"), chromedp.WaitVisible(chromedp.ID("totals"))), "orders")
	sum, err := s.App.Tasks.Summarize(access.System(context.Background()), s.AccountID, c.ID, store.OrderFilter{})
	must(t, err, "the summary")
	if got := textOf(t, ctx, "#total-orders"); got != strconv.FormatInt(sum.Total.Orders, 10) || sum.Total.Uncounted == 0 {
		t.Fatalf("total orders %q, the summary %+v", got, sum.Total)
	}
	if got := textOf(t, ctx, "#uncounted"); !strings.HasPrefix(got, "Не учтено: ") || !strings.Contains(got, "₽") {
		t.Errorf("the uncounted line %q", got)
	}
	if got := textOf(t, ctx, "#match-rate"); got != strconv.FormatInt(sum.Total.MatchRate(), 10)+" %" && got != strconv.FormatInt(sum.Total.MatchRate(), 10)+"\u00a0%" {
		t.Errorf("match rate %q, want %d %%", got, sum.Total.MatchRate())
	}
	// The breakdown: by medium, sorted by orders.
	must(t, chromedp.Do(ctx,
		uitest.Submit(chromedp.CSS(`#sources .subtabs a:nth-child(2)`)),
		chromedp.WaitVisible(chromedp.ID("sources-table")),
		uitest.Submit(chromedp.CSS(`#sources-table thead th:nth-child(2) a`)),
		chromedp.WaitVisible(chromedp.ID("sources-table")),
	), "sort the breakdown")
	sorted, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#sources-table thead th:nth-child(2)").getAttribute("aria-sort")`))
	must(t, err, "aria-sort")
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); sorted != "descending" || !strings.Contains(loc, "by=utm_medium") || !strings.Contains(loc, "sort=-orders") {
		t.Errorf("the breakdown at %s sorted %q", loc, sorted)
	}
	e.noSecret()
}
