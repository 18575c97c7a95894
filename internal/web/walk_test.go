package web_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/crmemu"
	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
	"orderimport/internal/web/uitest"
)

// readable is what a person reads on the page: the visible text (innerText, options of selects
// included), and the titles,
// placeholders and labels of visible elements, without code samples (<code>, <pre>, <kbd>,
// <samp>), data (translate="no": names, values and addresses that come from a user or from
// RetailCRM) and text in another language on purpose (the language switch, lang="…"). Each
// block of text is on a line of its own.
const readable = `(() => {
  const lang = document.documentElement.lang;
  const skip = "code, pre, kbd, samp, [translate=no], [lang]:not([lang='" + lang + "'])";
  // Hidden through the CSSOM: the service's Content-Security-Policy refuses a <style> of ours.
  // A select's text is its options' whatever their style: read them one by one.
  const skipped = [];
  const options = [];
  document.body.querySelectorAll("select").forEach(sel => {
    if (sel.closest(skip) || sel.getClientRects().length === 0) { return; }
    sel.querySelectorAll("optgroup").forEach(g => { if (!g.matches(skip)) { options.push(g.label); } });
    sel.querySelectorAll("option").forEach(o => { if (!o.matches(skip)) { options.push(o.textContent); } });
  });
  document.body.querySelectorAll(skip + ", select").forEach(el => {
    skipped.push([el, el.style.getPropertyValue("display"), el.style.getPropertyPriority("display")]);
    el.style.setProperty("display", "none", "important");
  });
  const lines = document.body.innerText.split(/[\n\t]+/).concat(options);
  document.body.querySelectorAll("[title], [placeholder], [aria-label], svg title").forEach(el => {
    if (el.closest(skip) || (el.tagName !== "title" && el.getClientRects().length === 0)) { return; }
    for (const a of ["title", "placeholder", "aria-label"]) {
      if (el.hasAttribute(a)) { lines.push(el.getAttribute(a)); }
    }
    if (el.tagName === "title") { lines.push(el.textContent); }
  });
  skipped.forEach(([el, value, priority]) => el.style.setProperty("display", value, priority));
  return lines.map(l => l.trim()).filter(l => l !== "");
})()`

// englishWord is a token of Latin letters (apostrophes and hyphens inside), once the
// punctuation around it is trimmed.
var englishWord = regexp.MustCompile(`^[A-Za-z]+(?:['’-][A-Za-z]+)*$`)

var cyrillic = regexp.MustCompile(`\p{Cyrillic}`)

// englishRun finds three or more English words in a row on a line of the Russian UI.
func englishRun(line string) string {
	var run []string
	for _, tok := range strings.Fields(line) {
		w := strings.Trim(tok, `.,:;!?…()[]{}«»"“”'‘’—–-/*•·`)
		if englishWord.MatchString(w) {
			run = append(run, w)
			continue
		}
		if len(run) >= 3 {
			return strings.Join(run, " ")
		}
		run = run[:0]
	}
	if len(run) >= 3 {
		return strings.Join(run, " ")
	}
	return ""
}

// walker visits pages in one browser and collects what reads in the wrong language.
type walker struct {
	t      *testing.T
	ctx    context.Context
	srv    *uitest.Server
	pages  int
	leaks  []string
	states map[string]bool
}

// check reads the page the browser is on as a page of lang.
func (w *walker) check(lang, state string) {
	w.t.Helper()
	got, err := chromedp.Run(w.ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	must(w.t, err, state+": page language")
	if got != lang {
		loc, _ := chromedp.Run(w.ctx, chromedp.Location())
		w.t.Fatalf("%s: the page at %s is in %q, want %q", state, loc, got, lang)
	}
	lines, err := chromedp.Run(w.ctx, chromedp.Evaluate[[]string](readable))
	must(w.t, err, state+": read the page")
	if len(lines) < 3 {
		w.t.Fatalf("%s (%s): almost nothing to read: %q", state, lang, lines)
	}
	w.pages++
	for _, l := range lines {
		switch lang {
		case "ru":
			if run := englishRun(l); run != "" {
				w.leaks = append(w.leaks, state+" (ru): English «"+run+"» in «"+l+"»")
			}
		case "en":
			if cyrillic.MatchString(l) {
				w.leaks = append(w.leaks, state+" (en): Cyrillic in «"+l+"»")
			}
		}
	}
}

// visit brings the browser to a state in each language and checks it: open gets the language
// to put in the first address it navigates to.
func (w *walker) visit(state string, open func(lang string) chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	if w.states[state] {
		w.t.Fatalf("state %q visited twice", state)
	}
	w.states[state] = true
	for _, lang := range locale.Languages {
		must(w.t, chromedp.Do(w.ctx, open(lang)), state+" ("+lang+")")
		w.check(lang, state)
	}
}

// page is a state reached by opening an address.
func (w *walker) page(state, path string, ready ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	w.visit(state, func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(w.srv.URL + withLang(path, lang)),
			chromedp.WaitReady(chromedp.CSS("main"))}, ready...)...)
	})
}

func withLang(path, lang string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "lang=" + lang
}

// fill sets form controls (by selector) as a user (or a hand-made request) could: a select gets a
// value it does not offer, a date or number input any text. No change events: the values go
// to the server as they are.
func fill(values map[string]string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`((values) => {
  for (const [sel, v] of Object.entries(values)) {
    const el = document.querySelector(sel);
    if (!el) { throw new Error("nothing matches " + sel); }
    if (el.tagName === "SELECT" && ![...el.options].some(o => o.value === v)) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = v;
      o.setAttribute("translate", "no");
      el.appendChild(o);
    }
    if (el.type === "checkbox") { el.checked = v === "true"; continue; }
    if (el.type === "date" || el.type === "number") { el.type = "text"; }
    el.value = v;
  }
  return true;
})(`+jsonOf(values)+`)`)(ctx, t)
		return err
	})
}

func jsonOf(m map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	i := 0
	for k, v := range m {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.Quote(k) + ":" + strconv.Quote(v))
		i++
	}
	b.WriteString("}")
	return b.String()
}

// toggle clicks a checkbox as a person does, in the middle of the window: at its edge the
// form's sticky save bar would take the click.
func toggle(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(document.getElementById(`+strconv.Quote(id)+`).scrollIntoView({block: "center"}), true)`)(ctx, t)
			return err
		}),
		chromedp.Click(chromedp.ID(id), chromedp.NodeVisible),
	)
}

// Every page of the UI in its states, in Russian and in English: no English phrase (three
// words or more) reads on a Russian page, no Cyrillic on an English one, except data — what a
// user named or RetailCRM holds, marked translate="no" — and code samples. On the way: the
// «После сохранения начнётся импорт» note follows the Активность switch, and the numbers the
// page's script writes read as the server's do.
func TestBrowserLanguageWalk(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	e := newEnvCurrencies(t, 200)
	s := e.srv
	st, svc, acc := s.App.Store, s.App.Tasks, s.AccountID
	// The test's own setup acts as the operator; the pages act as the signed-in user.
	bg := access.System(context.Background())
	w := &walker{t: t, ctx: ctx, srv: s, states: map[string]bool{}}

	// Logged out: the login form empty, with a wrong password, and throttled (an email other
	// than the account's, failed five times over HTTP first).
	w.page("login", "/login")
	w.visit("login, wrong password", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/login", lang)),
			chromedp.SendKeys(chromedp.ID("email"), uitest.Email),
			chromedp.SendKeys(chromedp.ID("password"), "not the password"),
			uitest.Submit(chromedp.CSS(`form[action="/login"] button`)),
			chromedp.WaitVisible(chromedp.ID("login-err")),
		)
	})
	for range 5 {
		e.post("/login", url.Values{"email": {"guess@example.com"}, "password": {"guess"}, "next": {"/"}})
	}
	w.visit("login, throttled", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/login", lang)),
			chromedp.SendKeys(chromedp.ID("email"), "guess@example.com"),
			chromedp.SendKeys(chromedp.ID("password"), "guess"),
			uitest.Submit(chromedp.CSS(`form[action="/login"] button`)),
			chromedp.WaitVisible(chromedp.ID("login-err")),
		)
	})
	if got := textOf(t, ctx, "#login-err"); !strings.Contains(got, "Too many failed") && !strings.Contains(got, "Слишком много") {
		t.Fatalf("not throttled: %q", got)
	}
	must(t, chromedp.Do(ctx, s.Login()), "log in")

	// Counters.
	w.page("home, no counters", "/")
	w.visit("home, invalid counter", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/", lang)),
			fill(map[string]string{"#counter-name": "  ", "#counter-tz": "Mars/Olympus"}),
			uitest.Submit(chromedp.CSS(`form[action="/counters"] button`)),
			chromedp.WaitVisible(chromedp.ID("counter-tz-err")),
		)
	})
	shop, err := st.CreateCounter(bg, acc, "Интернет-магазин", "Europe/Moscow")
	must(t, err, "create the counter")
	empty, err := st.CreateCounter(bg, acc, "Пустой счётчик", "Asia/Yekaterinburg")
	must(t, err, "create the empty counter")
	cid := strconv.FormatInt(shop.ID, 10)
	w.page("home, counters", "/")
	w.page("settings", "/counters/"+cid+"/settings")
	w.page("imports, none", "/counters/"+cid+"/imports")

	// The new connection form: empty; every kind of invalid input at once; a key RetailCRM
	// refuses (the script's check hands it to the server); a check that works and a preview
	// with issues (the script, through the JSON API).
	form := "/counters/" + cid + "/imports/new"
	w.page("new connection", form, chromedp.WaitVisible(chromedp.ID("f-url")))
	w.visit("new connection, everything invalid", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(form, lang)),
			chromedp.WaitVisible(chromedp.ID("f-url")),
			fill(map[string]string{
				"#f-url": "ftp://shop.example", "#f-name": "", "#f-type": "sftp", "#f-frequency": "0", "#f-backfill": "2025-02-30",
				"#map-order_id": "__expr", "#map-order_id-expr": "",
				"#map-profit": "__expr", "#map-profit-expr": "totalSumm -",
				"#map-comment": "id", "#map-comment-expr": "number",
			}),
			uitest.Submit(chromedp.CSS(`button[value="save"]`)),
			chromedp.WaitVisible(chromedp.ID("error-summary")),
		)
	})
	summary, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#error-summary a")].map(a => a.getAttribute("href"))`))
	must(t, err, "the error summary")
	for _, want := range []string{"#f-url", "#f-key", "#f-name", "#f-type", "#f-frequency", "#f-backfill", "#map-order_id", "#map-profit", "#map-comment"} {
		if !strings.Contains(strings.Join(summary, " "), want) {
			t.Errorf("the error summary names %v, not %s", summary, want)
		}
	}
	w.visit("new connection, key refused", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(form, lang)),
			chromedp.WaitVisible(chromedp.ID("f-url")),
			chromedp.SendKeys(chromedp.ID("f-url"), s.CRM),
			chromedp.SendKeys(chromedp.ID("f-key"), "wrong-key-0000"),
			chromedp.Click(chromedp.CSS(`[data-js="check"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.ID("f-key-err")),
		)
	})
	w.visit("new connection, checked, preview with issues", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(form, lang)),
			chromedp.WaitVisible(chromedp.ID("f-url")),
			chromedp.SendKeys(chromedp.ID("f-url"), s.CRM),
			chromedp.SendKeys(chromedp.ID("f-key"), secretKey),
			chromedp.Click(chromedp.CSS(`[data-js="check"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS("#check-result .check-ok")),
			fill(map[string]string{"#map-contact_email": "__expr", "#map-contact_email-expr": "number",
				"#map-order_date": "__expr", "#map-order_date-expr": `id % 3 == 0 ? "garbage" : createdAt`}),
			chromedp.Click(chromedp.CSS(`[data-js="preview"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS("#preview-result tbody tr.rejected")),
		)
	})
	// The script formats the preview's sums like the server: two decimals, grouped.
	revenue, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#preview-result tbody td[data-label="`+locale.For("en").T("field.revenue")+`"]')].map(td => td.textContent)`))
	must(t, err, "preview revenues")
	for _, r := range revenue {
		if r != "—" && !regexp.MustCompile(`^−?\d{1,3}(,\d{3})*\.\d\d$`).MatchString(r) {
			t.Errorf("the preview shows revenue %q, want the English format with two decimals", r)
		}
	}

	// The save note says what saving does: a new active task imports at once, an inactive
	// one does not.
	saveNote := func(state string, want bool) {
		t.Helper()
		hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("save-note").hidden`))
		must(t, err, "the save note")
		if hidden == want {
			t.Errorf("%s: the note «После сохранения начнётся импорт» shows %v, want %v", state, !hidden, want)
		}
	}
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.URL+form), chromedp.WaitVisible(chromedp.ID("f-active"))), "the form")
	saveNote("new task, active", true)
	must(t, chromedp.Do(ctx, toggle("f-active")), "switch off")
	saveNote("new task, switched off", false)

	// A task that imported, with issues.
	task := e.task(shop, "Заказы RetailCRM")
	tid := strconv.FormatInt(task.ID, 10)
	last, err := st.LastRun(bg, acc, task.ID)
	must(t, err, "the first run")
	if last.IssuesTotal == 0 {
		t.Fatal("the emulator's 200 orders are expected to have issues")
	}
	w.page("imports, a task", "/counters/"+cid+"/imports")
	w.page("task, finished with issues", "/imports/"+tid)
	w.page("edit", "/imports/"+tid+"/edit", chromedp.WaitVisible(chromedp.ID("f-active")))
	saveNote("active task", false)
	must(t, chromedp.Do(ctx, toggle("f-active")), "switch off")
	saveNote("active task, switched off", false)
	w.page("delete", "/imports/"+tid+"/delete")
	// A counting of the task's own, stores chosen: the task page names them.
	own := []string{"complete", "delivery"}
	mainOnly := []string{crmemu.SiteMain}
	_, err = svc.Update(bg, acc, task.ID, tasks.Input{Counting: &tasks.CountingInput{StatusGroups: own, ExcludeStatuses: []string{"delivered"}}, Sites: &mainOnly})
	must(t, err, "an own counting")
	w.page("task, own counting", "/imports/"+tid)
	w.page("edit, own counting", "/imports/"+tid+"/edit", chromedp.WaitVisible(chromedp.ID("cg-complete")))
	w.page("orders", "/counters/"+cid+"/orders", chromedp.WaitVisible(chromedp.ID("chart")))
	w.page("orders, bad filters", "/counters/"+cid+"/orders?from=2025-13-45&to=tomorrow&include_deleted=maybe&import_id=x&cursor=garbage&counted=maybe&by=utm_term&sort=x")
	w.page("orders, not counted", "/counters/"+cid+"/orders?counted=false")
	w.page("orders, by campaign, sorted by orders", "/counters/"+cid+"/orders?by=utm_campaign&sort=orders")
	w.page("orders, nothing matches", "/counters/"+cid+"/orders?q=nothing-like-this")
	w.page("orders, none", "/counters/"+strconv.FormatInt(empty.ID, 10)+"/orders")

	// Order memory: an order with a history (a change, a deletion, a restoration), one without,
	// and the task's mapping versions compared — one that would restore, one today's rules
	// refuse.
	listed, _, err := st.Orders(bg, acc, shop.ID, store.OrderFilter{Limit: 2})
	must(t, err, "two orders")
	if len(listed) < 2 {
		t.Fatal("the walk needs two orders")
	}
	changed := listed[0]
	changed.Revenue, changed.Tags, changed.Hash = "123456.78", []string{"vip", "опт"}, changed.Hash+"-walk"
	for _, b := range []store.Batch{
		{Upserts: []store.OrderRow{changed}, Cause: store.SourceHistory},
		{Deletes: []int64{changed.CRMID}, Cause: store.SourceTrigger},
		{Upserts: []store.OrderRow{changed}, Mark: 1},
	} {
		b.AccountID, b.CounterID, b.TaskID = acc, shop.ID, task.ID
		_, err := st.ApplyBatch(bg, b)
		must(t, err, "an order's history")
	}
	w.page("order, with its history", "/counters/"+cid+"/orders/"+url.PathEscape(changed.OrderID), chromedp.WaitVisible(chromedp.ID("timeline")))
	w.page("order, never changed", "/counters/"+cid+"/orders/"+url.PathEscape(listed[1].OrderID), chromedp.WaitVisible(chromedp.ID("timeline-empty")))
	must(t, st.InTx(bg, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(bg, `INSERT INTO mapping_versions (account_id, task_id, version, mapping, created_at, created_by_id, created_by)
			VALUES ($1, $2, 100, $3, $4, 0, ''), ($1, $2, 101, $5, $4, 0, '')`, acc, task.ID, `{"comment":"","tags":"customerComment"}`,
			time.Now().UTC(), `{"revenue_net":"totalSumm"}`)
		return err
	}), "old mapping versions")
	// The task's mapping saved once more: its newest version is the current one again.
	current, err := st.Task(bg, acc, task.ID)
	must(t, err, "the task")
	current.Mapping = map[string]string{"comment": "customerComment"}
	_, err = st.UpdateTask(bg, current)
	must(t, err, "a newer mapping")
	w.page("task, a mapping version compared", "/imports/"+tid+"?version=100", chromedp.WaitVisible(chromedp.ID("mapping-diff")))
	w.page("task, a mapping version that no longer compiles", "/imports/"+tid+"?version=101&done=mapping_invalid",
		chromedp.WaitVisible(chromedp.ID("mapping-problems")))

	// A run RetailCRM failed with its own errors.
	s.Emu.InjectFault(crmemu.Fault500, 5, "/api/v5/orders")
	_, err = svc.RunNow(bg, acc, task.ID)
	must(t, err, "run now")
	failed, err := s.WaitRuns(bg, task.ID, time.Minute)
	must(t, err, "the failing run")
	if failed.Status != store.RunFailed {
		t.Fatalf("the run with RetailCRM's errors: %s", failed.Status)
	}
	w.page("task, failed run", "/imports/"+tid+"?run="+strconv.FormatInt(failed.ID, 10))

	// A run in progress: the page follows it, the script writes the numbers as the server does.
	paused := inactiveTask(t, e, shop, "Заказы, второй магазин", secretKey)
	run, err := st.CreateRun(bg, acc, paused.ID, store.RunManual)
	must(t, err, "a run")
	must(t, st.StartRun(bg, run.ID), "start it")
	progress := store.RunProgress{Phase: "backfill", Counts: store.Counts{Fetched: 12345, Created: 12000, Updated: 45, Invalid: 300, Requests: 130, Pages: 125},
		ProgressDone: 41, ProgressTotal: 180}
	must(t, st.UpdateRun(bg, run.ID, progress), "its progress")
	pid := strconv.FormatInt(paused.ID, 10)
	w.page("task, running", "/imports/"+pid, chromedp.WaitVisible(chromedp.ID("live")))
	progress.Counts.Fetched, progress.ProgressDone = 23456, 99
	must(t, st.UpdateRun(bg, run.ID, progress), "more progress")
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#live [data-k="fetched"]').textContent === "23,456" &&
		document.querySelector('#live [data-k="percent"]').textContent === "55%"`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		live, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("live").innerText`))
		t.Fatalf("the script's numbers in English: %v\n%s", err, live)
	}
	w.page("edit, inactive task", "/imports/"+pid+"/edit", chromedp.WaitVisible(chromedp.ID("f-active")))
	saveNote("inactive task", false)
	must(t, chromedp.Do(ctx, toggle("f-active")), "switch on")
	saveNote("inactive task, switched on", true)

	// A task RetailCRM stopped accepting: it needs attention.
	s.Emu.SetKey("old-key-0000", crmemu.FullAccess())
	old := inactiveTask(t, e, shop, "Заказы (старый ключ)", "old-key-0000")
	s.Emu.RemoveKey("old-key-0000")
	_, err = svc.RunNow(bg, acc, old.ID)
	must(t, err, "run the old key")
	_, err = s.WaitRuns(bg, old.ID, time.Minute)
	must(t, err, "the old key's run")
	if o, _ := st.Task(bg, acc, old.ID); o.Status != store.TaskNeedsAttention {
		t.Fatalf("the task with a removed key: %s", o.Status)
	}
	// A key that may not read RetailCRM's reference: the run says so once, about no order.
	noRef := crmemu.FullAccess()
	noRef.Scopes = slices.DeleteFunc(noRef.Scopes, func(s string) bool { return s == "reference_read" })
	s.Emu.SetKey("no-reference-0000", noRef)
	blind := inactiveTask(t, e, shop, "Заказы без справочников", "no-reference-0000")
	_, err = svc.RunNow(bg, acc, blind.ID)
	must(t, err, "run without the reference")
	if r, err := s.WaitRuns(bg, blind.ID, time.Minute); err != nil || r.IssuesTotal == 0 {
		t.Fatalf("the run without the reference: %+v %v", r, err)
	}
	w.page("task, reference unreadable", "/imports/"+strconv.FormatInt(blind.ID, 10))
	w.page("imports, needs attention", "/counters/"+cid+"/imports")
	w.page("task, needs attention", "/imports/"+strconv.FormatInt(old.ID, 10))
	w.page("home, needs attention", "/")
	w.page("audit", "/audit")

	// Webhooks: none; a URL refused; one added, its secret shown once; its page after a test
	// that went through and one that did not; a webhook switched off after failing for a day.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	hooks := "/counters/" + cid + "/webhooks"
	w.page("webhooks, none", hooks)
	w.visit("webhooks, address refused", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(hooks, lang)),
			fill(map[string]string{"#webhook-url": "ftp://hooks.example.com/x"}),
			uitest.Submit(chromedp.CSS(`form[action="`+hooks+`"] button`)),
			chromedp.WaitVisible(chromedp.ID("webhook-url-err")),
		)
	})
	w.visit("webhooks, added", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(hooks, lang)),
			fill(map[string]string{"#webhook-url": receiver.URL + "/orders-" + lang}),
			uitest.Submit(chromedp.CSS(`form[action="`+hooks+`"] button`)),
			chromedp.WaitVisible(chromedp.ID("webhook-secret")),
		)
	})
	list, err := st.Webhooks(bg, acc, shop.ID)
	must(t, err, "the webhooks")
	hook := "/webhooks/" + strconv.FormatInt(list[0].ID, 10)
	w.visit("webhook, test delivered", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(hook, lang)),
			uitest.Submit(chromedp.CSS(`form[action="`+hook+`/test"] button`)),
			chromedp.WaitVisible(chromedp.ID("test-result")),
		)
	})
	downURL := receiver.URL + "/down"
	down, _, err := svc.CreateWebhook(bg, acc, shop.ID, tasks.WebhookInput{URL: &downURL})
	must(t, err, "a webhook whose receiver is down")
	downPath := "/webhooks/" + strconv.FormatInt(down.ID, 10)
	w.visit("webhook, test failed", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(downPath, lang)),
			uitest.Submit(chromedp.CSS(`form[action="`+downPath+`/test"] button`)),
			chromedp.WaitVisible(chromedp.ID("test-result")),
		)
	})
	d, err := st.NextDelivery(bg, store.Webhook{ID: down.ID, AccountID: acc, CounterID: shop.ID}, 100, "msg_walk",
		func([]store.OrderRow) ([]byte, error) { return []byte(`{}`), nil })
	must(t, err, "a delivery")
	_, err = st.RecordAttempt(bg, *d, store.AttemptResult{HTTPStatus: 503, Error: locale.M("webhook_status", "status", 503), At: time.Now()},
		time.Time{}, locale.M("webhook_gave_up", "hours", 24, "last", locale.M("webhook_status", "status", 503)))
	must(t, err, "give the delivery up")
	w.page("webhook, switched off", downPath)
	w.page("webhooks, one switched off", hooks)

	// Alerts: none; a channel added with its secret; a test that did not go; an invalid form;
	// the incidents so far (the task that needs attention).
	w.page("alerts, none", "/alerts")
	w.visit("alerts, invalid", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/alerts", lang)),
			fill(map[string]string{"#ch-address": "not an address"}),
			uitest.Submit(chromedp.CSS(`form[action="/alerts/channels"] button`)),
			chromedp.WaitVisible(chromedp.ID("ch-address-err")),
		)
	})
	w.visit("alerts, channel added", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/alerts", lang)),
			chromedp.Click(chromedp.ID("ch-type-webhook"), chromedp.NodeVisible),
			fill(map[string]string{"#ch-url": receiver.URL + "/down"}),
			uitest.Submit(chromedp.CSS(`form[action="/alerts/channels"] button`)),
			chromedp.WaitVisible(chromedp.ID("channel-secret")),
		)
	})
	chans, err := st.AlertChannels(bg, acc)
	must(t, err, "the alert channels")
	testPath := "/alerts/channels/" + strconv.FormatInt(chans[0].ID, 10) + "/test"
	w.visit("alerts, test failed", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/alerts", lang)),
			uitest.Submit(chromedp.CSS(`form[action="`+testPath+`"] button`)),
			chromedp.WaitVisible(chromedp.ID("test-result")),
		)
	})
	w.page("alerts, channels and incidents", "/alerts")

	w.page("not found", "/counters/999999/orders")
	w.page("no such page", "/no/such/page")
	w.visit("stale form", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/imports/"+tid+"/delete", lang)),
			fill(map[string]string{`form[action$="/delete"] input[name="csrf"]`: "stale"}),
			uitest.Submit(chromedp.CSS(`form[action="/imports/`+tid+`/delete"] button`)),
			chromedp.WaitVisible(chromedp.CSS("main h1")),
		)
	})
	if _, err := st.Task(bg, acc, task.ID); err != nil {
		t.Fatalf("a stale form deleted the task: %v", err)
	}

	walkPeople(t, w, e, tid)

	t.Logf("read %d pages", w.pages)
	for _, l := range w.leaks {
		t.Error(l)
	}
	e.noSecret()
}

// inactiveTask saves a task that does not run by itself.
func inactiveTask(t *testing.T, e *env, c store.Counter, name, key string) store.Task {
	t.Helper()
	active, freq, u := false, 3, e.srv.CRM
	task, err := e.srv.App.Tasks.Create(access.System(context.Background()), e.srv.AccountID, c.ID, tasks.Input{Name: &name, Active: &active,
		FrequencyHours: &freq, RetailCRM: &tasks.RetailCRMInput{URL: &u, APIKey: &key}})
	must(t, err, "create "+name)
	return task
}

// walkPeople walks the pages of people and access, signed in as the owner and then not: the
// people page (an invitation made, one refused), a removal to confirm, the account page (a wrong
// current password), two-factor enrolment (a wrong code, the recovery codes), an invitation link
// (signed in, a common password, unknown), single sign-on when it is off, the second step of a
// sign-in (ended, asked for, a wrong code), and what a viewer sees and is refused.
func walkPeople(t *testing.T, w *walker, e *env, tid string) {
	t.Helper()
	s, ctx := e.srv, w.ctx
	bg := access.System(context.Background())
	st, acc := s.App.Store, s.AccountID
	viewer, _, err := st.AddUserWithRole(bg, "viewer@example.com", uitest.Password, "Shop", true, access.Viewer)
	must(t, err, "a viewer")

	w.page("people", "/users")
	w.visit("people, invitation made", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/users", lang)),
			chromedp.SendKeys(chromedp.ID("invite-email"), "colleague@example.com"),
			uitest.Submit(chromedp.CSS(`form[action="/users"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("invite-link")),
		)
	})
	w.visit("people, invitation refused", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/users", lang)),
			chromedp.SendKeys(chromedp.ID("invite-email"), uitest.Email),
			uitest.Submit(chromedp.CSS(`form[action="/users"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("invite-email-err")),
		)
	})
	w.page("remove a user", "/users/"+itoa(viewer.ID)+"/remove")
	w.page("account", "/account")
	w.visit("account, wrong password", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/account", lang)),
			chromedp.SendKeys(chromedp.ID("current_password"), "not my password"),
			chromedp.SendKeys(chromedp.ID("password"), "a brand new password"),
			chromedp.SendKeys(chromedp.ID("password_confirm"), "a brand new password"),
			uitest.Submit(chromedp.CSS(`form[action="/account/password"] button`)),
			chromedp.WaitVisible(chromedp.ID("current_password-err")),
		)
	})
	w.page("two-factor enrolment", "/account/2fa", chromedp.WaitVisible(chromedp.ID("twofa-qr")))
	w.visit("two-factor enrolment, wrong code", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/account/2fa", lang)),
			chromedp.SendKeys(chromedp.ID("code"), "000000"),
			uitest.Submit(chromedp.CSS(`form[action="/account/2fa"] button`)),
			chromedp.WaitVisible(chromedp.ID("code-err")),
		)
	})
	// The recovery codes, once per language: each visit enrols anew (the app reads the secret
	// shown), and the second factor is turned off again for the next.
	w.visit("two-factor recovery codes", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Func(func(context.Context, *chromedp.Target) error { return st.DisableTOTP(bg, s.UserID) }),
			chromedp.Navigate(s.URL+withLang("/account/2fa", lang)),
			chromedp.WaitVisible(chromedp.ID("twofa-secret")),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				secret, err := chromedp.Text(chromedp.ID("twofa-secret"), chromedp.NodeVisible)(ctx, tg)
				if err != nil {
					return err
				}
				code, err := totp.GenerateCode(strings.ReplaceAll(secret, " ", ""), time.Now())
				if err != nil {
					return err
				}
				_, err = chromedp.SendKeys(chromedp.ID("code"), code)(ctx, tg)
				return err
			}),
			uitest.Submit(chromedp.CSS(`form[action="/account/2fa"] button`)),
			chromedp.WaitVisible(chromedp.ID("recovery-codes")),
		)
	})
	must(t, st.DisableTOTP(bg, s.UserID), "turn the owner's second factor off")

	inv, err := s.App.People.Invite(bg, acc, people.InviteInput{Email: ptrTo("new@example.com")}, s.URL, "ru")
	must(t, err, "an invitation")
	link := strings.TrimPrefix(inv.Link, s.URL)
	w.page("invitation, signed in", link)
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.URL+"/"), uitest.Submit(chromedp.CSS(`form[action="/logout"] button`))), "log out")
	w.page("invitation", link, chromedp.WaitVisible(chromedp.ID("password")))
	w.visit("invitation, common password", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang(link, lang)),
			chromedp.SendKeys(chromedp.ID("password"), "password1"),
			chromedp.SendKeys(chromedp.ID("password_confirm"), "password1"),
			uitest.Submit(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("password-err")),
		)
	})
	w.page("invitation, unknown link", "/invite/oiv_nothing-here")
	w.page("single sign-on, off", "/auth/oidc/callback?state=x&code=y")
	w.page("second step, none pending", "/login/2fa")

	// A user with two-factor authentication: the second step, and a wrong code.
	twofa, _, err := st.AddUserWithRole(bg, "twofa@example.com", uitest.Password, "Shop", true, access.Editor)
	must(t, err, "a user with two-factor authentication")
	as := access.With(context.Background(), twofa.ID, twofa.AccountID, twofa.Role)
	en, err := s.App.People.BeginTOTP(as)
	must(t, err, "enrol")
	code, _ := totp.GenerateCode(en.Secret, time.Now())
	_, err = s.App.People.ConfirmTOTP(as, code)
	must(t, err, "confirm")
	signIn := func(lang, email string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+withLang("/login", lang)),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.SendKeys(chromedp.ID("password"), uitest.Password),
			uitest.Submit(chromedp.CSS(`form[action="/login"] button`)),
		)
	}
	w.visit("second step", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(signIn(lang, "twofa@example.com"), chromedp.WaitVisible(chromedp.ID("code")))
	})
	w.visit("second step, wrong code", func(lang string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(signIn(lang, "twofa@example.com"), chromedp.WaitVisible(chromedp.ID("code")),
			chromedp.SendKeys(chromedp.ID("code"), "000000"),
			uitest.Submit(chromedp.CSS(`form[action="/login/2fa"] button`)),
			chromedp.WaitVisible(chromedp.ID("code-form-err")),
		)
	})

	// A viewer: the pages without what the role may not do, and a refusal.
	must(t, chromedp.Do(ctx, signIn("ru", "viewer@example.com"), chromedp.WaitVisible(chromedp.CSS("main"))), "sign in as the viewer")
	w.page("home, as a viewer", "/")
	w.page("task, as a viewer", "/imports/"+tid)
	w.page("forbidden", "/imports/"+tid+"/edit")
}

func ptrTo(s string) *string { return &s }
