package app_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"orderimport/internal/crmemu"
	"orderimport/internal/netguard/netguardtest"
	"orderimport/internal/store"
)

// Names a user could type that resolve into private networks (wildcard DNS services such as
// nip.io do exactly this); the fake resolver stands in for the internet's DNS.
var privateNames = netguardtest.DNS{
	"127.0.0.1.nip.io":        {netip.MustParseAddr("127.0.0.1")},
	"shop.loopback-crm.ru":    {netip.MustParseAddr("127.0.0.1")},
	"metadata.shop-crm.ru":    {netip.MustParseAddr("169.254.169.254")},
	"intranet.shop-crm.ru":    {netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("fd00::7")},
	"v6.shop-crm.ru":          {netip.MustParseAddr("::1")},
	"mapped.shop-crm.ru":      {netip.MustParseAddr("::ffff:127.0.0.1")},
	"unspecified.shop-crm.ru": {netip.MustParseAddr("0.0.0.0")},
}

type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// TestSSRFRefusedThroughTheAPI types every known trick for reaching the service's own network
// into each place the API takes a CRM URL: the connection check, a new task, a task's new
// URL, a preview. Each is a 422 on the URL field with a message that says what to do, and
// nothing is ever connected to.
func TestSSRFRefusedThroughTheAPI(t *testing.T) {
	e := newSecEnv(t, secOpts{resolver: privateNames.Resolver()})
	st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"Shop"}`)
	if st != 201 {
		t.Fatalf("counter: %d %s", st, body)
	}
	var counter struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &counter)
	// A task saved while its name still pointed to the internet: the rebinding case.
	task := e.storeTask(counter.ID, "https://shop.loopback-crm.ru")

	const (
		ipWords      = "not an IP address"
		privateWords = "private or reserved network"
	)
	cases := []struct{ url, want string }{
		{"https://127.0.0.1", ipWords},
		{"https://127.1", ipWords},
		{"https://[::1]", ipWords},
		{"https://[::ffff:127.0.0.1]", ipWords},
		{"https://169.254.169.254/latest/meta-data/", ipWords},
		{"https://2130706433", ipWords},
		{"https://0177.0.0.1", ipWords},
		{"https://0x7f.0.0.1", ipWords},
		{"https://0x7f000001", ipWords},
		{"https://localhost", "local name"},
		{"https://localhost.", "local name"},
		{"https://shop.localhost", "local name"},
		{"https://metadata.google.internal", "local name"},
		{"http://shop.retailcrm.ru", "https://"},
		{"https://shop.retailcrm.ru:8443", "port"},
		{"https://admin:pw@shop.retailcrm.ru", "user name and password"},
		{"file:///etc/passwd", "https://"},
		{"gopher://shop.retailcrm.ru", "https://"},
		{"https://127.0.0.1.nip.io", privateWords},
		{"https://shop.loopback-crm.ru", privateWords},
		{"https://metadata.shop-crm.ru", privateWords},
		{"https://intranet.shop-crm.ru", privateWords},
		{"https://v6.shop-crm.ru", privateWords},
		{"https://mapped.shop-crm.ru", privateWords},
		{"https://unspecified.shop-crm.ru", privateWords},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			ways := []struct{ method, path, body, field string }{
				{"POST", "/api/v1/retailcrm/check", jsonOf(map[string]any{"url": c.url, "api_key": crmemu.DemoKey}), "url"},
				{"POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), jsonOf(map[string]any{"name": "x",
					"retailcrm": map[string]any{"url": c.url, "api_key": crmemu.DemoKey}}), "retailcrm.url"},
				{"PATCH", fmt.Sprintf("/api/v1/imports/%d", task.ID), jsonOf(map[string]any{
					"retailcrm": map[string]any{"url": c.url, "api_key": crmemu.DemoKey}}), "retailcrm.url"},
				{"POST", "/api/v1/imports/preview", jsonOf(map[string]any{"counter_id": counter.ID,
					"retailcrm": map[string]any{"url": c.url, "api_key": crmemu.DemoKey}}), "retailcrm.url"},
			}
			for _, w := range ways {
				st, body := e.api(w.method, w.path, e.token, w.body)
				var ae apiErr
				if testing.Verbose() {
					t.Logf("%s %s → %d %s", w.method, w.path, st, body)
				}
				if st != 422 || json.Unmarshal([]byte(body), &ae) != nil || ae.Error.Field != w.field || !strings.Contains(ae.Error.Message, c.want) ||
					c.want == privateWords && ae.Error.Code != "address_refused" {
					t.Errorf("%s %s: %d %s; want 422 on %s saying %q", w.method, w.path, st, body, w.field, c.want)
				}
			}
		})
	}

	// The stored task's name now resolves to loopback: its run fails at connect time, in
	// words, and the task waits for a person instead of retrying.
	st, body = e.api("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), e.token, "")
	if st != 202 {
		t.Fatalf("run: %d %s", st, body)
	}
	var run secRun
	_ = json.Unmarshal([]byte(body), &run)
	run = e.waitRun(run.ID)
	if run.Status != store.RunFailed || !strings.Contains(run.Error, privateWords) {
		t.Fatalf("run against a name resolving to loopback: %+v", run)
	}
	got, _ := e.app.Store.Task(context.Background(), e.acc, task.ID)
	if got.Status != store.TaskNeedsAttention || !strings.Contains(got.StatusMsg.String(), privateWords) {
		t.Errorf("task after the refused run: %s %q", got.Status, got.StatusMsg)
	}
}

// storeTask saves a task directly, as one saved before its host name was pointed elsewhere.
func (e *secEnv) storeTask(counterID int64, crmURL string) store.Task {
	e.t.Helper()
	sealed, _, err := e.app.Tasks.Keys.Seal(e.acc, crmemu.DemoKey)
	if err != nil {
		e.t.Fatal(err)
	}
	t, err := e.app.Store.CreateTask(context.Background(), store.Task{AccountID: e.acc, CounterID: counterID, Name: "Заказы",
		Type: "retailcrm", FrequencyHours: 1, CRMURL: crmURL, CRMKeySealed: sealed, CRMKeyHint: "…-key", RateLimit: 10})
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRedirectIsRefusedThroughTheAPI: an https server (the private network is allowed here,
// so the test's loopback server is reachable) answers with redirects to the metadata address
// and to another server; the API says so in words and the target is never contacted, so the
// key never travels there either.
func TestRedirectIsRefusedThroughTheAPI(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	var to atomic.Value
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to.Load().(string), http.StatusFound)
	}))
	defer redirector.Close()
	roots := x509.NewCertPool()
	roots.AddCert(redirector.Certificate())
	e := newSecEnv(t, secOpts{allowPrivate: true, rootCAs: roots})
	for _, dest := range []string{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", target.URL + "/api/v5/credentials"} {
		to.Store(dest)
		st, body := e.api("POST", "/api/v1/retailcrm/check", e.token, jsonOf(map[string]any{"url": redirector.URL, "api_key": crmemu.DemoKey}))
		var ae apiErr
		_ = json.Unmarshal([]byte(body), &ae)
		t.Logf("redirect to %s → %d %s", dest, st, body)
		host := strings.SplitN(strings.SplitN(dest, "://", 2)[1], "/", 2)[0]
		if st != 422 || ae.Error.Field != "url" || ae.Error.Code != "address_refused" || !strings.Contains(ae.Error.Message, "redirect to http://"+host) ||
			!strings.Contains(ae.Error.Message, "never followed") || strings.Contains(ae.Error.Message, "/latest") {
			t.Errorf("redirect to %s: %d %s", dest, st, body)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the redirect target was contacted %d times", n)
	}
	// Link-local stays out of reach even with private addresses allowed.
	st, body := e.api("POST", "/api/v1/retailcrm/check", e.token, jsonOf(map[string]any{"url": "http://169.254.169.254", "api_key": "k"}))
	if st != 422 || !strings.Contains(body, "link-local") && !strings.Contains(body, "metadata") {
		t.Errorf("metadata address with private addresses allowed: %d %s", st, body)
	}
}

// Webhook and alert URLs pass the same guard: an address into a private network, typed as an
// IP address or as a name that resolves there, is a 422 address_refused on the url field, and
// nothing is stored; the other mistakes name themselves.
func TestWebhookURLsRefusedThroughTheAPI(t *testing.T) {
	e := newSecEnv(t, secOpts{resolver: privateNames.Resolver()})
	st, body := e.api("POST", "/api/v1/counters", e.token, `{"name":"Shop"}`)
	if st != 201 {
		t.Fatalf("counter: %d %s", st, body)
	}
	var counter struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &counter)
	for _, c := range []struct{ url, code string }{
		{"https://127.0.0.1/hooks", "address_refused"},
		{"https://10.0.0.1:8443/hooks", "address_refused"},
		{"https://[::1]/hooks", "address_refused"},
		{"https://169.254.169.254/latest/meta-data/", "address_refused"},
		{"https://127.0.0.1.nip.io/hooks", "address_refused"},
		{"https://intranet.shop-crm.ru/hooks", "address_refused"},
		{"https://mapped.shop-crm.ru/hooks", "address_refused"},
		{"https://unspecified.shop-crm.ru/hooks", "address_refused"},
		{"http://hooks.example.com/x", "webhook_url_https_required"},
		{"https://localhost/x", "webhook_url_local_name"},
		{"https://admin:pw@hooks.example.com/x", "webhook_url_credentials"},
		{"https://0x7f000001/x", "url_ipv4_form"},
	} {
		for _, path := range []string{fmt.Sprintf("/api/v1/counters/%d/webhooks", counter.ID), "/api/v1/alerts/channels"} {
			req := map[string]any{"url": c.url}
			if strings.Contains(path, "alerts") {
				req["type"] = "webhook"
			}
			st, body := e.api("POST", path, e.token, jsonOf(req))
			var ae apiErr
			_ = json.Unmarshal([]byte(body), &ae)
			if st != 422 || ae.Error.Code != c.code || ae.Error.Field != "url" {
				t.Errorf("%s %s: %d %s, want 422 %s on url", path, c.url, st, body, c.code)
			}
		}
	}
	if hooks, _ := e.app.Store.Webhooks(context.Background(), e.acc, 0); len(hooks) != 0 {
		t.Errorf("refused webhooks were stored: %+v", hooks)
	}
	if chans, _ := e.app.Store.AlertChannels(context.Background(), e.acc); len(chans) != 0 {
		t.Errorf("refused alert channels were stored: %+v", chans)
	}
}
