package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// ceilingResult is benchmark 1: a first run against an emulator that answers 503 beyond 10
// requests per sliding second, with the task at RetailCRM's default rate (10/s).
type ceilingResult struct {
	Orders int
	Runs   []ceilingRun
	// Wide is one run with importer.Config.WindowTarget at wideTarget, the former default:
	// what window size does to the request count.
	Wide *ceilingRun
}

const wideTarget = 2_000

type ceilingRun struct {
	Wall        time.Duration
	Fetched     int64
	Requests    int
	ByEndpoint  map[string]int
	RateLimited int // 503s the emulator served
	MaxInWindow int // most requests that arrived within any sliding second
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

func runCeiling(ctx context.Context, cfg *settings) (*ceilingResult, error) {
	n := cfg.ceilingOrders
	emu, err := startEmulator(emuOpts{orders: n, rps: 10})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	res := &ceilingResult{Orders: n}
	for i := 0; i < cfg.runs; i++ {
		dir, err := os.MkdirTemp(cfg.tmp, "ceiling-")
		if err != nil {
			return nil, err
		}
		r, err := ceilingOnce(ctx, emu, dir, n, 0)
		os.RemoveAll(dir)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, r)
		progress("ceiling run %d: %d orders in %v, ratio %.3f, %d requests, %d × 503, at most %d requests in a second",
			i+1, r.Fetched, r.Wall.Round(time.Millisecond), r.ratio(n), r.Requests, r.RateLimited, r.MaxInWindow)
	}
	dir, err := os.MkdirTemp(cfg.tmp, "ceiling-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	wide, err := ceilingOnce(ctx, emu, dir, n, wideTarget)
	if err != nil {
		return nil, err
	}
	res.Wide = &wide
	progress("ceiling with WindowTarget %d: ratio %.3f, %d requests", wideTarget, wide.ratio(n), wide.Requests)
	return res, nil
}

// ceilingOnce runs one first run; windowTarget 0 keeps the importer's default.
func ceilingOnce(ctx context.Context, emu *emuProc, dir string, n, windowTarget int) (ceilingRun, error) {
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return ceilingRun{}, err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, emu.URL(), 0, false)
	if err != nil {
		return ceilingRun{}, err
	}
	svc.app.Importer.Config.WindowTarget = windowTarget
	// The emulator's window must not remember the previous run's requests.
	time.Sleep(1100 * time.Millisecond)
	if err := emu.Reset(); err != nil {
		return ceilingRun{}, err
	}
	start := time.Now()
	run, err := svc.runOnce(ctx, task)
	wall := time.Since(start)
	if err != nil {
		return ceilingRun{}, err
	}
	if run.Counts.Fetched < int64(n) {
		return ceilingRun{}, fmt.Errorf("ceiling: fetched %d of %d orders", run.Counts.Fetched, n)
	}
	st, err := emu.Stats()
	if err != nil {
		return ceilingRun{}, err
	}
	return ceilingRun{Wall: wall, Fetched: run.Counts.Fetched, Requests: st.Requests, ByEndpoint: st.ByEndpoint,
		RateLimited: st.RateLimited, MaxInWindow: st.MaxInWindow}, nil
}
