package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// memResult is benchmark 3: peak RSS of a first-run backfill, measured in a child process
// that does nothing else (the emulator is yet another process).
type memResult struct {
	Sizes []memSize
}

type memSize struct {
	Orders  int
	PeakRSS []int64 // VmHWM of the importing process, per run
	Wall    []time.Duration
	HeapMax []uint64 // the Go heap's high-water mark sampled every 100 ms
	DBBytes int64
}

type memChildOut struct {
	PeakRSS int64         `json:"peak_rss"`
	HeapMax uint64        `json:"heap_max"`
	Wall    time.Duration `json:"wall"`
	Fetched int64         `json:"fetched"`
	DBBytes int64         `json:"db_bytes"`
}

// memChildMain imports every order of the emulator at -url into a fresh SQLite database in
// -dir and prints memChildOut as JSON.
func memChildMain(args []string) error {
	fs := flag.NewFlagSet("memchild", flag.ContinueOnError)
	url := fs.String("url", "", "emulator URL")
	dir := fs.String("dir", "", "directory for the database")
	want := fs.Int64("orders", 0, "orders expected")
	heapProfile := fs.String("heapprofile", "", "write a heap profile here whenever the heap in use reaches a new high")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	// The parent made the user, counter and task: creating a user hashes a password, whose
	// 64 MiB would be this process's peak, and a worker never does it.
	svc, err := openService(ctx, *dir)
	if err != nil {
		return err
	}
	defer svc.Close()
	tasks, err := svc.app.Store.Tasks(ctx, svc.account, svc.counter)
	if err != nil {
		return err
	}
	if len(tasks) != 1 || tasks[0].CRMURL != *url {
		return fmt.Errorf("memchild: want the one task of %s in the database, found %d", *url, len(tasks))
	}
	task := tasks[0]
	var heapMax uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > heapMax && *heapProfile != "" {
					writeHeapProfile(*heapProfile)
				}
				heapMax = max(heapMax, ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	run, err := svc.runOnce(ctx, task)
	wall := time.Since(start)
	close(done)
	<-sampled
	if err != nil {
		return err
	}
	if run.Counts.Fetched < *want {
		return fmt.Errorf("fetched %d of %d orders", run.Counts.Fetched, *want)
	}
	out := memChildOut{PeakRSS: peakRSS(), HeapMax: heapMax, Wall: wall, Fetched: run.Counts.Fetched}
	if fi, err := os.Stat(svc.app.Store.Path()); err == nil {
		out.DBBytes = fi.Size()
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// prepareMemDB creates the database a memory child imports into: user, counter and task.
func prepareMemDB(ctx context.Context, dir, url string) error {
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return err
	}
	defer svc.Close()
	_, err = svc.addTask(ctx, url, unpaced, false)
	return err
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

func runMemory(ctx context.Context, cfg *settings) (*memResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	res := &memResult{}
	for _, n := range cfg.memOrders {
		emu, err := startEmulator(emuOpts{orders: n})
		if err != nil {
			return nil, err
		}
		sz := memSize{Orders: n}
		for i := 0; i < cfg.runs; i++ {
			dir, err := os.MkdirTemp(cfg.tmp, "mem-")
			if err != nil {
				emu.Stop()
				return nil, err
			}
			if err := prepareMemDB(ctx, dir, emu.URL()); err != nil {
				emu.Stop()
				return nil, err
			}
			cmd := exec.CommandContext(ctx, exe, "memchild", "-url", emu.URL(), "-dir", dir, "-orders", strconv.Itoa(n))
			cmd.Stderr = os.Stderr
			b, err := cmd.Output()
			// The reading benchmark reads the orders of the last import of its size.
			if keep := err == nil && n == cfg.readOrders && i == cfg.runs-1; keep {
				cfg.keptDB = dir
			} else {
				os.RemoveAll(dir)
			}
			if err != nil {
				emu.Stop()
				return nil, fmt.Errorf("memory child for %d orders: %w", n, err)
			}
			var out memChildOut
			if err := json.Unmarshal(b, &out); err != nil {
				emu.Stop()
				return nil, fmt.Errorf("memory child said %q: %w", b, err)
			}
			sz.PeakRSS = append(sz.PeakRSS, out.PeakRSS)
			sz.Wall = append(sz.Wall, out.Wall)
			sz.HeapMax = append(sz.HeapMax, out.HeapMax)
			sz.DBBytes = out.DBBytes
			progress("memory %d orders run %d: peak RSS %s, heap in use ≤ %s, %v", n, i+1, mib(out.PeakRSS),
				mib(int64(out.HeapMax)), out.Wall.Round(time.Millisecond))
		}
		emu.Stop()
		res.Sizes = append(res.Sizes, sz)
	}
	if len(res.Sizes) == 0 {
		return nil, errors.New("no sizes")
	}
	return res, nil
}
