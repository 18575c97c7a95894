package app_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"orderimport/internal/app"
	"orderimport/internal/clientip"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/mapping"
	"orderimport/internal/servicetest"
)

// The security tests run the whole service (real SQLite in a directory of their own, River,
// HTTP on a real listener, web UI and API) and keep everything it said: every response, and
// every log line at debug level, before anything could filter it.

const (
	ownerEmail    = "owner@example.com"
	ownerPassword = "correct horse battery"
)

type secOpts struct {
	allowPrivate bool
	resolver     *net.Resolver
	rootCAs      *x509.CertPool
	emu          crmemu.Options
	// crm wraps the emulator's handler (a CRM that misbehaves on purpose); nil serves it as is.
	crm func(http.Handler) http.Handler
	// oidc, when set, is the identity provider single sign-on goes to (its client registered
	// with the service's callback).
	oidc *mockoidc.MockOIDC
	// proxies are the trusted proxies (ORDERIMPORT_TRUSTED_PROXIES).
	proxies string
}

type secEnv struct {
	t     *testing.T
	app   *app.App
	base  string
	dir   string
	db    string
	token string // the owner's API token
	emu   *crmemu.Emulator
	crm   string
	acc   int64
	user  int64
	logs  *syncBuffer
	seen  *syncBuffer // every response: status line, headers and body
	svc   *servicetest.Service
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSecEnv(t *testing.T, o secOpts) *secEnv {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	s, err := servicetest.Start(context.Background(), servicetest.Options{Emulator: o.emu, CRM: o.crm, Strict: !o.allowPrivate,
		Resolver: o.resolver, RootCAs: o.rootCAs, Log: log, Dir: dir, Configure: func(cfg *config.Config, url string) {
			if o.oidc != nil {
				cfg.OIDC = config.OIDC{Issuer: o.oidc.Issuer(), ClientID: o.oidc.ClientID, ClientSecret: o.oidc.ClientSecret,
					RedirectURL: url + "/auth/oidc/callback", Name: "Test ID"}
			}
			var err error
			if cfg.Proxies, err = clientip.Parse(o.proxies); err != nil {
				t.Fatal(err)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := &secEnv{t: t, svc: s, app: s.App, base: s.URL, dir: dir, db: s.DBPath, token: s.Token, emu: s.Emu, crm: s.CRM,
		acc: s.AccountID, user: s.UserID, logs: logs, seen: &syncBuffer{}}
	t.Cleanup(e.stop)
	return e
}

// stop shuts the service down and closes the database (the WAL is checkpointed into the file).
func (e *secEnv) stop() {
	if err := e.svc.Close(); err != nil {
		e.t.Errorf("stop the service: %v", err)
	}
}

func (e *secEnv) request(c *http.Client, req *http.Request) (int, string, http.Header) {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var h bytes.Buffer
	_ = resp.Header.Write(&h)
	fmt.Fprintf(e.seen, "%s %s → %d\n%s\n%s\n", req.Method, req.URL.Path, resp.StatusCode, h.String(), b)
	return resp.StatusCode, string(b), resp.Header
}

// api calls the JSON API with a bearer token ("" = none).
func (e *secEnv) api(method, path, token, body string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	st, text, _ := e.request(http.DefaultClient, req)
	return st, text
}

// createCounter makes a counter named name through the API and returns its id.
func (e *secEnv) createCounter(name string) int64 {
	e.t.Helper()
	st, body := e.api("POST", "/api/v1/counters", e.token, jsonOf(map[string]any{"name": name}))
	if st != 201 {
		e.t.Fatalf("counter %s: %d %s", name, st, body)
	}
	var c struct{ ID int64 }
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

// browser is a logged-in browser: cookies kept, redirects not followed, same-origin requests.
type browser struct {
	e    *secEnv
	c    *http.Client
	csrf string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func (e *secEnv) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (e *secEnv) login(email, password string) *browser {
	e.t.Helper()
	b := e.newBrowser()
	if st, _, _ := b.post("/login", url.Values{"email": {email}, "password": {password}}); st != http.StatusSeeOther {
		e.t.Fatalf("login as %s: %d", email, st)
	}
	_, body, _ := b.get("/")
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF token on the home page")
	}
	b.csrf = m[1]
	return b
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.base+path, nil)
	return b.e.request(b.c, req)
}

// post sends a form as the browser does from a page of the site, with the session's token.
func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	if b.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.e.request(b.c, req)
}

// taskForm is the connection form filled in as a person would, every mapping field at its
// default expression.
func taskForm(name, crmURL, key, action string) url.Values {
	v := url.Values{"name": {name}, "active": {"true"}, "type": {"retailcrm"}, "frequency_hours": {"1"},
		"retailcrm_url": {crmURL}, "retailcrm_api_key": {key}, "action": {action}}
	def := mapping.Default()
	for _, f := range mapping.Fields {
		v.Set("map_"+f.Name, "__expr")
		v.Set("expr_"+f.Name, def[f.Name])
	}
	return v
}

// dbBytes reads the database file and its WAL and shared-memory files, as they are on disk.
func (e *secEnv) dbBytes() []byte {
	e.t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(e.db + suffix)
		if err != nil && !os.IsNotExist(err) {
			e.t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		e.t.Fatal("no database file")
	}
	return all
}
