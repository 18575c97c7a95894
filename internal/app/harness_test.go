package app_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
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
}

type secEnv struct {
	t      *testing.T
	app    *app.App
	base   string
	dir    string
	db     string
	token  string // the owner's API token
	emu    *crmemu.Emulator
	crm    string
	acc    int64
	user   int64
	logs   *syncBuffer
	seen   *syncBuffer // every response: status line, headers and body
	cancel func()
	done   chan error
	closed bool
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
	ctx, cancel := context.WithCancel(context.Background())
	emu := crmemu.New(o.emu)
	var h http.Handler = emu
	if o.crm != nil {
		h = o.crm(emu)
	}
	crm := httptest.NewServer(h)
	t.Cleanup(crm.Close)

	dir := t.TempDir()
	db := filepath.Join(dir, "test.db")
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: db}, AllowPrivate: o.allowPrivate}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(ctx, cfg, log, app.Options{Workers: 2, Migrate: true, Jobs: jobsConfigForTests(),
		Resolver: o.resolver, RootCAs: o.rootCAs})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	u, _, err := a.Store.AddUser(ctx, ownerEmail, ownerPassword, "Shop", false)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := a.Store.CreateToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &secEnv{t: t, app: a, base: "http://" + ln.Addr().String(), dir: dir, db: db, token: token, emu: emu, crm: crm.URL,
		acc: u.AccountID, user: u.ID, logs: logs, seen: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- a.Serve(ctx, ln) }()
	t.Cleanup(e.stop)
	return e
}

// stop shuts the service down and closes the database (the WAL is checkpointed into the file).
func (e *secEnv) stop() {
	if e.closed {
		return
	}
	e.closed = true
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("serve: %v", err)
	}
	e.app.Close()
}

// request sends a request and records the whole answer.
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
