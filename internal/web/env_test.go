package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
	"orderimport/internal/web/uitest"
)

// secretKey is the RetailCRM key of the test emulator: distinctive, so that a test can prove it
// never comes back in a page.
const secretKey = "k-Secret-7f3a9c21e8"

// env is a running service (real SQLite, River workers, the full HTTP handler) in front of an
// emulator, and a browser-like HTTP client that keeps cookies and does not follow redirects.
type env struct {
	t      *testing.T
	srv    *uitest.Server
	client *http.Client
	bodies []string // every page received, for the secret scan
}

func newEnv(t *testing.T, orders int) *env {
	t.Helper()
	srv, err := uitest.Start(context.Background(), t.TempDir(), crmemu.Options{Seed: 11, Orders: orders,
		Keys: map[string]crmemu.KeyConfig{secretKey: crmemu.FullAccess()}}, nil)
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

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (e *env) do(c *http.Client, req *http.Request) page {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.bodies = append(e.bodies, string(b))
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header}
}

func (e *env) get(path string) page {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(e.client, req)
}

// post sends a form as the browser does: same origin, urlencoded.
func (e *env) post(path string, form url.Values) page {
	e.t.Helper()
	return e.postWith(e.client, path, form)
}

func (e *env) postWith(c *http.Client, path string, form url.Values) page {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return e.do(c, req)
}

func (e *env) login() {
	e.t.Helper()
	p := e.post("/login", url.Values{"email": {uitest.Email}, "password": {uitest.Password}, "next": {"/"}})
	if p.status != http.StatusSeeOther {
		e.t.Fatalf("login: status %d: %s", p.status, text(p.body))
	}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf reads the session's CSRF token from a page, as the forms and the script do.
func (e *env) csrf() string {
	e.t.Helper()
	p := e.get("/")
	m := csrfMeta.FindStringSubmatch(p.body)
	if m == nil {
		e.t.Fatalf("no csrf token on the home page (status %d)", p.status)
	}
	return m[1]
}

func (e *env) counter(name string) store.Counter {
	e.t.Helper()
	c, err := e.srv.App.Store.CreateCounter(context.Background(), e.srv.AccountID, name, "Europe/Moscow")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// task saves a task through the service and waits for its first run.
func (e *env) task(c store.Counter, name string) store.Task {
	e.t.Helper()
	active, freq, u, k := true, 1, e.srv.CRM, secretKey
	t, err := e.srv.App.Tasks.Create(access.System(context.Background()), e.srv.AccountID, c.ID, tasks.Input{Name: &name, Active: &active,
		FrequencyHours: &freq, RetailCRM: &tasks.RetailCRMInput{URL: &u, APIKey: &k}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.srv.WaitRuns(context.Background(), t.ID, time.Minute); err != nil {
		e.t.Fatal(err)
	}
	return t
}

// noSecret asserts that the RetailCRM key never came back in any page.
func (e *env) noSecret() {
	e.t.Helper()
	for _, b := range e.bodies {
		if strings.Contains(b, secretKey) {
			e.t.Fatalf("a page shows the RetailCRM key:\n%s", text(b))
		}
	}
}

var tags = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]+>`)
var spaces = regexp.MustCompile(`\s+`)

// text is a page's visible text, for assertions on what a reader sees.
func text(body string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(body, " ")), " "))
}

// fieldError finds the error shown next to the input with the given id, linked by
// aria-describedby as screen readers need it.
func fieldError(t *testing.T, body, id string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<p class="field-err" id="` + regexp.QuoteMeta(id) + `-err">(.*?)</p>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	input := regexp.MustCompile(`(?s)<(?:input|select)[^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
	if !strings.Contains(input, `aria-invalid="true"`) || !regexp.MustCompile(`aria-describedby="[^"]*\b`+regexp.QuoteMeta(id)+`-err\b`).MatchString(input) {
		t.Errorf("the error of %s is not linked to its input: %s", id, input)
	}
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], ""))
}
