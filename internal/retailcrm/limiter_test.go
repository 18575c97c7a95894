package retailcrm

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The limiter's decisions are pure functions of the times passed in, so these tests drive it
// with a fake clock (t0 + offsets) and never sleep.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestLimiter(rate float64) *accountLimiter {
	return NewLimiters().account("https://shop.retailcrm.ru", rate)
}

// maxInWindow is the largest number of sends in any half-open window (s-1s, s].
func maxInWindow(sends []time.Time) int { return maxInWindowFrom(sends, 0) }

// maxInWindowFrom is maxInWindow over the windows ending at sends[from:].
func maxInWindowFrom(sends []time.Time, from int) int {
	most := 0
	for i := from; i < len(sends); i++ {
		n := 0
		for j := i; j >= 0 && sends[i].Sub(sends[j]) < time.Second; j-- {
			n++
		}
		most = max(most, n)
	}
	return most
}

// sequential reserves n sends as a single client would: each one asked for when the previous
// went out, plus work time.
func sequential(a *accountLimiter, start time.Time, n int, work time.Duration) []time.Time {
	var sends []time.Time
	now := start
	for range n {
		s := a.reserve(now)
		sends = append(sends, s)
		now = s.Add(work)
	}
	return sends
}

func TestLimiterPacesJustUnderTheLimit(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{10, 5, 1, 40} {
		a := newTestLimiter(rate)
		sends := sequential(a, t0, 200, 3*time.Millisecond)
		if got := maxInWindow(sends); got > int(rate) {
			t.Errorf("rate %v: %d sends in one second", rate, got)
		}
		pace := float64(len(sends)-1) / sends[len(sends)-1].Sub(sends[0]).Seconds()
		if pace < 0.95*rate || pace > rate {
			t.Errorf("rate %v: paced at %.2f/s, want within [95%%, 100%%]", rate, pace)
		}
	}
}

// TestLimiterAbsorbsLateWakeUps: on a busy machine a goroutine wakes after its booked time. The
// pace must not drift down with every late wake-up, and late sends must not crowd the window.
func TestLimiterAbsorbsLateWakeUps(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	var actual []time.Time
	now := t0
	for i := range 300 {
		booked := a.reserve(now)
		late := time.Duration(i%4) * time.Millisecond
		if i%20 == 0 {
			late = 40 * time.Millisecond // a long stall now and then
		}
		sent := a.woke(booked, booked.Add(late))
		if !sent.Equal(booked.Add(late)) {
			t.Fatalf("woke returned %v, want the actual time", sent.Sub(booked))
		}
		actual = append(actual, sent)
		now = sent.Add(2 * time.Millisecond)
	}
	if got := maxInWindow(actual); got > 10 {
		t.Errorf("%d actual sends in one second", got)
	}
	if pace := float64(len(actual)-1) / actual[len(actual)-1].Sub(actual[0]).Seconds(); pace < 9.5 {
		t.Errorf("paced at %.2f/s with late wake-ups, want ≥ 9.5", pace)
	}
}

func TestLimiterSpreadsConcurrentCallers(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	var sends []time.Time
	for range 35 { // 35 goroutines asking at the same instant
		sends = append(sends, a.reserve(t0))
	}
	if sends[0] != t0 {
		t.Errorf("first send delayed to %v", sends[0].Sub(t0))
	}
	for i := 1; i < len(sends); i++ {
		if d := sends[i].Sub(sends[i-1]); d < time.Second/10 {
			t.Fatalf("sends %d and %d only %v apart", i-1, i, d)
		}
	}
	if got := maxInWindow(sends); got > 10 {
		t.Errorf("%d sends in one second", got)
	}
}

func TestLimiterFractionalLimitCapsTheWindow(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(2.5)
	sends := sequential(a, t0, 50, 0)
	if got := maxInWindow(sends); got > 2 {
		t.Errorf("limit 2.5: %d sends in one second", got)
	}
}

func TestLimiterLowersPaceAfterRateLimit(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	sends := sequential(a, t0, 6, 0) // 6 sends within ~0.52s; the server's real limit is 5
	rejected := sends[5]
	now := rejected.Add(20 * time.Millisecond)
	a.rateLimited(rejected, now, 0)
	st := a.stats(now)
	if st.Allowed != 5 || st.Reductions != 1 || st.RateLimited != 1 || st.LastRateLimited != now {
		t.Fatalf("after a 503 with 6 sends in the second: %+v, want allowed 5", st)
	}
	// A 503 for a send made before the reduction is the same burst: counted, not acted on.
	a.rateLimited(sends[4], now.Add(time.Millisecond), 0)
	if st := a.stats(now); st.Allowed != 5 || st.Reductions != 1 || st.RateLimited != 2 {
		t.Errorf("stale 503 lowered the pace again: %+v", st)
	}
	// From now on no second holds more than 5 sends, counting the ones already made.
	after := sequential(a, now, 60, 2*time.Millisecond)
	if got := maxInWindowFrom(append(sends, after...), len(sends)); got > 5 {
		t.Errorf("%d sends in one second after adapting to 5", got)
	}
	pace := float64(len(after)-1) / after[len(after)-1].Sub(after[0]).Seconds()
	if pace < 0.95*5 {
		t.Errorf("adapted pace %.2f/s, want ≥ 95%% of 5", pace)
	}
	// A fresh 503 (a send after the reduction) lowers it again.
	last := after[len(after)-1]
	a.rateLimited(last, last.Add(10*time.Millisecond), 0)
	if st := a.stats(last); st.Allowed != 4 || st.Reductions != 2 {
		t.Errorf("second 503: %+v, want allowed 4", st)
	}
}

func TestLimiterNeverGoesBelowOneRequestPerSecond(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	now := t0
	for range 20 {
		s := a.reserve(now)
		now = s.Add(time.Millisecond)
		a.rateLimited(s, now, 0)
	}
	if st := a.stats(now); st.Allowed != 1 {
		t.Errorf("allowed %v after many 503s, want the floor 1", st.Allowed)
	}
}

func TestLimiterRecoversSlowly(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	sends := sequential(a, t0, 6, 0)
	cut := sends[5].Add(time.Millisecond)
	a.rateLimited(sends[5], cut, 0)
	for _, tc := range []struct {
		after time.Duration
		want  float64
	}{
		{0, 5}, {14 * time.Second, 5}, {15 * time.Second, 6}, {29 * time.Second, 6},
		{60 * time.Second, 9}, {75 * time.Second, 10}, {10 * time.Minute, 10},
	} {
		if got := a.stats(cut.Add(tc.after)).Allowed; got != tc.want {
			t.Errorf("%v after the 503: allowed %v, want %v", tc.after, got, tc.want)
		}
	}
}

func TestLimiterFollowsTheLatestConfig(t *testing.T) {
	t.Parallel()
	l := NewLimiters()
	key := "https://shop.retailcrm.ru"
	a := l.account(key, 10)
	if b := l.account(key, 4); b != a {
		t.Fatal("same account got two limiters")
	}
	if st := a.stats(t0); st.Configured != 4 || st.Allowed != 4 {
		t.Errorf("after lowering the config: %+v", st)
	}
	l.account(key, 12)
	if st := a.stats(t0); st.Configured != 12 || st.Allowed != 12 {
		t.Errorf("after raising the config: %+v", st)
	}
	// An adapted (lowered) pace survives a config raise, and recovers towards the new limit.
	sends := sequential(a, t0, 4, 0)
	a.rateLimited(sends[3], sends[3], 0)
	l.account(key, 20)
	if st := a.stats(sends[3]); st.Configured != 20 || st.Allowed != 3 {
		t.Errorf("adapted pace after a config raise: %+v, want allowed 3", st)
	}
	l.account(key, 2)
	if st := a.stats(sends[3]); st.Allowed != 2 {
		t.Errorf("config below the adapted pace: %+v, want allowed 2", st)
	}
}

func TestLimiterHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	s := a.reserve(t0)
	a.rateLimited(s, t0.Add(10*time.Millisecond), 3*time.Second)
	if next := a.reserve(t0.Add(20 * time.Millisecond)); next.Before(t0.Add(3010 * time.Millisecond)) {
		t.Errorf("next send at +%v, want after the 3s Retry-After", next.Sub(t0))
	}
}

func TestLimiterCancelReturnsTheSlot(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(1)
	first := a.reserve(t0)
	second := a.reserve(t0)
	a.cancel(second)
	if again := a.reserve(t0); !again.Equal(second) {
		t.Errorf("slot after cancel at +%v, want +%v", again.Sub(t0), second.Sub(first))
	}
	if st := a.stats(t0); st.Sent != 2 {
		t.Errorf("Sent = %d, want 2", st.Sent)
	}
}

func TestLimiterWaitStopsOnContext(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(1)
	if _, err := a.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.wait(ctx) // the next slot is a second away
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 500*time.Millisecond {
		t.Errorf("wait = %v after %v, want the context's deadline", err, time.Since(start))
	}
	if st := a.stats(time.Now()); st.Sent != 1 {
		t.Errorf("Sent = %d, want the abandoned slot returned", st.Sent)
	}
}

func TestLimitersStatsByAccountURL(t *testing.T) {
	t.Parallel()
	l := NewLimiters()
	c, err := New(Config{URL: "https://shop.retailcrm.ru", APIKey: testKey, RateLimit: 7, Limiters: l})
	if err != nil {
		t.Fatal(err)
	}
	c.limiter.reserve(time.Now())
	st := l.Stats("  HTTPS://Shop.RetailCRM.ru:443/api/v5/ ")
	if st.Configured != 7 || st.Allowed != 7 || st.Sent != 1 || st.Pace != 7*paceFactor {
		t.Errorf("Stats = %+v", st)
	}
	if st := l.Stats("https://other.retailcrm.ru"); st != (LimiterStats{}) {
		t.Errorf("unknown account: %+v", st)
	}
	if (LimiterStats{}) != DefaultLimiters.Stats("https://never-used.example") {
		t.Error("DefaultLimiters knows an unused account")
	}
}

// Requests booked in turn can reach their connections bunched (a goroutine waiting for a core,
// a connection dialled for one of several in flight): checked again when it goes out, no
// window holds more sends that went out than the limit.
func TestLimiterChecksTheWindowWhenASendGoesOut(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	var booked []time.Time
	for range 30 {
		booked = append(booked, a.reserve(t0))
	}
	// The first ten go out 150 ms late (a dial), the rest on time: without the check, sends
	// 1–10 and 11 would fall within one second.
	var out []time.Time
	for i, b := range booked {
		now := b
		if i < 10 {
			now = b.Add(150 * time.Millisecond)
		}
		for {
			d := a.clear(b, now)
			if d <= 0 {
				break
			}
			now = now.Add(d)
		}
		out = append(out, now)
	}
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	if got := maxInWindow(out); got > 10 {
		t.Errorf("%d sends went out within one second", got)
	}
	if late := out[10].Sub(booked[10]); late <= 0 {
		t.Errorf("send 11 went out on its turn although ten went out in the second before it")
	}
	// A send asked to go out twice (net/http's own retry) is recorded once.
	if d := a.clear(booked[0], out[29].Add(time.Hour)); d != 0 {
		t.Errorf("a second going-out waited %v", d)
	}
}

// A request written to its connection late (the transport's writer waiting for a core) is
// counted from when it left: the send ten after it waits a full window from then.
func TestLimiterCountsALateWriteFromWhenItLeft(t *testing.T) {
	t.Parallel()
	a := newTestLimiter(10)
	var booked []time.Time
	for range 11 {
		booked = append(booked, a.reserve(t0))
	}
	for i, b := range booked[:10] {
		if d := a.clear(b, b); d != 0 {
			t.Fatalf("send %d waited %v on its turn", i+1, d)
		}
	}
	a.wrote(booked[0], booked[0].Add(40*time.Millisecond))
	edge := booked[0].Add(40*time.Millisecond + window)
	if d := a.clear(booked[10], booked[10]); booked[10].Add(d).Before(edge) {
		t.Errorf("send 11 may go at %v, %v after the first was written; want a full window", booked[10].Add(d).Sub(t0), booked[10].Add(d).Sub(edge)+window)
	}
}
