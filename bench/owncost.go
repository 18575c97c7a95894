package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"orderimport/internal/store"
)

// ownCostResult is benchmark 2: one import of n orders from an unlimited emulator into SQLite,
// against the floor (the same requests replayed, answers only fetched and decoded).
type ownCostResult struct {
	Orders        int
	Runs          int
	Requests      int
	PageBytes     int64 // bytes of every answer of one import
	E2E, Floor    []time.Duration
	Ratios        []float64
	E2ECPU        []cpuUse
	FloorCPU      []cpuUse
	StdJSON       time.Duration // one replay decoded with encoding/json into any, for reference
	StdJSONCPU    cpuUse
	ProfilePath   string
	ProfileTop    string
	RequestsByEnd map[string]int
	AggTasks      int
	AggOrders     int
	Agg           []aggRun
}

func runOwnCost(ctx context.Context, cfg *settings) (*ownCostResult, error) {
	n := cfg.ownCostOrders
	res := &ownCostResult{Orders: n, Runs: cfg.runs}
	emu, err := startEmulator(emuOpts{orders: n})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()

	// The first import is recorded; its request list is the floor's.
	var uris []string
	importOnce := func(record, profile bool) (time.Duration, cpuUse, error) {
		dir, err := os.MkdirTemp(cfg.tmp, "owncost-")
		if err != nil {
			return 0, cpuUse{}, err
		}
		defer os.RemoveAll(dir)
		svc, err := newService(ctx, dir, "", 0)
		if err != nil {
			return 0, cpuUse{}, err
		}
		defer svc.Close()
		task, err := svc.addTask(ctx, emu.URL(), unpaced, false)
		if err != nil {
			return 0, cpuUse{}, err
		}
		if record {
			if err := emu.Record(true); err != nil {
				return 0, cpuUse{}, err
			}
		}
		if err := emu.Reset(); err != nil {
			return 0, cpuUse{}, err
		}
		var stop func()
		if profile {
			stop, err = startProfile(cfg.profileDir, "owncost-e2e.cpu.pprof")
			if err != nil {
				return 0, cpuUse{}, err
			}
		}
		a := sampleCPU(emu.Pid())
		run, err := svc.runOnce(ctx, task)
		b := sampleCPU(emu.Pid())
		if stop != nil {
			stop()
		}
		if err != nil {
			return 0, cpuUse{}, err
		}
		if run.Counts.Fetched < int64(n) {
			return 0, cpuUse{}, fmt.Errorf("own cost: the import fetched %d of %d orders", run.Counts.Fetched, n)
		}
		st, err := emu.Stats()
		if err != nil {
			return 0, cpuUse{}, err
		}
		res.Requests, res.RequestsByEnd = st.Requests, st.ByEndpoint
		if record {
			if uris, err = emu.Recorded(); err != nil {
				return 0, cpuUse{}, err
			}
			if err := emu.Record(false); err != nil {
				return 0, cpuUse{}, err
			}
		}
		u := a.until(b)
		return u.Wall, u, nil
	}
	floorOnce := func(decode func([]byte) (any, error)) (time.Duration, cpuUse, error) {
		c := newFloorClient()
		a := sampleCPU(emu.Pid())
		bytesRead, orders, err := c.replay(ctx, emu.URL(), uris, decode)
		b := sampleCPU(emu.Pid())
		if err != nil {
			return 0, cpuUse{}, err
		}
		if orders < int64(n) {
			return 0, cpuUse{}, fmt.Errorf("own cost floor: %d of %d orders", orders, n)
		}
		res.PageBytes = bytesRead
		u := a.until(b)
		return u.Wall, u, nil
	}

	progress("own cost: recording the requests of an import of %d orders (warm-up, not counted)", n)
	if _, _, err := importOnce(true, false); err != nil {
		return nil, err
	}
	for i := 0; i < cfg.runs; i++ {
		// Alternate which goes first so that a drift in the machine's load hits both alike.
		var fw, ew time.Duration
		var fc, ec cpuUse
		legs := []func() error{
			func() (err error) { fw, fc, err = floorOnce(decodeGeneric); return err },
			func() (err error) {
				ew, ec, err = importOnce(false, i == cfg.runs-1 && cfg.profileDir != "")
				return err
			},
		}
		if i%2 == 1 {
			legs[0], legs[1] = legs[1], legs[0]
		}
		for _, leg := range legs {
			if err := leg(); err != nil {
				return nil, err
			}
		}
		res.Floor = append(res.Floor, fw)
		res.E2E = append(res.E2E, ew)
		res.FloorCPU = append(res.FloorCPU, fc)
		res.E2ECPU = append(res.E2ECPU, ec)
		res.Ratios = append(res.Ratios, ew.Seconds()/fw.Seconds())
		progress("own cost run %d: import %v, floor %v, ratio %.2f (others used %.2f cores)", i+1,
			ew.Round(time.Millisecond), fw.Round(time.Millisecond), ew.Seconds()/fw.Seconds(), ec.foreignCores())
	}
	if err := aggregate(ctx, cfg, res); err != nil {
		return nil, err
	}
	if !cfg.quick {
		progress("own cost: one replay decoded with encoding/json for reference")
		w, u, err := floorOnce(decodeStd)
		if err != nil {
			return nil, err
		}
		res.StdJSON, res.StdJSONCPU = w, u
	}
	if cfg.profileDir != "" {
		res.ProfilePath = filepath.Join(cfg.profileDir, "owncost-e2e.cpu.pprof")
		res.ProfileTop = pprofTop(res.ProfilePath)
	}
	return res, nil
}

// aggregate runs AggTasks first runs at once in one service (one SQLite database: one node),
// each task an account of its own with its own counter, against one unlimited emulator: the
// node's capacity when several accounts backfill together.
func aggregate(ctx context.Context, cfg *settings, res *ownCostResult) error {
	res.AggTasks = 10
	res.AggOrders = res.Orders / res.AggTasks
	listen := make([]string, res.AggTasks)
	for i := range listen {
		listen[i] = "127.0.0.1:0"
	}
	emu, err := startEmulator(emuOpts{orders: res.AggOrders, listen: listen})
	if err != nil {
		return err
	}
	defer emu.Stop()
	for i := 0; i < cfg.runs; i++ {
		a, err := aggregateOnce(ctx, cfg, emu, res)
		if err != nil {
			return err
		}
		res.Agg = append(res.Agg, a)
		progress("own cost, %d imports at once: %d orders in %v, %.0f orders/s (others used %.2f cores)", res.AggTasks, a.Orders,
			a.Wall.Round(time.Millisecond), float64(a.Orders)/a.Wall.Seconds(), a.CPU.foreignCores())
	}
	return nil
}

func aggregateOnce(ctx context.Context, cfg *settings, emu *emuProc, res *ownCostResult) (aggRun, error) {
	dir, err := os.MkdirTemp(cfg.tmp, "aggregate-")
	if err != nil {
		return aggRun{}, err
	}
	defer os.RemoveAll(dir)
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return aggRun{}, err
	}
	defer svc.Close()
	tasks := make([]store.Task, res.AggTasks)
	for i := range tasks {
		c, err := svc.app.Store.CreateCounter(ctx, svc.account, fmt.Sprintf("Shop %d", i+1), "Europe/Moscow")
		if err != nil {
			return aggRun{}, err
		}
		if tasks[i], err = svc.addTaskIn(ctx, c.ID, emu.URLs[i], unpaced, false); err != nil {
			return aggRun{}, err
		}
	}
	fetched := make([]int64, len(tasks))
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	a := sampleCPU(emu.Pid())
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, err := svc.runOnce(ctx, t)
			fetched[i], errs[i] = run.Counts.Fetched, err
		}()
	}
	wg.Wait()
	u := a.until(sampleCPU(emu.Pid()))
	if err := errors.Join(errs...); err != nil {
		return aggRun{}, err
	}
	out := aggRun{Wall: u.Wall, CPU: u}
	for _, n := range fetched {
		if n < int64(res.AggOrders) {
			return aggRun{}, fmt.Errorf("aggregate: an import fetched %d of %d orders", n, res.AggOrders)
		}
		out.Orders += n
	}
	return out, nil
}

func decodeStd(body []byte) (any, error) {
	var v any
	err := json.Unmarshal(body, &v)
	return v, err
}

// startProfile writes a CPU profile of this process until the returned function is called.
func startProfile(dir, name string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// pprofTop summarises a profile with `go tool pprof -top -cum`: the product's functions and
// the libraries under them, without the harness's own frames.
func pprofTop(path string) string {
	out, err := runCmd("go", "tool", "pprof", "-top", "-cum", "-nodecount=200", path)
	if err != nil {
		return "(go tool pprof failed: " + err.Error() + ")"
	}
	var keep []string
	n := 0
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "Duration:"), strings.Contains(l, "flat%"):
			keep = append(keep, l)
		case strings.Contains(l, " main.") || strings.HasSuffix(l, "runtime.main") || strings.HasSuffix(l, "runtime.goexit"),
			!strings.Contains(l, "%"):
		case n < 40:
			keep = append(keep, l)
			n++
		}
	}
	return strings.Join(keep, "\n")
}
