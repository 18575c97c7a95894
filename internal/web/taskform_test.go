package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/crmemu"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
)

// formValues is the connection form as a browser without JavaScript sends it: the defaults
// of the mapping table unless changed.
func formValues(csrf, action, name, crmURL, key string, mapping_ map[string]string) url.Values {
	v := url.Values{"csrf": {csrf}, "action": {action}, "name": {name}, "active": {"true"}, "type": {"retailcrm"},
		"frequency_hours": {"1"}, "retailcrm_url": {crmURL}, "retailcrm_api_key": {key}}
	for field, expr := range mapping.Default() {
		v.Set("map_"+field, expr)
	}
	for field, expr := range mapping_ {
		if strings.HasPrefix(expr, "=") {
			v.Set("map_"+field, "__expr")
			v.Set("expr_"+field, strings.TrimPrefix(expr, "="))
			continue
		}
		v.Set("map_"+field, expr)
	}
	return v
}

var hiddenSealed = regexp.MustCompile(`name="key_sealed" value="([^"]*)"`)
var hiddenCustom = regexp.MustCompile(`name="custom_fields" id="custom-fields" value="([^"]*)"`)

// The whole «Новое подключение RetailCRM» flow without JavaScript: check, preview and save are
// form posts, every error is shown in words next to its field, and the key is never shown.
func TestConnectionFormWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 60)
	e.login()
	c := e.counter("Shop")
	path := "/counters/" + itoa(c.ID) + "/imports/new"
	token := e.csrf()

	// Check with a wrong key: RetailCRM's answer in words, next to the key.
	p := e.post(path, formValues(token, "check", "", e.srv.CRM, "wrong-key-1234", nil))
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("check with a wrong key: %d", p.status)
	}
	if got := fieldError(t, p.body, "f-key"); !strings.Contains(got, "RetailCRM не принял ключ API") || !strings.Contains(got, "Wrong \"apiKey\" value.") {
		t.Fatalf("wrong key error: %q", got)
	}
	if strings.Contains(p.body, "wrong-key-1234") || hiddenSealed.FindStringSubmatch(p.body)[1] != "" {
		t.Fatal("a refused key must be neither shown nor carried")
	}
	// An address where no RetailCRM answers: the error is next to the address.
	p = e.post(path, formValues(token, "check", "", "http://127.0.0.1:1", secretKey, nil))
	if got := fieldError(t, p.body, "f-url"); !strings.Contains(got, "Не удалось связаться с RetailCRM") {
		t.Fatalf("unreachable address: %q\n%s", got, text(p.body)[:1500])
	}

	// Check with the right key: what RetailCRM said, the custom fields offered, the session
	// and user id suggested; the key is carried sealed, not shown.
	p = e.post(path, formValues(token, "check", "", e.srv.CRM, secretKey, nil))
	visible := text(p.body)
	for _, want := range []string{"Подключение работает.", "чтение заказов", "Москва (UTC+3)", "Пользовательских полей заказа 12",
		"Ключ …21e8 уже введён", "Предложено по названию пользовательского поля"} {
		if !strings.Contains(visible, want) {
			t.Errorf("after check: %q missing", want)
		}
	}
	if !regexp.MustCompile(`<select id="map-session_id"[\s\S]*?<option value="customFields.k50_sid" translate="no" selected>`).MatchString(p.body) {
		t.Error("the session id field is not pre-set to the suggested custom field")
	}
	sealed := hiddenSealed.FindStringSubmatch(p.body)[1]
	custom := hiddenCustom.FindStringSubmatch(p.body)[1]
	if sealed == "" || custom == "" {
		t.Fatal("the checked key and the custom fields must be carried to the next post")
	}

	// Preview with the carried key and an invalid expression: the error is next to its field.
	v := formValues(token, "preview", "", e.srv.CRM, "", map[string]string{"session_id": "customFields.k50_sid", "profit": "=totalSumm -"})
	v.Set("key_sealed", unescape(sealed))
	v.Set("custom_fields", unescape(custom))
	p = e.post(path, v)
	if got := fieldError(t, p.body, "map-profit"); !strings.HasPrefix(got, "Ошибка в выражении (строка 1, символ") {
		t.Fatalf("invalid expression: %q", got)
	}
	// A corrected preview shows the newest orders as they would be stored.
	v.Set("expr_profit", "totalSumm - purchaseSumm")
	p = e.post(path, v)
	if p.status != 200 || strings.Count(p.body, "<tr") < 11 || !strings.Contains(text(p.body), "Заказов: 10.") {
		t.Fatalf("preview: %d %s", p.status, text(p.body))
	}
	if !strings.Contains(p.body, `<option value="customFields.k50_uid"`) {
		t.Error("the custom fields of the check are gone after the preview post")
	}

	// Save with a missing required mapping and no name: each error next to its field, the
	// summary at the top links to them.
	v.Set("action", "save")
	v.Set("name", "")
	v.Set("map_order_id", "__expr")
	v.Set("expr_order_id", "")
	p = e.post(path, v)
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("save with errors: %d", p.status)
	}
	if got := fieldError(t, p.body, "f-name"); got != "Введите название задачи, например «Заказы»." {
		t.Errorf("name: %q", got)
	}
	if got := fieldError(t, p.body, "map-order_id"); got != "Обязательное поле: выберите, откуда брать значение." {
		t.Errorf("order id: %q", got)
	}
	if !strings.Contains(p.body, `<a href="#map-order_id">`) || !strings.Contains(p.body, `<a href="#f-name">`) {
		t.Error("the error summary does not link to the fields")
	}
	tasks, _ := e.srv.App.Store.Tasks(context.Background(), e.srv.AccountID, c.ID)
	if len(tasks) != 0 {
		t.Fatal("an invalid form saved a task")
	}

	// A typed expression that contradicts the chosen field is not guessed at.
	v.Set("name", "Заказы")
	v.Set("map_order_id", "id")
	v.Set("expr_order_id", "number")
	p = e.post(path, v)
	if got := fieldError(t, p.body, "map-order_id"); !strings.Contains(got, "Выберите «Своё выражение…»") {
		t.Errorf("conflicting choice and expression: %q", got)
	}

	// Save: the task starts importing at once.
	v.Set("expr_order_id", "")
	p = e.post(path, v)
	if p.status != http.StatusSeeOther || !regexp.MustCompile(`^/imports/\d+\?done=task_saved$`).MatchString(p.location) {
		t.Fatalf("save: %d → %q %s", p.status, p.location, text(p.body))
	}
	tasks, _ = e.srv.App.Store.Tasks(context.Background(), e.srv.AccountID, c.ID)
	if len(tasks) != 1 || tasks[0].Name != "Заказы" || !tasks[0].Active || tasks[0].CRMKeyHint != "…21e8" {
		t.Fatalf("saved: %+v", tasks)
	}
	spec := tasks[0].Mapping
	if spec["session_id"] != "customFields.k50_sid" || spec["profit"] != "totalSumm - purchaseSumm" || len(spec) != 2 {
		t.Fatalf("stored mapping %v: only the user's own choices, defaults left to follow the defaults", spec)
	}
	run, err := e.srv.WaitRuns(context.Background(), tasks[0].ID, time.Minute)
	if err != nil || (run.Status != store.RunSucceeded && run.Status != store.RunSucceededWithWarnings) {
		t.Fatalf("the first run: %+v %v", run, err)
	}
	if p := e.get(p.location); !strings.Contains(text(p.body), "Задача сохранена.") {
		t.Fatal("no saved notice on the task page")
	}
	e.noSecret()
}

func unescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#39;", "'").Replace(s)
}

// Editing uses the same page: the key is never displayed, can stay or be replaced; pause,
// resume, run now, re-sync and delete do what they say, and a deleted task's orders stay.
func TestEditAndTaskActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40)
	e.login()
	c := e.counter("Shop")
	task := e.task(c, "Заказы")
	ctx := context.Background()
	st := e.srv.App.Store
	tid := itoa(task.ID)
	token := e.csrf()

	p := e.get("/imports/" + tid + "/edit")
	if !strings.Contains(text(p.body), "Сохранён ключ …21e8") || !strings.Contains(p.body, `name="retailcrm_api_key" type="password" value=""`) {
		t.Fatalf("edit page: %s", text(p.body))
	}

	// The URL changes but no key is given: it must be entered again.
	v := formValues(token, "save", "Заказы", "http://127.0.0.1:9/", "", nil)
	p = e.post("/imports/"+tid+"/edit", v)
	if got := fieldError(t, p.body, "f-key"); got != "Адрес аккаунта изменился — введите ключ API этого аккаунта." {
		t.Fatalf("new URL without a key: %q", got)
	}
	// Rename and change frequency, key left empty: the stored key stays.
	v = formValues(token, "save", "Заказы магазина", e.srv.CRM, "", nil)
	v.Set("frequency_hours", "6")
	if p = e.post("/imports/"+tid+"/edit", v); p.status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", p.status, text(p.body))
	}
	edited, _ := st.Task(ctx, e.srv.AccountID, task.ID)
	if edited.Name != "Заказы магазина" || edited.FrequencyHours != 6 || edited.CRMKeySealed != task.CRMKeySealed {
		t.Fatalf("edited: %+v", edited)
	}
	// Check with the stored key works without typing it.
	if p = e.post("/imports/"+tid+"/edit", formValues(token, "check", "x", e.srv.CRM, "", nil)); !strings.Contains(text(p.body), "Подключение работает.") {
		t.Fatalf("check with the stored key: %s", text(p.body))
	}
	// Replace the key with one RetailCRM refuses: nothing changes.
	if p = e.post("/imports/"+tid+"/edit", formValues(token, "save", "Заказы магазина", e.srv.CRM, "not-the-key-0000", nil)); fieldError(t, p.body, "f-key") == "" {
		t.Fatalf("a refused new key: %d", p.status)
	}

	// Pause from the list, resume from the task page.
	back := "/counters/" + itoa(c.ID) + "/imports"
	p = e.post("/imports/"+tid+"/active", url.Values{"csrf": {token}, "active": {"false"}, "back": {back}})
	if p.status != http.StatusSeeOther || p.location != back+"?done=paused" {
		t.Fatalf("pause: %d → %q", p.status, p.location)
	}
	paused, _ := st.Task(ctx, e.srv.AccountID, task.ID)
	if paused.Active || paused.NextRunAt != nil {
		t.Fatalf("paused: %+v", paused)
	}
	if p := e.get(back); !strings.Contains(text(p.body), "Выключена") || !strings.Contains(text(p.body), "приостановлена") {
		t.Fatal("the list does not show the pause")
	}
	p = e.post("/imports/"+tid+"/active", url.Values{"csrf": {token}, "active": {"true"}, "back": {"//evil.example/"}})
	if p.status != http.StatusSeeOther || p.location != "/imports/"+tid+"?done=resumed" {
		t.Fatalf("resume: %d → %q", p.status, p.location)
	}
	if _, err := e.srv.WaitRuns(ctx, task.ID, time.Minute); err != nil {
		t.Fatal(err)
	}

	// Run now opens the task page on the new run.
	p = e.post("/imports/"+tid+"/run", url.Values{"csrf": {token}})
	m := regexp.MustCompile(`^/imports/` + tid + `\?run=(\d+)&done=run_queued$`).FindStringSubmatch(p.location)
	if m == nil {
		t.Fatalf("run now: %d → %q", p.status, p.location)
	}
	if _, err := e.srv.WaitRuns(ctx, task.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if p := e.get(p.location); !strings.Contains(text(p.body), "Запуск #"+m[1]) || !strings.Contains(text(p.body), "вручную") {
		t.Fatalf("task page of the run: %s", text(p.body))
	}
	p = e.post("/imports/"+tid+"/resync", url.Values{"csrf": {token}})
	if !strings.HasSuffix(p.location, "done=resync_queued") {
		t.Fatalf("resync: %q", p.location)
	}
	if _, err := e.srv.WaitRuns(ctx, task.ID, time.Minute); err != nil {
		t.Fatal(err)
	}

	// Delete asks first; the orders stay.
	before, _, _ := st.Orders(ctx, e.srv.AccountID, c.ID, store.OrderFilter{Limit: 1000})
	if p := e.get("/imports/" + tid + "/delete"); p.status != 200 || !strings.Contains(text(p.body), "Удалить задачу «Заказы магазина»?") {
		t.Fatalf("confirmation: %d", p.status)
	}
	p = e.post("/imports/"+tid+"/delete", url.Values{"csrf": {token}})
	if p.status != http.StatusSeeOther || p.location != back+"?done=task_deleted" {
		t.Fatalf("delete: %d → %q", p.status, p.location)
	}
	after, _, _ := st.Orders(ctx, e.srv.AccountID, c.ID, store.OrderFilter{Limit: 1000})
	if len(before) == 0 || len(after) != len(before) {
		t.Fatalf("orders before %d, after delete %d: they must stay", len(before), len(after))
	}
	if p := e.get("/imports/" + tid); p.status != http.StatusNotFound {
		t.Fatalf("deleted task page: %d", p.status)
	}
	if p := e.get(back + "?done=task_deleted"); !strings.Contains(text(p.body), "Импортированные заказы остались") {
		t.Fatal("no deleted notice")
	}
	e.noSecret()
}

// The task page: a run's issues with order, field, value and reason; a run that is still
// going is followed live (the script polls the API; without it the page refreshes itself);
// a task RetailCRM stopped says why.
func TestTaskPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 200)
	e.login()
	c := e.counter("Shop")
	task := e.task(c, "Заказы")
	ctx := context.Background()
	st := e.srv.App.Store
	last, _ := st.LastRun(ctx, e.srv.AccountID, task.ID)
	if last.IssuesTotal == 0 {
		t.Fatal("the emulator's 200 orders are expected to have some malformed phones or emails")
	}
	p := e.get("/imports/" + itoa(task.ID))
	visible := text(p.body)
	is := last.Issues[0]
	for _, want := range []string{"Замечания к заказам", is.OrderNumber, is.Value, locale.For("ru").Msg(is.Msg), "Показано " + itoa(int64(len(last.Issues))) + " из " + itoa(last.IssuesTotal)} {
		if !strings.Contains(visible, want) {
			t.Errorf("issues: %q missing", want)
		}
	}
	if strings.Contains(p.body, `id="live"`) || strings.Contains(p.body, `http-equiv="refresh"`) {
		t.Error("a finished run is not followed")
	}

	// A queued run (no worker has it yet) is shown live.
	queued, err := st.CreateRun(ctx, e.srv.AccountID, task.ID, store.RunManual)
	if err != nil {
		t.Fatal(err)
	}
	p = e.get("/imports/" + itoa(task.ID))
	if !strings.Contains(p.body, `id="live" class="live" data-run="`+itoa(queued.ID)+`"`) || !strings.Contains(p.body, `<noscript><meta http-equiv="refresh" content="5"></noscript>`) ||
		!strings.Contains(text(p.body), "ждёт свободного исполнителя") {
		t.Fatalf("queued run not live: %s", text(p.body))
	}
	if p := e.get("/imports/" + itoa(task.ID) + "?run=" + itoa(last.ID)); !strings.Contains(p.body, `aria-current="true">#`+itoa(last.ID)) {
		t.Error("?run= does not select the run")
	}
	if p := e.get("/imports/" + itoa(task.ID) + "?run=999999"); p.status != http.StatusNotFound {
		t.Errorf("unknown run: %d", p.status)
	}

	// RetailCRM stops accepting the key: the task needs attention, the reason is shown.
	other := e.task(c, "Второй ключ")
	e.srv.Emu.RemoveKey(secretKey)
	if _, err := e.srv.App.Tasks.RunNow(access.System(ctx), e.srv.AccountID, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.WaitRuns(ctx, other.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	p = e.get("/counters/" + itoa(c.ID) + "/imports")
	if !strings.Contains(text(p.body), "Требует внимания") || !strings.Contains(text(p.body), "RetailCRM не принял ключ API") {
		t.Fatalf("needs attention: %s", text(p.body))
	}
	e.srv.Emu.SetKey(secretKey, crmemu.FullAccess())
}

var saveNote = regexp.MustCompile(`<span class="muted small" id="save-note"[^>]*>`)

// Without JavaScript the form promises an import only where saving starts one: a new active
// task, or a paused task switched on; never the edit page of a task that is already active.
// The help under Активность says what is true on each page.
func TestSaveNoteFollowsTheSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20)
	e.login()
	c := e.counter("Shop")
	task := e.task(c, "Заказы")
	tid := itoa(task.ID)
	token := e.csrf()
	shown := func(what string, p page, want bool) {
		t.Helper()
		tag := saveNote.FindString(p.body)
		if tag == "" {
			t.Fatalf("%s: no save note (%d)", what, p.status)
		}
		if got := !strings.Contains(tag, " hidden"); got != want {
			t.Errorf("%s: «После сохранения начнётся импорт» shown %v, want %v", what, got, want)
		}
	}
	ru := locale.For("ru")

	p := e.get("/counters/" + itoa(c.ID) + "/imports/new")
	shown("new form", p, true)
	if !strings.Contains(text(p.body), ru.T("form.active_help")) {
		t.Error("the new form does not say that an active task imports at once")
	}
	p = e.get("/imports/" + tid + "/edit")
	shown("edit form of an active task", p, false)
	if strings.Contains(text(p.body), ru.T("form.active_help")) || !strings.Contains(text(p.body), ru.T("form.active_help_edit")) {
		t.Error("the edit form's help under Активность promises an import on save")
	}
	// An invalid post of the form switched off, then on: the note follows the switch.
	v := formValues(token, "save", "", e.srv.CRM, "", nil)
	v.Del("active")
	shown("active task switched off", e.post("/imports/"+tid+"/edit", v), false)

	off := url.Values{"csrf": {token}, "active": {"false"}, "back": {"/imports/" + tid}}
	if p := e.post("/imports/"+tid+"/active", off); p.status != http.StatusSeeOther {
		t.Fatalf("pause: %d", p.status)
	}
	shown("edit form of a paused task", e.get("/imports/"+tid+"/edit"), false)
	v.Set("active", "true")
	shown("paused task switched on", e.post("/imports/"+tid+"/edit", v), true)
}
