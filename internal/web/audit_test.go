package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"orderimport/internal/web/uitest"
)

// The account's users read its audit log on a page of their own, in their language: every
// recorded action has words, and another account's events are not there.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	e.post("/login", url.Values{"email": {uitest.Email}, "password": {"wrong password!"}})
	e.login()
	c := e.counter("Shop")
	e.task(c, "Заказы")
	if _, _, err := e.srv.App.Store.AddUser(context.Background(), "other@example.com", "another long password", "Other", false); err != nil {
		t.Fatal(err)
	}
	other := newClient()
	if p := e.postWith(other, "/login", url.Values{"email": {"other@example.com"}, "password": {"another long password"}}); p.status != http.StatusSeeOther {
		t.Fatalf("other login: %d", p.status)
	}

	p := e.get("/audit")
	if p.status != 200 {
		t.Fatalf("audit page: %d", p.status)
	}
	body := text(p.body)
	for _, want := range []string{"Журнал действий", "Неудачная попытка входа", "Вход", "Создана задача импорта",
		uitest.Email, "127.0.0.1", "import:"} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit page lacks %q: %s", want, body)
		}
	}
	if strings.Contains(body, "other@example.com") || strings.Contains(body, "audit.action") {
		t.Errorf("the audit page shows another account's event or a catalogue key: %s", body)
	}
	if en := text(e.get("/audit?lang=en").body); !strings.Contains(en, "Activity log") || !strings.Contains(en, "Import task created") {
		t.Errorf("English audit page: %s", en)
	}
	if p := e.get("/audit?before=x"); p.status != http.StatusNotFound {
		t.Errorf("a malformed page link: %d", p.status)
	}
	if p := e.getWith(newClient(), "/audit"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login") {
		t.Errorf("anonymous: %d %q", p.status, p.location)
	}
	e.noSecret()
}
