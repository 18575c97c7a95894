package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var triggerInput = regexp.MustCompile(`id="trigger-url"[^>]*value="([^"]+)"`)

// The task page shows how current its orders are and the trigger URL with the Russian steps
// that set it up in RetailCRM; replacing the URL makes the old one unknown. The orders page
// says «Данные актуальны на 14:05 (только что)».
func TestTriggerAndFreshnessPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30)
	e.login()
	c := e.counter("Магазин")
	task := e.task(c, "Заказы")
	taskPage := "/imports/" + strconv.FormatInt(task.ID, 10)

	p := e.get(taskPage)
	m := triggerInput.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		t.Fatalf("task page %d without the trigger URL: %s", p.status, text(p.body))
	}
	old := m[1]
	if !strings.HasPrefix(old, e.srv.URL+"/hooks/retailcrm/") {
		t.Errorf("trigger URL %q", old)
	}
	body := text(p.body)
	for _, want := range []string{"Триггер RetailCRM", "«Администрирование → Триггеры»", "«Изменение заказа»", "«HTTP-запрос»",
		"Актуальность данных", "Данные актуальны на", "Запросов к RetailCRM сегодня"} {
		if !strings.Contains(body, want) {
			t.Errorf("the task page lacks %q", want)
		}
	}
	if resp := call(t, old); resp != http.StatusAccepted {
		t.Errorf("the trigger URL answers %d", resp)
	}

	p = e.post(taskPage+"/trigger/rotate", url.Values{"csrf": {e.csrf()}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=trigger_rotated") {
		t.Fatalf("rotate: %d %s", p.status, p.location)
	}
	m = triggerInput.FindStringSubmatch(e.get(taskPage).body)
	if m == nil || m[1] == old {
		t.Fatalf("the URL after rotation: %v", m)
	}
	if resp := call(t, old); resp != http.StatusNotFound {
		t.Errorf("the old URL answers %d", resp)
	}

	orders := text(e.get("/counters/" + strconv.FormatInt(c.ID, 10) + "/orders").body)
	if !regexp.MustCompile(`Данные актуальны на \d\d:\d\d \((только что|\d+ мин назад)\)`).MatchString(orders) {
		t.Errorf("the orders page has no freshness line: %.600s", orders)
	}
	e.noSecret()
}

func call(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(`{"event":"order.changed"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
