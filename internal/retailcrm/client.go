// Package retailcrm is a client for the parts of the RetailCRM (Simla.com) API v5 an order import
// needs: account checks, reference data, order lists and the order change feed.
//
// Every request of one account is paced by a limiter shared in the process (RetailCRM allows 10
// requests/second and answers 503 beyond), retried with backoff when the failure is transient, and
// its failure reported as an *Error whose text a marketer can act on. The API key travels only in
// the X-API-KEY header and never appears in URLs, logs or errors.
package retailcrm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"orderimport/internal/netguard"
)

// Config describes one RetailCRM account as a task sees it.
type Config struct {
	URL         string       // account URL as the user typed it; New normalises it (NormalizeURL)
	APIKey      string       // surrounding whitespace (from copy-paste) is dropped
	RateLimit   float64      // requests/second for this account; 0 → 10
	HTTPClient  *http.Client // nil → a client with sane timeouts; redirects are never followed
	Limiters    *Limiters    // shared per-account limiter registry; nil → DefaultLimiters
	MaxAttempts int          // per request, incl. the first; 0 → 5
	Logger      *slog.Logger // nil → discard

	RequestTimeout time.Duration // per attempt, incl. reading the body; 0 → 60s
	RetryBaseDelay time.Duration // first backoff ceiling; 0 → 200ms
	RetryMaxDelay  time.Duration // backoff ceiling; 0 → 10s
}

const (
	defaultRateLimit   = 10
	defaultMaxAttempts = 5
	defaultTimeout     = 60 * time.Second
	defaultRetryBase   = 200 * time.Millisecond
	defaultRetryMax    = 10 * time.Second
	// maxBody bounds one answer; a page of 100 full orders is 1–2 MB.
	maxBody = 64 << 20
	// maxRetryAfter bounds how long a Retry-After header may make one request wait.
	maxRetryAfter = 5 * time.Minute
)

// Client talks to one RetailCRM account. It is safe for concurrent use.
type Client struct {
	base        string
	key         string
	http        *http.Client
	limiter     *accountLimiter
	maxAttempts int
	timeout     time.Duration
	retryBase   time.Duration
	retryMax    time.Duration
	log         *slog.Logger
	requests    atomic.Int64
}

// defaultTransport is shared by every client built without an HTTPClient, so connections to an
// account are pooled across tasks.
var defaultTransport = &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: defaultTimeout,
	IdleConnTimeout:       90 * time.Second,
	MaxIdleConnsPerHost:   32, // a paged read keeps up to 32 requests in flight
	ForceAttemptHTTP2:     true,
}

// noRedirects stops the client at a redirect: following it would carry the X-API-KEY header to
// whatever host the redirect names (net/http only strips Authorization and cookies), and a
// redirecting account URL is a configuration problem to report, not to paper over.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// policyRefusal recognises a connection the outbound guard refused (an address in a private
// network, a redirect).
func policyRefusal(err error) bool {
	var re *netguard.RedirectError
	return errors.As(err, &re) || errors.Is(err, netguard.ErrPrivateAddress)
}

// New checks cfg and returns a client; it sends nothing.
func New(cfg Config) (*Client, error) {
	base, err := NormalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSpace(cfg.APIKey)
	if key == "" {
		return nil, errors.New("retailcrm: the API key is empty")
	}
	if strings.ContainsAny(key, "\r\n\t ") {
		return nil, errors.New("retailcrm: the API key contains spaces or line breaks")
	}
	rate := cfg.RateLimit
	switch {
	case rate == 0:
		rate = defaultRateLimit
	case rate < 0:
		return nil, fmt.Errorf("retailcrm: rate limit %v is negative", cfg.RateLimit)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Transport: defaultTransport, Timeout: defaultTimeout}
	}
	hc.CheckRedirect = noRedirects
	limiters := cfg.Limiters
	if limiters == nil {
		limiters = DefaultLimiters
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		base:        base,
		key:         key,
		http:        &hc,
		limiter:     limiters.account(base, rate),
		maxAttempts: orDefault(cfg.MaxAttempts, defaultMaxAttempts),
		timeout:     orDefault(cfg.RequestTimeout, defaultTimeout),
		retryBase:   orDefault(cfg.RetryBaseDelay, defaultRetryBase),
		retryMax:    orDefault(cfg.RetryMaxDelay, defaultRetryMax),
		log:         logger.With("account", base),
	}, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// NormalizeURL reduces an account URL to scheme://host[:port]: lower-cased, default port, path,
// query and trailing slashes dropped. A bare host ("shop.retailcrm.ru") gets https://, which is
// what RetailCRM serves. URLs with credentials or a scheme other than http(s) are refused.
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("retailcrm: the account URL is empty")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	// The messages do not quote raw: a key pasted into the wrong field must not travel on.
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("retailcrm: the account URL is not a valid address")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", errors.New("retailcrm: the account URL must start with https://")
	}
	if u.User != nil {
		return "", errors.New("retailcrm: the account URL must not contain a user name or password")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("retailcrm: the account URL has no host name")
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	return scheme + "://" + host, nil
}

// BaseURL is the normalised account URL.
func (c *Client) BaseURL() string { return c.base }

// Requests counts the HTTP requests this client actually sent, retries included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// bodyPool recycles answer buffers; everything decoded out of a body is copied first.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// fetch GETs path with q and decodes the answer, calling member for every top-level member that
// is not part of the error envelope. A fresh T is decoded on every attempt, so a retried attempt
// never sees what a failed one half-decoded.
func fetch[T any](ctx context.Context, c *Client, path string, q url.Values, member func(r *reader, name string, v *T) error) (*T, error) {
	var v *T
	err := c.do(ctx, path, q, func(body []byte) (envelope, error) {
		v = new(T)
		return decodeEnvelope(body, func(r *reader, name string) error { return member(r, name, v) })
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// do runs one API call with pacing and retries. decode is applied to 2xx bodies.
func (c *Client) do(ctx context.Context, path string, q url.Values, decode func([]byte) (envelope, error)) error {
	endpoint := "GET " + path
	class := answerClass(path, q.Get("limit"))
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var last *Error
	for attempt := 1; ; attempt++ {
		sentAt, err := c.limiter.wait(ctx)
		if err != nil {
			return stopped(err, last)
		}
		e, retryAfter := c.attempt(ctx, endpoint, class, target, decode, attempt, sentAt)
		if e == nil {
			return nil
		}
		if ctx.Err() != nil {
			return stopped(ctx.Err(), e)
		}
		if e.Kind == KindRateLimited {
			c.limiter.rateLimited(sentAt, time.Now(), retryAfter)
		}
		if !e.Kind.Retryable() || attempt >= c.maxAttempts {
			return e
		}
		last = e
		delay := c.backoff(attempt)
		if retryAfter > 0 {
			delay = retryAfter
		}
		c.log.Warn("retailcrm request failed, retrying",
			"endpoint", endpoint, "kind", e.Kind.String(), "status", e.Status,
			"attempt", attempt, "delay", delay, "error", e.Error())
		if err := sleep(ctx, delay); err != nil {
			return stopped(err, last)
		}
	}
}

// stopped reports that the caller's context ended the call, keeping the last failure for context.
func stopped(ctxErr error, last *Error) error {
	if last == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last answer: %v)", ctxErr, last)
}

// attempt sends one request and turns the outcome into nil or an *Error.
func (c *Client) attempt(ctx context.Context, endpoint, class, target string, decode func([]byte) (envelope, error), n int, turn time.Time) (*Error, time.Duration) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The request goes out once it has its connection: the pacer checks its window again then,
	// and the answer time counts from there.
	var sent time.Time
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			c.limiter.going(actx, turn)
			sent = time.Now()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { c.limiter.wrote(turn, time.Now()) },
	})
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return &Error{Kind: KindTransport, Endpoint: endpoint, Message: "could not build the request", Err: err}, 0
	}
	req.Header.Set("X-API-KEY", c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "orderimport-retailcrm/1")

	start := time.Now()
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		if policyRefusal(err) {
			// The SSRF guard refused the address or a redirect: asking again cannot help.
			return c.redact(&Error{Kind: KindAccountNotFound, Endpoint: endpoint, Err: err}), 0
		}
		return c.redact(&Error{Kind: KindTransport, Endpoint: endpoint, Err: err}), 0
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 4<<20 {
			bodyPool.Put(buf)
		}
	}()
	if n := resp.ContentLength; n > 0 && n <= maxBody {
		// Sized once: growing by doubling would hold up to twice the answer for every request
		// in flight.
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = io.Copy(buf, io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	c.log.Debug("retailcrm request", "endpoint", endpoint, "status", resp.StatusCode,
		"attempt", n, "bytes", buf.Len(), "duration", time.Since(start))
	if err == nil && !sent.IsZero() && resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		// A throttled answer comes from nginx at once and says nothing of RetailCRM's pace.
		c.limiter.answered(class, time.Since(sent))
	}
	if err != nil {
		return c.redact(&Error{Kind: KindTransport, Status: resp.StatusCode, Endpoint: endpoint,
			Message: "the connection broke while reading the answer", Err: err}), 0
	}
	if buf.Len() > maxBody {
		return &Error{Kind: KindGarbled, Status: resp.StatusCode, Endpoint: endpoint,
			Message: fmt.Sprintf("the answer is larger than %d MB", maxBody>>20)}, 0
	}
	e := classify(resp, buf.Bytes(), decode)
	if e == nil {
		return nil, 0
	}
	e.Endpoint = endpoint
	return c.redact(e), retryAfter(resp.Header.Get("Retry-After"), time.Now())
}

// classify maps an answer to nil (success, decoded) or an *Error.
func classify(resp *http.Response, body []byte, decode func([]byte) (envelope, error)) *Error {
	status := resp.StatusCode
	html := looksLikeHTML(body)
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		// The body is undocumented and may be an nginx page; take a JSON message if there is one.
		env, _ := decodeEnvelope(body, nil)
		return &Error{Kind: KindRateLimited, Status: status, Message: env.errorMsg}
	case status >= 300 && status < 400:
		msg := "the address redirects elsewhere"
		if loc := resp.Header.Get("Location"); loc != "" {
			msg = "the address redirects to " + stripQuery(loc)
		}
		return &Error{Kind: KindAccountNotFound, Status: status, Message: msg}
	case html && status >= 500:
		// A proxy's error page: transient, unlike an HTML answer to an API call that succeeded.
		return &Error{Kind: KindServer, Status: status}
	case html:
		return &Error{Kind: KindAccountNotFound, Status: status,
			Message: "the address answered with a web page, not the RetailCRM API"}
	case status >= 200 && status < 300:
		env, err := decode(body)
		if err != nil {
			msg := "the answer is not valid JSON"
			if errors.Is(err, io.ErrUnexpectedEOF) {
				msg = "the answer was cut off"
			}
			return &Error{Kind: KindGarbled, Status: status, Message: msg, Err: err}
		}
		if !env.hasSuccess || env.success {
			return nil
		}
		if env.errorMsg == "" && len(env.errors) == 0 {
			return &Error{Kind: KindGarbled, Status: status, Message: `the answer says "success": false without saying why`}
		}
		kind := classifyMessage(env.errorMsg)
		if kind == 0 {
			kind = KindValidation
		}
		return &Error{Kind: kind, Status: status, Message: env.errorMsg, Errors: env.errors}
	}
	env, _ := decodeEnvelope(body, nil)
	e := &Error{Status: status, Message: env.errorMsg, Errors: env.errors}
	if status >= 500 {
		e.Kind = KindServer
		return e
	}
	e.Kind = classifyMessage(env.errorMsg)
	if e.Kind != 0 {
		return e
	}
	switch status {
	case http.StatusUnauthorized:
		e.Kind = KindInvalidKey
	case http.StatusForbidden:
		e.Kind = KindAccessDenied
	case http.StatusNotFound:
		e.Kind = KindNotFound
	default:
		e.Kind = KindValidation
	}
	return e
}

// looksLikeHTML reports whether body starts like markup (<html, <!DOCTYPE, <?xml, </…), not
// merely with a '<' byte, so random garbage is not mistaken for a web page.
func looksLikeHTML(body []byte) bool {
	b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) < 2 || b[0] != '<' {
		return false
	}
	c := b[1] | 0x20 // ASCII lower case
	return (c >= 'a' && c <= 'z') || b[1] == '!' || b[1] == '?' || b[1] == '/'
}

func stripQuery(loc string) string {
	if i := strings.IndexAny(loc, "?#"); i >= 0 {
		return loc[:i]
	}
	return loc
}

// redact removes the API key from anything RetailCRM or the network echoed back.
func (c *Client) redact(e *Error) *Error {
	e.Message = strings.ReplaceAll(e.Message, c.key, "[API key]")
	if len(e.Errors) > 0 {
		// The field names are RetailCRM's text too, and Error prints them.
		clean := make(map[string]string, len(e.Errors))
		for k, v := range e.Errors {
			clean[strings.ReplaceAll(k, c.key, "[API key]")] = strings.ReplaceAll(v, c.key, "[API key]")
		}
		e.Errors = clean
	}
	if e.Err != nil && strings.Contains(e.Err.Error(), c.key) {
		e.Err = errors.New(strings.ReplaceAll(e.Err.Error(), c.key, "[API key]"))
	}
	return e
}

// backoff is exponential with full jitter: uniform in [0, min(max, base·2^(attempt-1))).
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.retryMax
	if attempt-1 < 30 {
		ceiling = min(c.retryMax, c.retryBase<<(attempt-1))
	}
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling)))
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 when absent or unusable.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(h); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
