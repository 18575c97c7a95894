package crmemu

import (
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultConfig sets the probability (0..1) that a request gets each fault.
type FaultConfig struct {
	Rate503       float64 // 503 with the nginx HTML page
	Rate500       float64
	RateHTML      float64 // 502 Bad Gateway page from nginx
	RateTruncated float64
	RateReset     float64
	RateSlow      float64
	Rate429       float64
	RateGarbage   float64
	Slow          time.Duration // delay of FaultSlow; default 2s
}

// Fault is one kind of misbehaviour.
type Fault int

// Fault kinds.
const (
	Fault503       Fault = iota + 1 // 503 Service Temporarily Unavailable, nginx HTML (what rate limiting sends)
	Fault503JSON                    // 503 with the Go SDK mock body {"success": false, "errorMsg": "Rate limit exceeded"}
	Fault429                        // 429 Too Many Requests, nginx HTML
	Fault500                        // 500 with a JSON error body
	FaultHTMLError                  // 502 Bad Gateway, nginx HTML
	FaultTruncated                  // the real answer cut in half: alternately a lying Content-Length and an honest one
	FaultReset                      // connection reset without an answer (net/http retries a GET once on a reused connection: inject 2 to be sure a client sees it)
	FaultSlow                       // the real answer after FaultConfig.Slow
	FaultGarbage                    // 200 with a body that is not JSON
)

var faultNames = map[Fault]string{
	Fault503: "503", Fault503JSON: "503json", Fault429: "429", Fault500: "500", FaultHTMLError: "html",
	FaultTruncated: "truncated", FaultReset: "reset", FaultSlow: "slow", FaultGarbage: "garbage",
}

func (f Fault) String() string {
	if s, ok := faultNames[f]; ok {
		return s
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

type scripted struct {
	kind   Fault
	left   int
	prefix string
}

type faultState struct {
	mu       sync.Mutex
	cfg      FaultConfig
	rng      *rand.Rand
	scripted []*scripted
	cuts     int
}

func (s *faultState) init(seed int64, cfg FaultConfig) {
	s.cfg = cfg
	if s.cfg.Slow <= 0 {
		s.cfg.Slow = 2 * time.Second
	}
	s.rng = rand.New(rand.NewPCG(uint64(seed), 0x6661756c7473))
}

// InjectFault makes the next n requests whose path starts with pathPrefix
// ("" = any) get fault kind. Scripted faults come before random ones, in the
// order they were injected.
func (e *Emulator) InjectFault(kind Fault, n int, pathPrefix string) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.scripted = append(e.faults.scripted, &scripted{kind, n, pathPrefix})
}

func (s *faultState) next(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sf := range s.scripted {
		if strings.HasPrefix(path, sf.prefix) {
			sf.left--
			if sf.left <= 0 {
				s.scripted = append(s.scripted[:i], s.scripted[i+1:]...)
			}
			return sf.kind, true
		}
	}
	c := &s.cfg
	rates := [...]struct {
		rate float64
		kind Fault
	}{
		{c.Rate503, Fault503}, {c.Rate500, Fault500}, {c.RateHTML, FaultHTMLError}, {c.RateTruncated, FaultTruncated},
		{c.RateReset, FaultReset}, {c.RateSlow, FaultSlow}, {c.Rate429, Fault429}, {c.RateGarbage, FaultGarbage},
	}
	var sum float64
	for _, r := range rates {
		sum += r.rate
	}
	if sum <= 0 {
		return 0, false
	}
	u := s.rng.Float64()
	for _, r := range rates {
		if u < r.rate {
			return r.kind, true
		}
		u -= r.rate
	}
	return 0, false
}

// nginxPage is what nginx in front of RetailCRM sends: HTML, not JSON.
func nginxPage(status int) answer {
	text := http.StatusText(status)
	if status == http.StatusServiceUnavailable {
		text = "Service Temporarily Unavailable"
	}
	line := strconv.Itoa(status) + " " + text
	body := "<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	return answer{status: status, contentType: "text/html", body: []byte(body)}
}

func (e *Emulator) serveFault(w http.ResponseWriter, r *http.Request, f Fault, rt *route) {
	switch f {
	case Fault503, Fault429, FaultHTMLError:
		status := map[Fault]int{Fault503: 503, Fault429: 429, FaultHTMLError: 502}[f]
		writeAnswer(w, nginxPage(status))
	case Fault503JSON:
		writeAnswer(w, answer{status: 503, contentType: "application/json", body: []byte(`{"success": false, "errorMsg": "Rate limit exceeded"}`)})
	case Fault500:
		writeAnswer(w, errorAnswer(http.StatusInternalServerError, "Internal Server Error"))
	case FaultGarbage:
		e.faults.mu.Lock()
		junk := make([]byte, 64+e.faults.rng.IntN(448))
		for i := range junk {
			junk[i] = byte(e.faults.rng.IntN(256))
		}
		e.faults.mu.Unlock()
		writeAnswer(w, answer{status: 200, contentType: "application/json", body: junk})
	case FaultSlow:
		if !sleepCtx(r, e.faults.cfg.Slow) {
			return
		}
		a := e.answer(r, rt)
		writeAnswer(w, a)
		a.release()
	case FaultTruncated:
		a := e.answer(r, rt)
		defer a.release()
		cut := a.body[:len(a.body)/2]
		e.faults.mu.Lock()
		e.faults.cuts++
		lie := e.faults.cuts%2 == 1
		e.faults.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		if lie {
			// net/http closes the connection when fewer bytes than announced
			// were written: the client sees an unexpected EOF.
			h.Set("Content-Length", strconv.Itoa(len(a.body)))
		} else {
			h.Set("Content-Length", strconv.Itoa(len(cut)))
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(cut)
	case FaultReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST instead of FIN
				}
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
}

// limiter enforces RateLimit over a sliding one-second window per key,
// counting requests when they arrive, like nginx in front of RetailCRM.
type limiter struct {
	mu       sync.Mutex
	rps      int
	admitted map[string][]time.Time // arrivals that were let through, last second
	arrivals map[string][]time.Time // every arrival, last second (for MaxInWindow)
	maxIn    map[string]int
}

func (l *limiter) init(rps int) {
	l.rps = rps
	l.admitted = map[string][]time.Time{}
	l.arrivals = map[string][]time.Time{}
	l.maxIn = map[string]int{}
}

func (l *limiter) setRPS(rps int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rps = rps
}

func trimWindow(ts []time.Time, now time.Time) []time.Time {
	cutoff := now.Add(-time.Second)
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return ts[i:]
}

// arrive records a request and reports whether it exceeds the limit.
func (l *limiter) arrive(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	arr := append(trimWindow(l.arrivals[key], now), now)
	l.arrivals[key] = arr
	if len(arr) > l.maxIn[key] {
		l.maxIn[key] = len(arr)
	}
	adm := trimWindow(l.admitted[key], now)
	if l.rps > 0 && len(adm) >= l.rps {
		l.admitted[key] = adm
		return true
	}
	l.admitted[key] = append(adm, now)
	return false
}

// Stats is the request accounting of an emulator.
type Stats struct {
	Requests     int
	ByEndpoint   map[string]int // endpoint pattern, e.g. "/api/v5/orders/{id}"; "unknown" for 404s
	RateLimited  int            // 503s served because of the rate limit
	Faults       int            // injected faults served
	FaultsByKind map[Fault]int
	MaxInWindow  map[string]int // per API key: most requests that arrived within any sliding second
	// MaxInFlight is the most requests that were being answered at once (all keys together).
	MaxInFlight int
}

type statsState struct {
	mu       sync.Mutex
	s        Stats
	inFlight int
}

// begin and end bracket the answering of one request.
func (s *statsState) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight++
	s.s.MaxInFlight = max(s.s.MaxInFlight, s.inFlight)
}

func (s *statsState) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}

func (s *statsState) init() {
	s.s = Stats{ByEndpoint: map[string]int{}, FaultsByKind: map[Fault]int{}, MaxInFlight: s.inFlight}
}

func (s *statsState) request(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s.Requests++
	s.s.ByEndpoint[endpoint]++
}

func (s *statsState) rateLimited() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s.RateLimited++
}

func (s *statsState) fault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s.Faults++
	s.s.FaultsByKind[f]++
}

// Stats returns a copy of the accounting since New or the last ResetStats.
func (e *Emulator) Stats() Stats {
	e.stats.mu.Lock()
	st := e.stats.s
	st.ByEndpoint = make(map[string]int, len(e.stats.s.ByEndpoint))
	for k, v := range e.stats.s.ByEndpoint {
		st.ByEndpoint[k] = v
	}
	st.FaultsByKind = make(map[Fault]int, len(e.stats.s.FaultsByKind))
	for k, v := range e.stats.s.FaultsByKind {
		st.FaultsByKind[k] = v
	}
	e.stats.mu.Unlock()
	e.lim.mu.Lock()
	st.MaxInWindow = make(map[string]int, len(e.lim.maxIn))
	for k, v := range e.lim.maxIn {
		st.MaxInWindow[k] = v
	}
	e.lim.mu.Unlock()
	return st
}

// ResetStats zeroes the accounting. The rate limiter keeps its window: the
// limit is enforcement, not accounting.
func (e *Emulator) ResetStats() {
	e.stats.mu.Lock()
	e.stats.init()
	e.stats.mu.Unlock()
	e.lim.mu.Lock()
	e.lim.maxIn = map[string]int{}
	e.lim.arrivals = map[string][]time.Time{}
	e.lim.mu.Unlock()
}
