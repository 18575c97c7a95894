package retailcrm

import (
	"math"
	"net/http"
	"testing"
	"time"
)

// Depth is Little's law: the account's pace times the answer time measured for the kind of
// request, plus one waiting for its turn and one being stored.
func TestDepthFollowsPaceAndAnswerTime(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	orders, feed := answerClass("/api/v5/orders", "100"), answerClass("/api/v5/orders/history", "100")
	if got := a.depth(orders, 32, math.Inf(1)); got != 2 {
		t.Errorf("nothing measured yet: depth %d, want 2", got)
	}
	a.answered(orders, 800*time.Millisecond)
	if got := a.depth(orders, 32, math.Inf(1)); got != 10 { // ⌈9.7/s × 0.8 s⌉ + 2
		t.Errorf("800 ms answers at 10/s: depth %d, want 10", got)
	}
	if got := a.depth(orders, 4, math.Inf(1)); got != 4 {
		t.Errorf("depth %d above the bound 4", got)
	}
	if got := a.depth(feed, 32, math.Inf(1)); got != 10 {
		t.Errorf("an unmeasured kind borrows the slowest measured: depth %d, want 10", got)
	}
	a.answered(feed, 100*time.Millisecond)
	if got := a.depth(feed, 32, math.Inf(1)); got != 3 {
		t.Errorf("100 ms feed pages: depth %d, want 3", got)
	}
	// A reader that takes 4 answers a second needs ⌈4 × 0.8⌉ + 2, whatever the pace.
	if got := a.depth(orders, 32, 4); got != 6 {
		t.Errorf("a reader of 4 answers a second: depth %d, want 6", got)
	}
	// A 503 halves what the account evidently tolerates; the depth follows the pace down.
	now := time.Now()
	for i := range 10 {
		a.sends = append(a.sends, send{booked: now.Add(time.Duration(i-10) * 90 * time.Millisecond), actual: now.Add(time.Duration(i-10) * 90 * time.Millisecond)})
	}
	a.rateLimited(now, now, 0)
	if a.allowed >= 10 {
		t.Fatalf("a 503 left the account allowed %.1f/s", a.allowed)
	}
	if got, want := a.depth(orders, 32, math.Inf(1)), int(math.Ceil(a.allowed*paceFactor*0.8))+2; got != want {
		t.Errorf("after a 503: depth %d, want %d (allowed %.1f)", got, want, a.allowed)
	}
}

// A RetailCRM that slows down gets more requests in flight within a few answers; one that
// speeds up gives them back gradually.
func TestDepthAdaptsToSlowDownAndRecovery(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	class := answerClass("/api/v5/orders", "100")
	for range 20 {
		a.answered(class, 100*time.Millisecond)
	}
	if got := a.depth(class, 64, math.Inf(1)); got != 3 {
		t.Fatalf("steady 100 ms: depth %d, want 3", got)
	}
	var depths []int
	for range 4 {
		a.answered(class, 3*time.Second)
		depths = append(depths, a.depth(class, 64, math.Inf(1)))
	}
	if depths[0] < 15 || depths[3] < 28 {
		t.Errorf("answers went from 100 ms to 3 s: depths %v, want ≥ 15 after one and ≥ 28 after four", depths)
	}
	a.answered(class, 100*time.Millisecond)
	if got := a.depth(class, 64, math.Inf(1)); got < 20 {
		t.Errorf("one quick answer after a slow stretch dropped the depth to %d", got)
	}
	for range 60 {
		a.answered(class, 100*time.Millisecond)
	}
	if got := a.depth(class, 64, math.Inf(1)); got != 3 {
		t.Errorf("back at 100 ms: depth %d, want 3", got)
	}
}

// The client measures answer times itself, per kind of read; throttled answers, which nginx
// sends at once, do not count.
func TestClientMeasuresAnswerTimes(t *testing.T) {
	t.Parallel()
	throttle := 1
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v5/orders" && throttle > 0 {
			throttle--
			writeAnswer(w, answer{status: http.StatusServiceUnavailable, body: []byte("<html>503</html>")})
			return
		}
		if r.URL.Path == "/api/v5/orders" {
			time.Sleep(250 * time.Millisecond)
		}
		writeAnswer(w, ok([]byte(`{"success":true,"pagination":{"limit":100,"totalCount":0,"currentPage":1,"totalPageCount":0},"orders":[],"history":[]}`)))
	})
	c, _ := newTestClient(t, slow, func(cfg *Config) { cfg.RateLimit = 10; cfg.MaxAttempts = 5 })
	if got := c.Depth(OrderPages, 100, 32, math.Inf(1)); got != 2 {
		t.Fatalf("before any answer: depth %d", got)
	}
	if _, err := c.Orders(t.Context(), OrdersFilter{}, 1, 100); err != nil {
		t.Fatal(err)
	}
	// The 503 was answered at once and left out; the page took at least 250 ms, and the
	// pace dropped after the 503.
	st := c.limiter.stats(time.Now())
	want := int(st.Pace*0.25) + 2
	if got := c.Depth(OrderPages, 100, 32, math.Inf(1)); got < want {
		t.Errorf("depth %d after a 250 ms page at %.1f/s, want at least %d", got, st.Pace, want)
	}
	if _, err := c.History(t.Context(), HistoryFilter{}, 100); err != nil {
		t.Fatal(err)
	}
	if d := c.limiter.answers[answerClass("/api/v5/orders/history", "100")]; d >= 250*time.Millisecond {
		t.Errorf("feed pages share the orders' answer time: %v", d)
	}
}
