package retailcrm

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey looks like a real RetailCRM key so that a leak would be easy to spot.
const testKey = "X2EDxAeHP2KxR7tM9zQv3LbYnWc8s1Fa"

// recorder wraps a handler and keeps every request it saw, so tests can assert what was sent and
// that the key never travelled in a URL.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
	next http.Handler
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Clone(r.Context()))
	rec.mu.Unlock()
	rec.next.ServeHTTP(w, r)
}

func (rec *recorder) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*http.Request(nil), rec.reqs...)
}

// checkKeyPlacement fails the test if any request carried the key in its URL or lacked it in
// X-API-KEY.
func (rec *recorder) checkKeyPlacement(t testing.TB) {
	t.Helper()
	for _, r := range rec.requests() {
		raw := r.URL.String() + " " + r.RequestURI
		unescaped, _ := url.QueryUnescape(raw)
		if strings.Contains(raw, testKey) || strings.Contains(unescaped, testKey) ||
			strings.Contains(strings.ToLower(raw), "apikey") {
			t.Errorf("request URL carries the key: %s", raw)
		}
		if got := r.Header.Get("X-API-KEY"); got != testKey {
			t.Errorf("%s: X-API-KEY = %q, want the key", r.URL.Path, got)
		}
	}
}

// newTestClient starts handler behind a recorder and returns a client for it with fast retries
// and a private limiter registry generous enough not to slow the test.
func newTestClient(t testing.TB, handler http.Handler, mods ...func(*Config)) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{next: handler}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cfg := Config{
		URL:            srv.URL + "/",
		APIKey:         testKey,
		RateLimit:      1000,
		Limiters:       NewLimiters(),
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  5 * time.Millisecond,
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.checkKeyPlacement(t) })
	return c, rec
}

// answer is a canned response.
type answer struct {
	status int
	body   []byte
	header map[string]string
}

// routes serves canned answers by URL path; unknown paths get RetailCRM's 404.
func routes(m map[string]answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := m[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"success":false,"errorMsg":"API method not found"}`))
			return
		}
		writeAnswer(w, a)
	})
}

func writeAnswer(w http.ResponseWriter, a answer) {
	ct := "application/json; charset=UTF-8"
	if bytes.HasPrefix(bytes.TrimSpace(a.body), []byte("<")) {
		ct = "text/html"
	}
	w.Header().Set("Content-Type", ct)
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	status := a.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(a.body)
}

func ok(body []byte) answer { return answer{status: http.StatusOK, body: body} }
