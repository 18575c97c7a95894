package retailcrm

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Pacing constants. RetailCRM allows 10 requests/second and answers 503 beyond that; the limit
// counts everything sent with one key or from one IP, so the budget is shared by every task of an
// account in this process, and possibly by other integrations we cannot see.
const (
	// paceFactor keeps the spacing between sends 3% wider than the limit: ten sends span 1.03 s,
	// so a request that reaches the server up to 30 ms later than the one ten before it (network
	// jitter, a busy core on either side) still finds RetailCRM's second clear. At 98.5% (tried)
	// the margin was 20 ms and a loaded machine drew a 503 from two tasks sharing an account.
	paceFactor = 0.97
	// window is the span in which at most floor(allowed) sends may fall; slightly over a second
	// for the same jitter reason.
	window = time.Second + 20*time.Millisecond
	// minRate is the floor the adaptive pace never goes below.
	minRate = 1.0
	// raiseStep and raiseEvery make recovery after a 503 slow: one more request/second per quiet
	// quarter minute, so an account whose real limit is lower than configured is probed rarely.
	raiseStep  = 1.0
	raiseEvery = 15 * time.Second
	// history is how long reserved send times are kept: the window, plus enough for a 503 that
	// arrives late to still count the sends of the second before the rejected one.
	history = 5 * time.Second
	// maxPause bounds how long a Retry-After header can stall an account.
	maxPause = 5 * time.Minute
)

// Limiters is a registry of per-account pacers keyed by normalised account URL. Every Client of
// one account that shares a Limiters shares its pace.
type Limiters struct {
	mu       sync.Mutex
	accounts map[string]*accountLimiter
}

// NewLimiters returns an empty registry (tests use their own to stay independent).
func NewLimiters() *Limiters {
	return &Limiters{accounts: map[string]*accountLimiter{}}
}

// DefaultLimiters is the process-wide registry used when Config.Limiters is nil.
var DefaultLimiters = NewLimiters()

// LimiterStats describes one account's pacer.
type LimiterStats struct {
	Configured      float64   // requests/second from the latest Config for the account
	Allowed         float64   // current ceiling after adapting to 503s (≤ Configured)
	Pace            float64   // requests/second sends are actually spaced at (Allowed × 0.97)
	Sent            int64     // requests let through (retries included)
	RateLimited     int64     // 503/429 answers reported
	Reductions      int64     // times Allowed was lowered
	LastRateLimited time.Time // zero if never
}

// Stats reports the pacer of an account; accountURL is normalised first. An account no client
// has used yet reports zero values.
func (l *Limiters) Stats(accountURL string) LimiterStats {
	key, err := NormalizeURL(accountURL)
	if err != nil {
		key = accountURL
	}
	l.mu.Lock()
	a := l.accounts[key]
	l.mu.Unlock()
	if a == nil {
		return LimiterStats{}
	}
	return a.stats(time.Now())
}

// account returns the pacer for key, creating it or applying the newest configured rate.
func (l *Limiters) account(key string, rate float64) *accountLimiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[key]
	if a == nil {
		a = &accountLimiter{configured: rate, allowed: rate}
		l.accounts[key] = a
		return a
	}
	a.configure(rate)
	return a
}

// accountLimiter paces one account. It keeps a log of sends and enforces both a minimum spacing
// (1/pace) between booked send times and at most floor(allowed) actual sends per window; the
// spacing alone would allow 3 sends a second at a limit of 2.5, the window alone would allow
// bursts.
//
// Each send has a booked time (when its turn is) and an actual time (when its goroutine woke up,
// which on a busy machine can be tens of milliseconds later). Spacing the next booking from the
// previous booking keeps the pace from drifting down with every late wake-up; checking the window
// against actual times keeps late sends from crowding into the server's second.
type accountLimiter struct {
	mu         sync.Mutex
	configured float64
	allowed    float64
	sends      []send    // booked times ascending
	notBefore  time.Time // set by Retry-After
	calmSince  time.Time // last reduction or raise; zero while at the configured rate
	cutAfter   time.Time // 503s for requests sent up to here are already accounted for

	sent, throttled, reductions int64
	lastRateLimited             time.Time

	// answers are the smoothed answer times per kind of request (depth.go).
	answers map[string]time.Duration
}

// send is one request through the pacer: when its turn was booked, when it actually went (the
// wake-up, then the moment it got its connection), and whether it has gone out on the wire.
type send struct {
	booked, actual time.Time
	out            bool
}

func (a *accountLimiter) configure(rate float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.allowed >= a.configured || a.allowed > rate {
		a.allowed = rate
	}
	a.configured = rate
	if a.allowed >= a.configured {
		a.calmSince = time.Time{}
	}
}

// wait blocks until the account may send one more request and returns the send time, which
// identifies the request when reporting a 503 for it.
func (a *accountLimiter) wait(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	t := a.reserve(now)
	d := t.Sub(now)
	if d <= 0 {
		return t, nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		a.cancel(t)
		return time.Time{}, ctx.Err()
	case <-timer.C:
		return a.woke(t, time.Now()), nil
	}
}

// woke records when the send booked at t actually goes out, and returns that time.
func (a *accountLimiter) woke(t, now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.booking(t); i >= 0 {
		a.sends[i].actual = later(a.sends[i].actual, now)
		return a.sends[i].actual
	}
	return later(t, now)
}

// going holds a request that had its turn until it can go out on its connection without a
// window holding more than floor(allowed) sends that went out, and records when it goes. Between
// the turn and the connection lies whatever the client does meanwhile (a goroutine waiting for
// a core, a connection being dialled for one of several requests in flight), so sends booked in
// order can go out bunched; checked against the sends that went out, they cannot.
func (a *accountLimiter) going(ctx context.Context, t time.Time) {
	for {
		d := a.clear(t, time.Now())
		if d <= 0 {
			return
		}
		if sleep(ctx, d) != nil {
			return // the request fails on its cancelled context
		}
	}
}

// clear is how long the send booked at t must still wait at now; when it need not, it is
// recorded as gone out at now.
func (a *accountLimiter) clear(t, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.booking(t)
	if i < 0 || a.sends[i].out {
		return 0 // forgotten (older than history), or a second attempt of net/http's own
	}
	m := a.windowMax()
	var gone []time.Time
	for _, s := range a.sends {
		if s.out && s.actual.After(now.Add(-window)) {
			gone = append(gone, s.actual)
		}
	}
	if len(gone) >= m {
		slices.SortFunc(gone, func(x, y time.Time) int { return y.Compare(x) })
		if edge := gone[m-1].Add(window); now.Before(edge) {
			return edge.Sub(now)
		}
	}
	a.sends[i].actual, a.sends[i].out = later(a.sends[i].actual, now), true
	return 0
}

// wrote records that the send booked at t was written to its connection at now: a request
// can leave well after it had its connection (the transport's writer waiting for a core), and
// RetailCRM counts it when it arrives, so the sends after it are held against when it left.
func (a *accountLimiter) wrote(t, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.booking(t); i >= 0 && a.sends[i].out {
		a.sends[i].actual = later(a.sends[i].actual, now)
	}
}

// booking is the index of the send booked at t, or -1 when it is forgotten (older than history).
func (a *accountLimiter) booking(t time.Time) int {
	for i := len(a.sends) - 1; i >= 0; i-- {
		if a.sends[i].booked.Equal(t) {
			return i
		}
	}
	return -1
}

// reserve books the earliest send time at or after now that keeps the pace.
func (a *accountLimiter) reserve(now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recover(now)
	a.trim(now)
	t := now
	if t.Before(a.notBefore) {
		t = a.notBefore
	}
	if n := len(a.sends); n > 0 {
		t = later(t, a.sends[n-1].booked.Add(a.interval()))
		if m := a.windowMax(); n >= m {
			t = later(t, a.mthLatestActual(m).Add(window))
		}
	}
	a.sends = append(a.sends, send{booked: t, actual: t})
	a.sent++
	return t
}

// mthLatestActual is the m-th most recent actual send time (1 = the latest); len(sends) ≥ m.
// Late wake-ups can leave actual times slightly out of booking order, hence the selection.
func (a *accountLimiter) mthLatestActual(m int) time.Time {
	latest := make([]time.Time, 0, m+1)
	for _, s := range a.sends {
		i, _ := slices.BinarySearchFunc(latest, s.actual, func(x, y time.Time) int { return y.Compare(x) })
		if i < m {
			latest = slices.Insert(latest, i, s.actual)
			if len(latest) > m {
				latest = latest[:m]
			}
		}
	}
	return latest[m-1]
}

// cancel gives back a reservation that was never used (the caller's context ended first).
func (a *accountLimiter) cancel(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.booking(t); i >= 0 {
		a.sends = append(a.sends[:i], a.sends[i+1:]...)
		a.sent--
	}
}

// rateLimited lowers the pace after a 503/429 for the request sent at sentAt. The new ceiling is
// what the server evidently tolerated: the sends in the second before the rejected one, minus one.
// Answers to sends reserved before the previous reduction are counted but do not lower it again,
// so one burst of concurrent 503s costs one step, not one per request.
func (a *accountLimiter) rateLimited(sentAt, now time.Time, retryAfter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.throttled++
	a.lastRateLimited = now
	if retryAfter > 0 {
		a.notBefore = later(a.notBefore, now.Add(min(retryAfter, maxPause)))
	}
	if !sentAt.After(a.cutAfter) {
		return
	}
	observed := 0
	for _, s := range a.sends {
		if s.actual.After(sentAt.Add(-time.Second)) && !s.actual.After(sentAt) {
			observed++
		}
	}
	next := math.Max(minRate, math.Min(float64(observed-1), a.allowed-raiseStep))
	if next < a.allowed {
		a.allowed = next
		a.reductions++
	}
	a.calmSince = now
	a.cutAfter = now
	if n := len(a.sends); n > 0 {
		a.cutAfter = later(now, a.sends[n-1].actual)
	}
}

// recover raises the ceiling by raiseStep for every raiseEvery without a 503.
func (a *accountLimiter) recover(now time.Time) {
	if a.allowed >= a.configured || a.calmSince.IsZero() {
		return
	}
	steps := int(now.Sub(a.calmSince) / raiseEvery)
	if steps <= 0 {
		return
	}
	a.allowed = math.Min(a.configured, a.allowed+float64(steps)*raiseStep)
	a.calmSince = a.calmSince.Add(time.Duration(steps) * raiseEvery)
	if a.allowed >= a.configured {
		a.calmSince = time.Time{}
	}
}

// trim forgets sends older than history.
func (a *accountLimiter) trim(now time.Time) {
	horizon := now.Add(-history)
	i := 0
	for i < len(a.sends) && !a.sends[i].actual.After(horizon) {
		i++
	}
	if i > 0 {
		a.sends = append(a.sends[:0], a.sends[i:]...)
	}
}

func (a *accountLimiter) interval() time.Duration {
	return time.Duration(float64(time.Second) / (a.allowed * paceFactor))
}

func (a *accountLimiter) windowMax() int {
	return max(1, int(math.Floor(a.allowed+1e-9)))
}

func (a *accountLimiter) stats(now time.Time) LimiterStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recover(now)
	return LimiterStats{
		Configured:      a.configured,
		Allowed:         a.allowed,
		Pace:            a.allowed * paceFactor,
		Sent:            a.sent,
		RateLimited:     a.throttled,
		Reductions:      a.reductions,
		LastRateLimited: a.lastRateLimited,
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
