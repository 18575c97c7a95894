package retailcrm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/netguard"
)

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://demo.retailcrm.ru", "https://demo.retailcrm.ru"},
		{"https://demo.retailcrm.ru/", "https://demo.retailcrm.ru"},
		{"https://demo.retailcrm.ru///", "https://demo.retailcrm.ru"},
		{"  https://Demo.RetailCRM.ru/api/v5/orders?apiKey=secret#x  ", "https://demo.retailcrm.ru"},
		{"HTTPS://shop.simla.com:443/", "https://shop.simla.com"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"http://localhost:80", "http://localhost"},
		{"https://shop.retailcrm.ru:8443", "https://shop.retailcrm.ru:8443"},
		{"demo.retailcrm.ru", "https://demo.retailcrm.ru"},
		{"demo.retailcrm.ru/admin/orders", "https://demo.retailcrm.ru"},
		{"http://[::1]:9000/x", "http://[::1]:9000"},
		{"https://[2001:db8::1]/", "https://[2001:db8::1]"},
	} {
		got, err := NormalizeURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "   ", "ftp://demo.retailcrm.ru", "https://", "https:///path", "mailto:x@y",
		"https://user:pass@demo.retailcrm.ru", "https://demo.retailcrm.ru:port", "javascript://%0aalert(1)"} {
		if got, err := NormalizeURL(in); err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no key":        {URL: "https://a.retailcrm.ru", APIKey: "  "},
		"key with tab":  {URL: "https://a.retailcrm.ru", APIKey: "ab\tcd"},
		"bad url":       {URL: "ftp://a.retailcrm.ru", APIKey: testKey},
		"negative rate": {URL: "https://a.retailcrm.ru", APIKey: testKey, RateLimit: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: error shows the key: %v", name, err)
		}
	}
	c, err := New(Config{URL: "Demo.RetailCRM.ru/", APIKey: " " + testKey + "\n", Limiters: NewLimiters()})
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != "https://demo.retailcrm.ru" || c.key != testKey || c.maxAttempts != 5 {
		t.Errorf("client = %q key trimmed %v attempts %d", c.BaseURL(), c.key == testKey, c.maxAttempts)
	}
}

// hangUp resets the connection without answering.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST instead of FIN
	}
	conn.Close()
}

// shortBody declares more bytes than it sends, so the client sees the body end early.
func shortBody(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "4096")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"success":true,"pagination":{"limit":20,`))
}

const pageJSON = `{"success":true,"pagination":{"limit":20,"totalCount":1,"currentPage":1,"totalPageCount":1},"orders":[{"id":1,"number":"1C"}]}`

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	htmlPage := []byte("<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>\n")
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		kind     ErrorKind
		attempts int // requests the client must send with MaxAttempts 2
		contains string
	}{
		{"wrong key", answerWith(403, `{"success":false,"errorMsg":"Wrong \"apiKey\" value."}`), KindInvalidKey, 1, `Wrong "apiKey" value.`},
		{"missing key", answerWith(403, `{"success":false,"errorMsg":"\"apiKey\" is missing."}`), KindInvalidKey, 1, `"apiKey" is missing.`},
		{"401 without body", answerWith(401, ``), KindInvalidKey, 1, ""},
		{"access denied", answerWith(403, `{"success":false,"errorMsg":"Access denied."}`), KindAccessDenied, 1, "Access denied."},
		{"403 without message", answerWith(403, `{"success":false}`), KindAccessDenied, 1, ""},
		{"account html 404", answerWith(404, string(htmlPage)), KindAccountNotFound, 1, "web page"},
		{"account html 405", answerWith(405, "<html>Method Not Allowed</html>"), KindAccountNotFound, 1, "web page"},
		{"account html 200", answerWith(200, "\n<!DOCTYPE html><html></html>"), KindAccountNotFound, 1, "web page"},
		{"account message", answerWith(400, `{"success":false,"errorMsg":"Account does not exist."}`), KindAccountNotFound, 1, "Account does not exist."},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://www.retailcrm.ru/?from=api", http.StatusFound)
		}, KindAccountNotFound, 1, ""},
		{"validation", answerWith(400, `{"success":false,"errorMsg":"Errors in the input parameters","errors":{"children[startDate]":"Значение недопустимо."}}`), KindValidation, 1, "children[startDate]: Значение недопустимо."},
		{"parameter missing", answerWith(400, `{"success":false,"errorMsg":"Parameter 'by' is missing"}`), KindValidation, 1, "Parameter 'by' is missing"},
		{"nested errors", answerWith(400, `{"success":false,"errorMsg":"Bad","errors":{"order":{"x":"y"}}}`), KindValidation, 1, `order: {"x":"y"}`},
		{"200 success false", answerWith(200, `{"success":false,"errorMsg":"Something is wrong"}`), KindValidation, 1, "Something is wrong"},
		{"not found", answerWith(404, `{"success":false,"errorMsg":"Not found"}`), KindNotFound, 1, "Not found"},
		{"method not allowed json", answerWith(405, `{"success":false,"errorMsg":"Method Not Allowed"}`), KindValidation, 1, "Method Not Allowed"},
		{"503 html", answerWith(503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"), KindRateLimited, 2, "HTTP 503"},
		{"503 empty", answerWith(503, ""), KindRateLimited, 2, ""},
		{"429", answerWith(429, `{"success":false,"errorMsg":"Too many requests"}`), KindRateLimited, 2, "Too many requests"},
		{"500", answerWith(500, `{"success":false,"errorMsg":"Internal error"}`), KindServer, 2, "Internal error"},
		{"502 html", answerWith(502, "<html><h1>502 Bad Gateway</h1></html>"), KindServer, 2, "HTTP 502"},
		{"success false without message", answerWith(200, `{"success":false}`), KindGarbled, 2, "without saying why"},
		{"not json", answerWith(200, `Fatal error: Allowed memory size exhausted`), KindGarbled, 2, "the answer is not valid JSON"},
		{"empty 200", answerWith(200, ``), KindGarbled, 2, "not valid JSON"},
		{"garbage starting with <", answerWith(200, "<\x93\x01garbage"), KindGarbled, 2, "not valid JSON"},
		{"truncated json", answerWith(200, pageJSON[:60]), KindGarbled, 2, "the answer was cut off"},
		{"short body", func(w http.ResponseWriter, r *http.Request) { shortBody(w) }, KindTransport, 2, "connection broke"},
		{"connection reset", func(w http.ResponseWriter, r *http.Request) { hangUp(w) }, KindTransport, 2, ""},
		{"key echoed", answerWith(400, `{"success":false,"errorMsg":"Key `+testKey+` is not valid for site x"}`), KindValidation, 1, "[API key]"},
		{"key echoed as a field name", answerWith(400, `{"success":false,"errorMsg":"x","errors":{"`+testKey+`":"unknown"}}`), KindValidation, 1, "[API key]: unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var served atomic.Int64
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				tc.handler(w, r)
			}), func(cfg *Config) { cfg.MaxAttempts = 2 })
			_, err := c.Orders(context.Background(), OrdersFilter{}, 1, 20)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != tc.kind {
				t.Errorf("kind = %s, want %s (%v)", e.Kind, tc.kind, err)
			}
			if !IsKind(err, tc.kind) || KindOf(err) != tc.kind {
				t.Error("IsKind/KindOf disagree with errors.As")
			}
			if e.Endpoint != "GET /api/v5/orders" {
				t.Errorf("Endpoint = %q", e.Endpoint)
			}
			// The words are a code's; what the detail carries is RetailCRM's (or the
			// connection's) own.
			if m := e.Msg(); !strings.Contains(m.Detail, tc.contains) || m.Code == "" {
				t.Errorf("Msg() = %+v, want a code and a detail containing %q", m, tc.contains)
			}
			if !strings.HasPrefix(err.Error(), "retailcrm: list orders page 1: ") {
				t.Errorf("err = %q, want the call named", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the key: %v", err)
			}
			if got := c.Requests(); got != int64(tc.attempts) {
				t.Errorf("client sent %d requests, want %d", got, tc.attempts)
			}
			if tc.kind.Retryable() == tc.kind.Permanent() && tc.kind != KindValidation && tc.kind != KindNotFound {
				t.Errorf("%s is both or neither retryable and permanent", tc.kind)
			}
		})
	}
}

func answerWith(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeAnswer(w, answer{status: status, body: []byte(body)})
	}
}

func TestRetriesRecoverFromFaults(t *testing.T) {
	t.Parallel()
	faults := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) {
			writeAnswer(w, answer{status: 503, body: []byte("<html>503 Service Temporarily Unavailable</html>")})
		},
		func(w http.ResponseWriter) { writeAnswer(w, answer{status: 500, body: []byte(`{"success":false}`)}) },
		func(w http.ResponseWriter) { writeAnswer(w, answer{status: 200, body: []byte(pageJSON[:70])}) },
		hangUp,
	}
	var served atomic.Int64
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		if int(n) <= len(faults) {
			faults[n-1](w)
			return
		}
		writeAnswer(w, ok([]byte(pageJSON)))
	}))
	p, err := c.Orders(context.Background(), OrdersFilter{}, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Orders) != 1 || p.Orders[0].ID != 1 || p.Orders[0].Number != "1C" {
		t.Errorf("orders = %+v", p.Orders)
	}
	// net/http may resend a GET on its own after a reset on a reused connection; the server then
	// sees one request more than the client sent.
	if served.Load() != 5 || c.Requests() > 5 || c.Requests() < 4 {
		t.Errorf("server saw %d requests, client sent %d; want 5 and 4–5", served.Load(), c.Requests())
	}
}

func TestTimeoutIsRetriedThenReported(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}), func(cfg *Config) {
		cfg.MaxAttempts = 2
		cfg.RequestTimeout = 50 * time.Millisecond
	})
	_, err := c.Settings(context.Background())
	if !IsKind(err, KindTransport) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a transport timeout", err)
	}
	if c.Requests() != 2 {
		t.Errorf("%d requests, want 2", c.Requests())
	}
}

// onWarn is a slog handler that records every record and calls fn on warnings: the client logs a
// warning right before it sleeps for a retry, which gives tests a deterministic moment to act.
type onWarn struct {
	fn      func()
	mu      sync.Mutex
	records []string
}

func (h *onWarn) Enabled(context.Context, slog.Level) bool { return true }
func (h *onWarn) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *onWarn) WithGroup(string) slog.Handler            { return h }
func (h *onWarn) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.records = append(h.records, b.String())
	h.mu.Unlock()
	if r.Level >= slog.LevelWarn && h.fn != nil {
		h.fn()
	}
	return nil
}

func TestContextCancelStopsRetries(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &onWarn{fn: cancel}
	c, _ := newTestClient(t, answerWith(503, ""), func(cfg *Config) {
		cfg.MaxAttempts = 1000
		cfg.RetryBaseDelay = time.Hour
		cfg.RetryMaxDelay = time.Hour
		cfg.Logger = slog.New(logs)
	})
	_, err := c.Orders(ctx, OrdersFilter{}, 1, 20)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "slow down") {
		t.Errorf("err = %v, want context.Canceled mentioning the last answer", err)
	}
	if c.Requests() != 1 {
		t.Errorf("%d requests after cancel, want 1", c.Requests())
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.records) < 2 {
		t.Errorf("log records %q, want the request and the retry", logs.records)
	}
	for _, r := range logs.records {
		if strings.Contains(r, testKey) {
			t.Errorf("log shows the key: %s", r)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	var first atomic.Int64
	var gap atomic.Int64
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		if first.CompareAndSwap(0, now) {
			writeAnswer(w, answer{status: 429, header: map[string]string{"Retry-After": "1"}})
			return
		}
		gap.Store(now - first.Load())
		writeAnswer(w, ok([]byte(pageJSON)))
	}))
	if _, err := c.Orders(context.Background(), OrdersFilter{}, 1, 20); err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(gap.Load()); d < 900*time.Millisecond {
		t.Errorf("retried after %v, want ≥ 1s (Retry-After)", d)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 0 ":                           0,
		"-5":                            0,
		"soon":                          0,
		"86400":                         maxRetryAfter,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
		"Fri, 02 Jan 2026 03:04:00 GMT": 0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	t.Parallel()
	c := &Client{retryBase: 200 * time.Millisecond, retryMax: 10 * time.Second}
	for attempt, ceiling := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 4: 1600 * time.Millisecond, 7: 10 * time.Second, 80: 10 * time.Second} {
		var top time.Duration
		for range 2000 {
			d := c.backoff(attempt)
			if d < 0 || d >= ceiling {
				t.Fatalf("backoff(%d) = %v, outside [0, %v)", attempt, d, ceiling)
			}
			top = max(top, d)
		}
		if top < ceiling/2 {
			t.Errorf("backoff(%d) never above %v: not jittered over the full range", attempt, top)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(true)
	}))
	defer elsewhere.Close()
	// Even a caller-supplied client that follows redirects must not carry the key across.
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/api/credentials", http.StatusMovedPermanently)
	}), func(cfg *Config) { cfg.HTTPClient = &http.Client{} })
	_, err := c.Credentials(context.Background())
	if !IsKind(err, KindAccountNotFound) {
		t.Errorf("err = %v, want account not found", err)
	}
	if leaked.Load() {
		t.Error("the redirect was followed")
	}
}

// Behind the SSRF guard a refused address or redirect is a wrong account URL: said in words,
// sent once, never retried.
func TestGuardRefusalsAreNotRetried(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		policy  netguard.Policy
		handler http.HandlerFunc
		want    string
	}{
		"private address": {netguard.Policy{}, func(w http.ResponseWriter, r *http.Request) {}, "private or reserved network"},
		"redirect": {netguard.Policy{AllowPrivate: true}, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/?k="+testKey, http.StatusFound)
		}, "redirect to http://169.254.169.254"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, tc.handler, func(cfg *Config) { cfg.HTTPClient = tc.policy.NewHTTPClient() })
			_, err := c.Credentials(context.Background())
			if !IsKind(err, KindAccountNotFound) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), testKey) {
				t.Fatalf("err = %v; want account not found saying %q", err, tc.want)
			}
			if n := c.Requests(); n != 1 || len(rec.requests()) > 1 {
				t.Errorf("%d requests sent (%d arrived), want one and no retry", n, len(rec.requests()))
			}
		})
	}
}

func TestQueryEncoding(t *testing.T) {
	t.Parallel()
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeAnswer(w, ok([]byte(`{"success":true,"history":[],"orders":[]}`)))
	}))
	ctx := context.Background()
	f := OrdersFilter{IDs: []int64{1, 2}, Numbers: []string{"7141C", "a b&c"}, ExternalIDs: []string{"x1"},
		Sites: []string{"moysklad", "test-ru"}, CreatedAtFrom: "2024-01-02", CreatedAtTo: "2024-01-03"}
	if _, err := c.Orders(ctx, f, 2, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := c.History(ctx, HistoryFilter{SinceID: 7137, OrderID: 5, EndDate: "2024-01-02 10:00:00"}, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := c.History(ctx, HistoryFilter{StartDate: "2024-01-02 03:04:05"}, 20); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	wantRaw := []string{
		"filter%5BcreatedAtFrom%5D=2024-01-02&filter%5BcreatedAtTo%5D=2024-01-03" +
			"&filter%5BexternalIds%5D%5B%5D=x1&filter%5Bids%5D%5B%5D=1&filter%5Bids%5D%5B%5D=2" +
			"&filter%5Bnumbers%5D%5B%5D=7141C&filter%5Bnumbers%5D%5B%5D=a+b%26c" +
			"&filter%5Bsites%5D%5B%5D=moysklad&filter%5Bsites%5D%5B%5D=test-ru&limit=100&page=2",
		"filter%5BendDate%5D=2024-01-02+10%3A00%3A00&filter%5BorderId%5D=5&filter%5BsinceId%5D=7137&limit=50",
		"filter%5BstartDate%5D=2024-01-02+03%3A04%3A05&limit=20",
	}
	for i, r := range reqs {
		if r.URL.RawQuery != wantRaw[i] {
			t.Errorf("request %d query\n got %s\nwant %s", i, r.URL.RawQuery, wantRaw[i])
		}
	}
	q := reqs[0].URL.Query()
	if !slices.Equal(q["filter[ids][]"], []string{"1", "2"}) || !slices.Equal(q["filter[numbers][]"], []string{"7141C", "a b&c"}) ||
		q.Get("filter[createdAtFrom]") != "2024-01-02" {
		t.Errorf("decoded query = %v", q)
	}
	if reqs[0].URL.Path != "/api/v5/orders" || reqs[1].URL.Path != "/api/v5/orders/history" {
		t.Errorf("paths %s %s", reqs[0].URL.Path, reqs[1].URL.Path)
	}
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
	}))
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"orders limit 30":  func() error { _, err := c.Orders(ctx, OrdersFilter{}, 1, 30); return err },
		"orders limit 250": func() error { _, err := c.Orders(ctx, OrdersFilter{}, 1, 250); return err },
		"orders page 0":    func() error { _, err := c.Orders(ctx, OrdersFilter{}, 0, 20); return err },
		"orders bad date": func() error {
			_, err := c.Orders(ctx, OrdersFilter{CreatedAtFrom: "2024-01-02 00:00:00"}, 1, 20)
			return err
		},
		"history limit 10":  func() error { _, err := c.History(ctx, HistoryFilter{}, 10); return err },
		"history bad start": func() error { _, err := c.History(ctx, HistoryFilter{StartDate: "2024-01-02"}, 100); return err },
		"each orders limit": func() error {
			return c.EachOrdersPage(ctx, OrdersFilter{}, 0, func(*OrdersPage) error { return nil })
		},
	} {
		if err := call(); !IsKind(err, KindValidation) {
			t.Errorf("%s: err = %v, want a validation error", name, err)
		}
	}
	if c.Requests() != 0 {
		t.Errorf("%d requests sent", c.Requests())
	}
}

// orderStore answers GET /api/v5/orders from ids 1..n, newest first, honouring filter[ids][],
// limit and page like RetailCRM.
type orderStore struct {
	n      int
	extra  bool // also return an order nobody asked for
	calls  atomic.Int64
	maxIDs atomic.Int64
}

func (s *orderStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	page, _ := strconv.Atoi(q.Get("page"))
	var ids []int
	if want := q["filter[ids][]"]; len(want) > 0 {
		s.maxIDs.Store(max(s.maxIDs.Load(), int64(len(want))))
		for _, v := range want {
			if id, _ := strconv.Atoi(v); id >= 1 && id <= s.n {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		slices.Reverse(ids)
		ids = slices.Compact(ids)
	} else {
		for id := s.n; id >= 1; id-- {
			ids = append(ids, id)
		}
	}
	total := len(ids)
	from := min((page-1)*limit, total)
	to := min(from+limit, total)
	var b strings.Builder
	fmt.Fprintf(&b, `{"success":true,"pagination":{"limit":%d,"totalCount":%d,"currentPage":%d,"totalPageCount":%d},"orders":[`,
		limit, total, page, (total+limit-1)/limit)
	for i, id := range ids[from:to] {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"number":"%dC","site":"shop","status":"new","createdAt":"2024-01-02 10:00:00","customFields":[]}`, id, id)
	}
	if s.extra {
		b.WriteString(`,{"id":999999,"number":"intruder"}`)
	}
	b.WriteString("]}")
	writeAnswer(w, ok([]byte(b.String())))
}

func TestEachOrdersPageWalksToTheEnd(t *testing.T) {
	t.Parallel()
	store := &orderStore{n: 250}
	c, _ := newTestClient(t, store)
	var pages, orders []int
	err := c.EachOrdersPage(context.Background(), OrdersFilter{}, 100, func(p *OrdersPage) error {
		pages = append(pages, p.Pagination.CurrentPage)
		for _, o := range p.Orders {
			orders = append(orders, int(o.ID))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pages, []int{1, 2, 3}) || len(orders) != 250 || orders[0] != 250 || orders[249] != 1 {
		t.Errorf("pages %v, %d orders", pages, len(orders))
	}
	if store.calls.Load() != 3 {
		t.Errorf("%d calls, want 3", store.calls.Load())
	}

	stop := errors.New("enough")
	calls := 0
	err = c.EachOrdersPage(context.Background(), OrdersFilter{}, 20, func(p *OrdersPage) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("early stop: err = %v after %d pages", err, calls)
	}
}

func TestOrdersByIDs(t *testing.T) {
	t.Parallel()
	store := &orderStore{n: 230, extra: true}
	c, _ := newTestClient(t, store)
	var ids []int64
	for id := int64(1); id <= 260; id++ { // 231…260 do not exist
		ids = append(ids, id)
	}
	ids = append(ids, 5, 5, 17) // duplicates are asked once
	got, err := c.OrdersByIDs(context.Background(), ids, []string{"shop"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, o := range got {
		if seen[o.ID] || o.ID < 1 || o.ID > 230 {
			t.Fatalf("unexpected order %d", o.ID)
		}
		seen[o.ID] = true
	}
	if len(got) != 230 {
		t.Errorf("%d orders, want 230", len(got))
	}
	if store.calls.Load() != 3 || store.maxIDs.Load() != 100 {
		t.Errorf("%d calls with up to %d ids; want 3 calls of ≤ 100", store.calls.Load(), store.maxIDs.Load())
	}
}

// TestRawIsNotAliased reads two pages through the pooled body buffers and checks the first
// page's Raw survives the second read.
func TestRawIsNotAliased(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, &orderStore{n: 40})
	p1, err := c.Orders(context.Background(), OrdersFilter{}, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	before := string(p1.Orders[0].Raw)
	for page := 1; page <= 2; page++ {
		if _, err := c.Orders(context.Background(), OrdersFilter{}, page, 20); err != nil {
			t.Fatal(err)
		}
	}
	if string(p1.Orders[0].Raw) != before || !strings.Contains(before, `"id":40`) {
		t.Errorf("Raw changed after later reads: %s", p1.Orders[0].Raw)
	}
}

func TestTolerantDecoding(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t, routes(map[string]answer{
		// Orders keyed by id (PHP sparse array), quoted and fractional numbers, a number where a
		// string is expected, unknown members, duplicate keys, nulls and a non-object element.
		"/api/v5/orders": ok([]byte(`{"extra":{"a":[1,2]},"success":true,"orders":{"12":{"id":"12","number":77,"site":null,
			"status":"new","status":"complete","customFields":[],"payments":[]},"13":{"id":13.0,"externalId":"e\u0031\/x"},"bad":null},
			"pagination":{"limit":"20","totalCount":2.0,"currentPage":1,"totalPageCount":"1"}}`)),
		"/api/v5/reference/sites":    ok([]byte(`{"success":true,"sites":[]}`)),
		"/api/v5/reference/statuses": ok([]byte(`{"success":true,"statuses":[{"code":"a","name":"A","active":1,"ordering":"5","group":"new"}]}`)),
		"/api/v5/settings":           ok([]byte(`{"success":true,"settings":{"timezone":"Asia/Yekaterinburg","default_currency":{"value":"KZT"},"work_times":[]}}`)),
		"/api/credentials":           ok([]byte(`{"scopes":{"0":"order_read","1":"reference_read"},"sitesAvailable":["a",{"x":1},"b"],"siteAccess":"access_selective"}`)),
	}))
	ctx := context.Background()
	p, err := c.Orders(ctx, OrdersFilter{}, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pagination != (Pagination{Limit: 20, TotalCount: 2, CurrentPage: 1, TotalPageCount: 1}) || len(p.Orders) != 2 {
		t.Fatalf("page = %+v", p)
	}
	checkOrder(t, p.Orders[0], Order{ID: 12, Number: "77", Status: "complete"})
	checkOrder(t, p.Orders[1], Order{ID: 13, ExternalID: "e1/x"})
	if !strings.Contains(string(p.Orders[0].Raw), `"customFields":[],"payments":[]`) {
		t.Errorf("Raw = %s", p.Orders[0].Raw)
	}
	if sites, err := c.Sites(ctx); err != nil || len(sites) != 0 {
		t.Errorf("Sites = %v, %v", sites, err)
	}
	if st, err := c.Statuses(ctx); err != nil || len(st) != 1 || st[0] != (Status{Code: "a", Name: "A", Group: "new", Active: true, Ordering: 5}) {
		t.Errorf("Statuses = %+v, %v", st, err)
	}
	if s, err := c.Settings(ctx); err != nil || *s != (Settings{Timezone: "Asia/Yekaterinburg", DefaultCurrency: "KZT"}) {
		t.Errorf("Settings = %+v, %v", s, err)
	}
	cr, err := c.Credentials(ctx)
	if err != nil || !cr.Can("reference_read") || !cr.Selective() || !slices.Equal(cr.SitesAvailable, []string{"a", "b"}) {
		t.Errorf("Credentials = %+v, %v", cr, err)
	}
}
