package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var external = regexp.MustCompile(`(?:src|href|action)="(?:https?:)?//`)

// Every page renders for its owner, in Russian by default, with no gap in the catalogues, and
// carries the security headers; the English switch sticks.
func TestPagesRender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 120)
	e.login()
	c := e.counter("Интернет-магазин")
	task := e.task(c, "Заказы")
	cid, tid := itoa(c.ID), itoa(task.ID)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Счётчики", "Интернет-магазин", "Задач импорта: 1, активных: 1", "Новый счётчик"}},
		{"/counters/" + cid + "/settings", []string{"Настройки", "Общие", "Данные", "Импорт заказов"}},
		{"/counters/" + cid + "/imports", []string{"Настройки Данные Импорт заказов", "Новое подключение RetailCRM", "Заказы", "Работает", "Активна", "каждый час", "новых 120", "Запустить сейчас"}},
		{"/counters/" + cid + "/imports/new", []string{"Новое подключение RetailCRM", "Администрирование → Интеграция → Ключи доступа к API", "«Ключ»",
			"Проверить подключение", "Частота импорта", "ID Заказа *", "Дата заказа *", "Идентификатор заказа в системе CRM клиента.", "Теги заказов.", "Предпросмотр", "Сохранить"}},
		{"/imports/" + tid, []string{"Заказы", "Запуск #", "История запусков", "Пересинхронизировать", "Удалить", "Получено заказов",
			"Учитываются все заказы, кроме отменённых (по умолчанию)", "Магазины все, которые может читать ключ"}},
		{"/imports/" + tid + "/edit", []string{"Изменить задачу «Заказы»", "Сохранён ключ …", "Оставьте поле пустым"}},
		{"/imports/" + tid + "/delete", []string{"Удалить задачу «Заказы»?", "Уже импортированные заказы останутся в счётчике."}},
		{"/counters/" + cid + "/orders", []string{"Заказы", "Скачать CSV", "Заказов", "Не учтено:", "С ID сеанса", "Источники трафика", "Заказы, доход и прибыль по дням",
			"Следующие заказы →"}},
	} {
		p := e.get(tc.path)
		if p.status != 200 {
			t.Errorf("%s: status %d", tc.path, p.status)
			continue
		}
		visible := text(p.body)
		for _, w := range tc.want {
			if !strings.Contains(visible, w) {
				t.Errorf("%s: %q not on the page", tc.path, w)
			}
		}
		if m := regexp.MustCompile(`\[[a-z_]+\.[a-z_.]+\]`).FindString(p.body); m != "" {
			t.Errorf("%s: a missing catalogue entry shows as %s", tc.path, m)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
		if p.header.Get("Cache-Control") != "no-store" || p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", tc.path, p.header)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || external.MatchString(p.body) {
			t.Errorf("%s: inline script/style or an external resource", tc.path)
		}
	}

	// English on request, remembered.
	p := e.get("/counters/" + cid + "/imports?lang=en")
	if !strings.Contains(text(p.body), "New RetailCRM connection") || !strings.Contains(p.body, `<html lang="en">`) {
		t.Fatalf("English: %s", text(p.body))
	}
	if p := e.get("/counters/" + cid + "/orders"); !strings.Contains(text(p.body), "Download CSV") {
		t.Fatal("the language choice was not remembered")
	}
	if p := e.get("/?lang=ru"); !strings.Contains(text(p.body), "Счётчики") {
		t.Fatal("back to Russian")
	}
	if p := e.get("/static/app.js"); p.status != 200 || !strings.Contains(p.header.Get("Content-Type"), "javascript") {
		t.Fatalf("script: %d %s", p.status, p.header.Get("Content-Type"))
	}
	if p := e.get("/no/such/page"); p.status != 404 || !strings.Contains(text(p.body), "Страница не найдена") {
		t.Fatalf("unknown page: %d", p.status)
	}
	e.noSecret()
}

// Another account's counters and tasks do not exist for this user: every page answers 404,
// exactly as for ids that were never used; an anonymous visitor is sent to log in.
func TestPagesTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	c := e.counter("Mine")
	task := e.task(c, "Mine")
	ctx := context.Background()
	if _, _, err := e.srv.App.Store.AddUser(ctx, "other@example.com", "another long password", "Other", false); err != nil {
		t.Fatal(err)
	}
	other := newClient()
	if p := e.postWith(other, "/login", url.Values{"email": {"other@example.com"}, "password": {"another long password"}}); p.status != http.StatusSeeOther {
		t.Fatalf("other login: %d", p.status)
	}
	cid, tid := itoa(c.ID), itoa(task.ID)
	gets := []string{"/counters/" + cid, "/counters/" + cid + "/settings", "/counters/" + cid + "/imports", "/counters/" + cid + "/imports/new",
		"/counters/" + cid + "/orders", "/imports/" + tid, "/imports/" + tid + "/edit", "/imports/" + tid + "/delete",
		"/imports/" + tid + "?run=1", "/counters/999999/orders", "/imports/abc"}
	for _, path := range gets {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if p := e.do(other, req); p.status != http.StatusNotFound || strings.Contains(p.body, "Mine") {
			t.Errorf("other account GET %s: %d", path, p.status)
		}
		req, _ = http.NewRequest("GET", e.srv.URL+path, nil)
		if p := e.do(newClient(), req); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login?next=") {
			t.Errorf("anonymous GET %s: %d → %q", path, p.status, p.location)
		}
	}
	token := csrfMeta.FindStringSubmatch(e.getWith(other, "/").body)[1]
	for _, path := range []string{"/imports/" + tid + "/run", "/imports/" + tid + "/active", "/imports/" + tid + "/resync",
		"/imports/" + tid + "/delete", "/imports/" + tid + "/edit", "/counters/" + cid + "/imports/new"} {
		p := e.postWith(other, path, url.Values{"csrf": {token}, "active": {"false"}, "action": {"save"}})
		if p.status != http.StatusNotFound {
			t.Errorf("other account POST %s: %d", path, p.status)
		}
	}
	if _, err := e.srv.App.Store.Task(ctx, e.srv.AccountID, task.ID); err != nil {
		t.Fatalf("the task must survive another account's requests: %v", err)
	}
	runs, _ := e.srv.App.Store.Runs(ctx, e.srv.AccountID, task.ID, 10)
	if len(runs) != 1 {
		t.Fatalf("%d runs: another account started one", len(runs))
	}
}

func (e *env) getWith(c *http.Client, path string) page {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	return e.do(c, req)
}

func TestCreateCounter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.login()
	token := e.csrf()
	p := e.post("/counters", url.Values{"csrf": {token}, "name": {"  "}, "timezone": {"Mars/Olympus"}})
	if p.status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid counter: %d", p.status)
	}
	if got := fieldError(t, p.body, "counter-name"); got != "Введите название счётчика." {
		t.Errorf("name error %q", got)
	}
	if got := fieldError(t, p.body, "counter-tz"); !strings.Contains(got, "не часовой пояс") {
		t.Errorf("timezone error %q", got)
	}
	p = e.post("/counters", url.Values{"csrf": {token}, "name": {"Магазин"}, "timezone": {"Asia/Yekaterinburg"}})
	if p.status != http.StatusSeeOther || !regexp.MustCompile(`^/counters/\d+/settings\?done=counter_created$`).MatchString(p.location) {
		t.Fatalf("create: %d → %q", p.status, p.location)
	}
	p = e.get(p.location)
	if !strings.Contains(text(p.body), "Счётчик создан.") || !strings.Contains(text(p.body), "Екатеринбург (UTC+5)") {
		t.Fatalf("settings after create: %s", text(p.body))
	}
	cs, _ := e.srv.App.Store.Counters(context.Background(), e.srv.AccountID)
	if len(cs) != 1 || cs[0].Name != "Магазин" || cs[0].Timezone != "Asia/Yekaterinburg" {
		t.Fatalf("counters %+v", cs)
	}
}
