package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
)

// incrResult is benchmark 4: after a backfill, k orders change in RetailCRM; the next run's
// requests by endpoint, for each base size (to show they do not depend on it).
type incrResult struct {
	Bases []incrBase
}

type incrBase struct {
	Orders int
	Steps  []incrStep
}

type incrStep struct {
	K          int
	ByEndpoint map[string]int
	Requests   int
	Fetched    int64
	Updated    int64
}

const (
	epHistory     = "/api/v5/orders/history"
	epOrders      = "/api/v5/orders"
	epCredentials = "/api/credentials"
	epSettings    = "/api/v5/settings"
)

// bound is the target: ceil(k/100) history pages + ceil(k/100) order pages + a constant: the
// two preflight calls every run makes (credentials and settings), and the key check at the end
// of a run that read anything (a change of the key's store access leaves no feed entry).
func (s incrStep) bound() int { return 2*ceilDiv(s.K, 100) + 3 }

func (s incrStep) within() bool {
	h, o := ceilDiv(s.K, 100), ceilDiv(s.K, 100)
	if s.K == 0 {
		h = 1 // reading an empty feed is one request
	}
	return s.ByEndpoint[epHistory] <= h && s.ByEndpoint[epOrders] <= o && s.Requests <= h+o+3
}

func runIncremental(ctx context.Context, cfg *settings) (*incrResult, error) {
	res := &incrResult{}
	for _, n := range []int{cfg.incrOrders, cfg.incrOrders / 10} {
		b, err := incrementalBase(ctx, cfg, n)
		if err != nil {
			return nil, err
		}
		res.Bases = append(res.Bases, b)
	}
	return res, nil
}

func incrementalBase(ctx context.Context, cfg *settings, n int) (incrBase, error) {
	base := incrBase{Orders: n}
	emu, err := startEmulator(emuOpts{orders: n})
	if err != nil {
		return base, err
	}
	defer emu.Stop()
	dir, err := os.MkdirTemp(cfg.tmp, "incr-")
	if err != nil {
		return base, err
	}
	defer os.RemoveAll(dir)
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return base, err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, emu.URL(), unpaced, false)
	if err != nil {
		return base, err
	}
	progress("incremental: backfill of %d orders", n)
	run, err := svc.runOnce(ctx, task)
	if err != nil {
		return base, err
	}
	if run.Counts.Fetched < int64(n) {
		return base, fmt.Errorf("incremental: backfill fetched %d of %d", run.Counts.Fetched, n)
	}
	for i, k := range append([]int{0}, cfg.incrK...) {
		if k > 0 {
			if err := emu.Change(k, n, "r"+strconv.Itoa(i)); err != nil {
				return base, err
			}
		}
		if err := emu.Reset(); err != nil {
			return base, err
		}
		run, err := svc.runOnce(ctx, task)
		if err != nil {
			return base, err
		}
		st, err := emu.Stats()
		if err != nil {
			return base, err
		}
		s := incrStep{K: k, ByEndpoint: st.ByEndpoint, Requests: st.Requests, Fetched: run.Counts.Fetched, Updated: run.Counts.Updated}
		base.Steps = append(base.Steps, s)
		progress("incremental base %d, k=%d: %d requests (%s), %d fetched, %d updated", n, k, s.Requests, endpoints(s.ByEndpoint), s.Fetched, s.Updated)
	}
	return base, nil
}
