package retailcrm

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// limitedServer enforces a sliding one-second window like RetailCRM: beyond limit requests in
// any second it answers 503 with an nginx page. It serves a 50-page order list.
type limitedServer struct {
	limit       int
	countServed bool // true: only answered requests fill the window; false: every arrival does

	mu       sync.Mutex
	arrivals []time.Time // window contents
	served   []time.Time // times of successful answers
	rejected int
}

const pagesToWalk = 50

func (s *limitedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	i := 0
	for i < len(s.arrivals) && now.Sub(s.arrivals[i]) >= time.Second {
		i++
	}
	s.arrivals = s.arrivals[i:]
	over := len(s.arrivals) >= s.limit
	if !over || !s.countServed {
		s.arrivals = append(s.arrivals, now)
	}
	if over {
		s.rejected++
	} else {
		s.served = append(s.served, now)
	}
	s.mu.Unlock()
	if over {
		writeAnswer(w, answer{status: http.StatusServiceUnavailable,
			body: []byte("<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")})
		return
	}
	page := r.URL.Query().Get("page")
	writeAnswer(w, ok(fmt.Appendf(nil,
		`{"success":true,"pagination":{"limit":20,"totalCount":%d,"currentPage":%s,"totalPageCount":%d},"orders":[{"id":%s,"number":"%sC"}]}`,
		pagesToWalk*20, page, pagesToWalk, page, page)))
}

func (s *limitedServer) result() (served []time.Time, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.served...), s.rejected
}

func rate(times []time.Time) float64 {
	return float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
}

// TestPacingReachesTheLimitWithout503 walks 50 pages against a 10 rps server with the default
// configuration: no 503, and at least 95% of the allowed pace.
func TestPacingReachesTheLimitWithout503(t *testing.T) {
	t.Parallel()
	srv := &limitedServer{limit: 10}
	c, _ := newTestClient(t, srv, func(cfg *Config) {
		cfg.RateLimit = 0 // the default, 10
		cfg.RetryBaseDelay, cfg.RetryMaxDelay = 0, 0
	})
	pages := 0
	err := c.EachOrdersPage(context.Background(), OrdersFilter{}, 20, func(*OrdersPage) error {
		pages++
		return nil
	})
	if err != nil || pages != pagesToWalk {
		t.Fatalf("walked %d pages: %v", pages, err)
	}
	served, rejected := srv.result()
	if rejected != 0 {
		t.Errorf("%d requests rejected with 503", rejected)
	}
	if r := rate(served); r < 9.5 {
		t.Errorf("paced at %.2f requests/s, want ≥ 9.5", r)
	}
	t.Logf("pace %.2f requests/s, %d requests", rate(served), c.Requests())
}

// TestPacingIsSharedByClientsOfOneAccount runs two clients of one account side by side: together
// they stay within the account's limit.
func TestPacingIsSharedByClientsOfOneAccount(t *testing.T) {
	t.Parallel()
	srv := &limitedServer{limit: 10}
	limiters := NewLimiters()
	a, _ := newTestClient(t, srv, func(cfg *Config) { cfg.RateLimit, cfg.Limiters = 10, limiters })
	b, err := New(Config{URL: a.BaseURL(), APIKey: testKey, RateLimit: 10, Limiters: limiters})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range []*Client{a, b} {
		wg.Go(func() {
			pages := 0
			err := c.EachOrdersPage(context.Background(), OrdersFilter{}, 20, func(*OrdersPage) error {
				pages++
				if pages == pagesToWalk/2 {
					return errStop
				}
				return nil
			})
			if err != errStop {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	served, rejected := srv.result()
	if rejected != 0 {
		t.Errorf("%d requests rejected with 503", rejected)
	}
	if r := rate(served); r < 9.5 {
		t.Errorf("paced at %.2f requests/s together, want ≥ 9.5", r)
	}
	if st := limiters.Stats(a.BaseURL()); st.Sent != pagesToWalk || st.RateLimited != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

var errStop = fmt.Errorf("stop")

// TestPacingConvergesToALowerRealLimit: configured for 10 rps, the server allows 5. The client
// must converge after at most two 503s and then read the rest without any. Two servers are
// tried at once (plain goroutines: the walks mostly sleep, and -parallel would serialise
// subtests on a 2-core machine): one whose window counts every arrival, one only answered ones.
func TestPacingConvergesToALowerRealLimit(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for _, countServed := range []bool{false, true} {
		srv := &limitedServer{limit: 5, countServed: countServed}
		limiters := NewLimiters()
		c, _ := newTestClient(t, srv, func(cfg *Config) {
			cfg.RateLimit, cfg.Limiters = 10, limiters
			cfg.RetryBaseDelay, cfg.RetryMaxDelay = 0, 0 // production backoff
		})
		wg.Go(func() {
			pages := 0
			err := c.EachOrdersPage(context.Background(), OrdersFilter{}, 20, func(*OrdersPage) error {
				pages++
				return nil
			})
			if err != nil || pages != pagesToWalk {
				t.Errorf("countServedOnly=%v: walked %d pages: %v", countServed, pages, err)
				return
			}
			served, rejected := srv.result()
			if rejected > 2 {
				t.Errorf("countServedOnly=%v: %d requests rejected with 503, want at most 2", countServed, rejected)
			}
			// After converging, the pace is close to the real limit.
			tail := served[len(served)-30:]
			if r := rate(tail); r < 0.9*5 || r > 5 {
				t.Errorf("countServedOnly=%v: converged pace %.2f requests/s, want just under 5", countServed, r)
			}
			st := limiters.Stats(c.BaseURL())
			t.Logf("countServedOnly=%v: 503s %d, pace %.2f requests/s, stats %+v", countServed, rejected, rate(tail), st)
			if st.RateLimited != int64(rejected) || st.Allowed > 5 {
				t.Errorf("countServedOnly=%v: Stats = %+v", countServed, st)
			}
		})
	}
	wg.Wait()
}
