package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// ceilingResult is benchmark 1: first runs of a task at RetailCRM's default rate (10/s) against
// an emulator that answers 503 beyond 10 requests per sliding second, at several account sizes
// and answer times.
type ceilingResult struct {
	Cases []*ceilingCase
	// Serial is one case read one page at a time (importer.Config.MaxInFlight 1), the way the
	// importer read before pages went in flight: what they bring.
	Serial *ceilingCase
}

type ceilingCase struct {
	Orders   int
	Answer   time.Duration // every answer's time, emulated
	InFlight int           // importer.Config.MaxInFlight; 0: the default
	Runs     []ceilingRun
}

type ceilingRun struct {
	Wall        time.Duration
	Fetched     int64
	Requests    int
	ByEndpoint  map[string]int
	RateLimited int // 503s the emulator served
	MaxInWindow int // most requests that arrived within any sliding second
	MaxInFlight int // most requests the emulator was answering at once
	Kinds       map[string]int
	Load        float64 // 1-minute load average when the run started
}

// The kinds of requests of a first run, in the order a run makes them; why each exists is in
// kindWhy.
var requestKinds = []string{"key check", "settings", "reference", "feed end", "sizing", "pages", "extra pages", "feed checks", "re-fetches", "key check at the end"}

var kindWhy = map[string]string{
	"key check":            "the preflight: may the key read orders, which stores",
	"settings":             "the preflight: the account's timezone, in which RetailCRM's times are read",
	"reference":            "the account's statuses with their groups, its status groups and its stores (what counts, names, currencies): read at every run, the three at once alongside the key check",
	"feed end":             "where the change feed ends before any order is read: one read of its last hours, and a jump to the end when that is more than a page",
	"sizing":               "the count of the orders (one window or several), and for several the list's last page, naming the oldest day",
	"pages":                "the ideal: ⌈orders ÷ 100⌉",
	"extra pages":          "each window's last page is partial; a window read again; pages asked for ahead past a window's end",
	"feed checks":          "each window of several pages is checked against the feed entries made while it was read; the last check is also the catch-up's read",
	"re-fetches":           "orders changed during the run, read again by id",
	"key check at the end": "a change of the key's stores leaves no feed entry: asked again after the run read orders",
}

// ratio is achieved orders/s ÷ (10 requests/s × 100 orders per page).
func (r ceilingRun) ratio(orders int) float64 {
	return float64(orders) / r.Wall.Seconds() / 1000
}

// requestEfficiency is the share of the ideal page count in the requests made: orders/100 ÷
// requests. Whatever is not 1 went to requests that carried fewer than 100 new orders.
func (r ceilingRun) requestEfficiency(orders int) float64 {
	return float64(orders) / 100 / float64(r.Requests)
}

// pacing is the achieved request rate ÷ 10/s.
func (r ceilingRun) pacing() float64 {
	return float64(r.Requests) / r.Wall.Seconds() / 10
}

func (c *ceilingCase) ratios() []float64 {
	var out []float64
	for _, r := range c.Runs {
		out = append(out, r.ratio(c.Orders))
	}
	return out
}

func (c *ceilingCase) rateLimited() int {
	n := 0
	for _, r := range c.Runs {
		n += r.RateLimited
	}
	return n
}

// medianRun is the run with the median wall time.
func (c *ceilingCase) medianRun() ceilingRun {
	runs := slices.Clone(c.Runs)
	slices.SortFunc(runs, func(a, b ceilingRun) int { return int(a.Wall - b.Wall) })
	return runs[len(runs)/2]
}

// target is the target ratio for a case, 0 where there is none.
func (c *ceilingCase) target() float64 {
	if c.InFlight != 0 {
		return 0
	}
	switch {
	case c.Orders == 20_000 && c.Answer == 0:
		return 0.93
	case c.Orders == 100_000 && c.Answer == 0:
		return 0.95
	case c.Orders == 20_000 && c.Answer == 300*time.Millisecond:
		return 0.90
	case c.Orders == 20_000 && c.Answer == 800*time.Millisecond:
		return 0.85
	}
	return 0
}

func runCeiling(ctx context.Context, cfg *settings) (*ceilingResult, error) {
	res := &ceilingResult{}
	for _, n := range cfg.ceilingOrders {
		// The emulator stands for RetailCRM, whose clock (it counts a request when its handler
		// starts) other people's processes on this machine do not delay: it runs at a higher
		// priority, where the system allows it. A paced emulator takes little CPU.
		emu, err := startEmulator(emuOpts{orders: n, rps: 10, priority: true})
		if err != nil {
			return nil, err
		}
		cases := []*ceilingCase{}
		for _, answer := range cfg.ceilingAnswers {
			cases = append(cases, &ceilingCase{Orders: n, Answer: answer})
		}
		if n == cfg.ceilingOrders[0] {
			res.Serial = &ceilingCase{Orders: n, Answer: cfg.ceilingAnswers[len(cfg.ceilingAnswers)/2], InFlight: 1}
		}
		err = func() error {
			defer emu.Stop()
			for i := 0; i < cfg.runs; i++ {
				for _, c := range cases {
					if err := ceilingRunOf(ctx, cfg, emu, c); err != nil {
						return err
					}
				}
			}
			if s := res.Serial; s != nil && n == s.Orders {
				return ceilingRunOf(ctx, cfg, emu, s)
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
		res.Cases = append(res.Cases, cases...)
	}
	return res, nil
}

// ceilingRunOf runs one first run of case c and adds it to c's runs.
func ceilingRunOf(ctx context.Context, cfg *settings, emu *emuProc, c *ceilingCase) error {
	dir, err := os.MkdirTemp(cfg.tmp, "ceiling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// A second of other people's work makes RetailCRM's emulator answer late and bunched:
	// every run starts on a quiet machine (with -max-load).
	cfg.quiet(ctx)
	load, _ := loadAvg()
	r, err := ceilingOnce(ctx, emu, dir, c)
	if err != nil {
		return err
	}
	r.Load = load
	c.Runs = append(c.Runs, r)
	progress("ceiling %d orders, answers %v, in flight %s: %d in %v, ratio %.3f, %d requests (%s), %d × 503, at most %d in a second, %d at once, load %.2f",
		c.Orders, c.Answer, inFlightText(c.InFlight), r.Fetched, r.Wall.Round(time.Millisecond), r.ratio(c.Orders), r.Requests,
		kindsText(r.Kinds), r.RateLimited, r.MaxInWindow, r.MaxInFlight, r.Load)
	return nil
}

func inFlightText(n int) string {
	if n == 0 {
		return "as the answers call for"
	}
	return fmt.Sprintf("at most %d", n)
}

func kindsText(k map[string]int) string {
	var parts []string
	for _, name := range requestKinds {
		if k[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, k[name]))
		}
	}
	return strings.Join(parts, ", ")
}

// ceilingOnce runs one first run.
func ceilingOnce(ctx context.Context, emu *emuProc, dir string, c *ceilingCase) (ceilingRun, error) {
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return ceilingRun{}, err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, emu.URL(), 0, false)
	if err != nil {
		return ceilingRun{}, err
	}
	svc.app.Importer.Config.MaxInFlight = c.InFlight
	if err := emu.SetAnswerTime(c.Answer, 0); err != nil {
		return ceilingRun{}, err
	}
	// The emulator's window must not remember the previous run's requests.
	time.Sleep(1100 * time.Millisecond)
	if err := emu.Reset(); err != nil {
		return ceilingRun{}, err
	}
	if err := emu.Record(true); err != nil {
		return ceilingRun{}, err
	}
	start := time.Now()
	run, err := svc.runOnce(ctx, task)
	wall := time.Since(start)
	if err != nil {
		return ceilingRun{}, err
	}
	if run.Counts.Fetched < int64(c.Orders) {
		return ceilingRun{}, fmt.Errorf("ceiling: fetched %d of %d orders", run.Counts.Fetched, c.Orders)
	}
	st, err := emu.Stats()
	if err != nil {
		return ceilingRun{}, err
	}
	uris, err := emu.Recorded()
	if err != nil {
		return ceilingRun{}, err
	}
	if err := emu.Record(false); err != nil {
		return ceilingRun{}, err
	}
	return ceilingRun{Wall: wall, Fetched: run.Counts.Fetched, Requests: st.Requests, ByEndpoint: st.ByEndpoint,
		RateLimited: st.RateLimited, MaxInWindow: st.MaxInWindow, MaxInFlight: st.MaxInFlight,
		Kinds: classifyRequests(uris, c.Orders)}, nil
}

// classifyRequests sorts a first run's requests, in the order they arrived, into requestKinds.
func classifyRequests(uris []string, orders int) map[string]int {
	k := map[string]int{}
	paged := false // an order page of a window has arrived
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil {
			k["unknown"]++
			continue
		}
		q := u.Query()
		switch {
		case u.Path == "/api/credentials" && !paged:
			k["key check"]++
		case u.Path == "/api/credentials":
			k["key check at the end"]++
		case u.Path == "/api/v5/settings":
			k["settings"]++
		case strings.HasPrefix(u.Path, "/api/v5/reference/"):
			k["reference"]++
		case u.Path == "/api/v5/orders/history" && !paged:
			k["feed end"]++
		case u.Path == "/api/v5/orders/history":
			k["feed checks"]++
		case u.Path == "/api/v5/orders" && q.Get("filter[ids][]") != "":
			k["re-fetches"]++
		case u.Path == "/api/v5/orders" && q.Get("limit") == "100":
			paged = true
			k["pages"]++
		case u.Path == "/api/v5/orders":
			k["sizing"]++
		default:
			k["unknown"]++
		}
	}
	ideal := (orders + 99) / 100
	if k["pages"] > ideal {
		k["extra pages"] = k["pages"] - ideal
		k["pages"] = ideal
	}
	return k
}
