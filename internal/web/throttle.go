package web

import (
	"sync"
	"time"
)

// throttle counts failed logins per key (an email, an IP) in a sliding window and refuses
// further attempts once a key reaches its limit, until its oldest failure leaves the window.
//
// It lives in this process's memory: right for the one `serve` process of the embedded
// setup; with several web processes behind a balancer each keeps its own count, so the
// effective limit is multiplied by their number.
type throttle struct {
	mu     sync.Mutex
	window time.Duration
	limit  int
	fails  map[string][]time.Time
	now    func() time.Time
	// sweepAt bounds memory: keys whose failures all left the window are dropped now and then.
	sweepAt time.Time
}

func newThrottle(limit int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{window: window, limit: limit, fails: map[string][]time.Time{}, now: now}
}

// retryAfter is how long key must wait before trying again; 0 when it may try now.
func (t *throttle) retryAfter(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	recent := t.recent(key, now)
	if len(recent) < t.limit {
		return 0
	}
	return recent[len(recent)-t.limit].Add(t.window).Sub(now)
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	recent := t.recent(key, now)
	// Only the newest `limit` failures decide anything; older ones need not be kept.
	if len(recent) >= t.limit {
		recent = recent[len(recent)-t.limit+1:]
	}
	t.fails[key] = append(recent, now)
	if now.After(t.sweepAt) {
		for k, v := range t.fails {
			if len(v) == 0 || now.Sub(v[len(v)-1]) >= t.window {
				delete(t.fails, k)
			}
		}
		t.sweepAt = now.Add(t.window)
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

func (t *throttle) recent(key string, now time.Time) []time.Time {
	v := t.fails[key]
	i := 0
	for i < len(v) && now.Sub(v[i]) >= t.window {
		i++
	}
	if i > 0 {
		v = append([]time.Time(nil), v[i:]...)
		t.fails[key] = v
	}
	return v
}
