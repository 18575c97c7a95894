package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"orderimport/internal/mapping"
	"orderimport/internal/store"
)

// remapResult is benchmark 10: what a task keeps of each order (the timeline, the kept RetailCRM
// order) and what that buys: a changed mapping applied to every stored order without a request
// for an order to RetailCRM.
type remapResult struct {
	Orders     int
	Import     time.Duration
	DBBytes    int64 // the database file after the import, checkpointed
	RawBytes   int64 // the kept copies in it
	Walls      []time.Duration
	EveryWall  time.Duration // a re-map evaluating every field
	Updated    int64
	Requests   map[string]int // of the re-maps, by endpoint
	OrderReads int
}

func (r remapResult) rate() float64 { return float64(r.Orders) / median(r.Walls).Seconds() }

// runRemap imports cfg.remapOrders full orders from an unlimited emulator into SQLite, then
// changes the task's revenue expression cfg.runs times, each change a re-map run measured from
// its start to its end; then once every expression (each written differently, revenue changed),
// a re-map that evaluates every field.
func runRemap(ctx context.Context, cfg *settings) (*remapResult, error) {
	emu, err := startEmulator(emuOpts{orders: cfg.remapOrders})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	dir := filepath.Join(cfg.tmp, "remap")
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, emu.URL(), unpaced, false)
	if err != nil {
		return nil, err
	}
	res := &remapResult{Orders: cfg.remapOrders, Requests: map[string]int{}}
	progress("remap: importing %d orders", cfg.remapOrders)
	start := time.Now()
	if _, err := svc.runOnce(ctx, task); err != nil {
		return nil, err
	}
	res.Import = time.Since(start)
	st := svc.app.Store
	if err := st.Scrub(ctx); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(st.Path()); err == nil {
		res.DBBytes = fi.Size()
	}
	if res.RawBytes, err = st.RawBytes(ctx, task.ID); err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.runs; i++ {
		task.Mapping = map[string]string{mapping.FieldRevenue: "(totalSumm ?? 0) + " + strconv.Itoa(i)}
		if task, err = st.UpdateTask(ctx, task); err != nil {
			return nil, err
		}
		if err := emu.Reset(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		run, err := svc.runOnce(ctx, task)
		if err != nil {
			return nil, err
		}
		wall := time.Since(t0)
		if run.Kind != store.RunManual || run.Counts.Updated != int64(cfg.remapOrders) {
			return nil, fmt.Errorf("re-map %d: %d of %d orders updated", i, run.Counts.Updated, cfg.remapOrders)
		}
		stats, err := emu.Stats()
		if err != nil {
			return nil, err
		}
		res.Walls = append(res.Walls, wall)
		res.Updated = run.Counts.Updated
		res.Requests = stats.ByEndpoint
		res.OrderReads = stats.ByEndpoint["/api/v5/orders"]
		progress("remap %d: %d orders in %v (%.0f orders/s), %d order requests", i, run.Counts.Updated, wall.Round(time.Millisecond),
			float64(cfg.remapOrders)/wall.Seconds(), res.OrderReads)
	}
	// Every expression in parentheses, the three unmapped by default mapped: every field is
	// evaluated again.
	spec := mapping.Default()
	spec[mapping.FieldSessionID], spec[mapping.FieldUserID], spec[mapping.FieldTags] = "externalId", "customer.id", "[status]"
	for name, expr := range spec {
		spec[name] = "(" + expr + ")"
	}
	spec[mapping.FieldRevenue] = "(totalSumm ?? 0) + " + strconv.Itoa(cfg.runs+1)
	task.Mapping = spec
	if task, err = st.UpdateTask(ctx, task); err != nil {
		return nil, err
	}
	t0 := time.Now()
	run, err := svc.runOnce(ctx, task)
	if err != nil {
		return nil, err
	}
	res.EveryWall = time.Since(t0)
	if run.Counts.Updated != int64(cfg.remapOrders) {
		return nil, fmt.Errorf("re-map of every field: %d of %d orders updated", run.Counts.Updated, cfg.remapOrders)
	}
	progress("remap of every field: %d orders in %v (%.0f orders/s)", run.Counts.Updated, res.EveryWall.Round(time.Millisecond),
		float64(cfg.remapOrders)/res.EveryWall.Seconds())
	return res, nil
}

func (r *report) writeRemap(w func(string, ...any), rm *remapResult) {
	w("## 10. Order memory: kept orders and a re-map of %d orders, SQLite\n\n", rm.Orders)
	w("A first run of %d full orders (5.7 KB of JSON each) from an unlimited emulator keeps, with each stored order, the\n", rm.Orders)
	w("RetailCRM order it was mapped from (zstd with the task's dictionary, `internal/rawcopy`). Then the task's revenue\n")
	w("expression changes %d times; each change is a re-map run (`remap`): every stored order mapped again from its kept\n", len(rm.Walls))
	w("copy, in batches of 500 with the checkpoint, every order's revenue updated with its timeline event and feed\n")
	w("position. Only revenue's expression changed, so only revenue is evaluated again; the rest of each row is kept as\n")
	w("stored. Last, one re-map in which every expression is written differently (in parentheses, and the three fields\n")
	w("unmapped by default mapped), so that every field is evaluated again, as after a change of the counter's timezone.\n")
	w("The wall time is the whole run, the preflight and the feed's catch-up included.\n\n")
	w("| | |\n|---|---|\n")
	w("| first run (import) | %s |\n", secs(rm.Import))
	w("| database file after it (checkpointed) | %s, %.0f bytes per order |\n", mib(rm.DBBytes), float64(rm.DBBytes)/float64(rm.Orders))
	w("| kept copies in it | %.0f bytes per order |\n", float64(rm.RawBytes)/float64(rm.Orders))
	w("| re-map wall time (runs) | %s |\n", list(rm.Walls, secs))
	w("| re-map rate (median) | %.0f orders/s |\n", rm.rate())
	w("| re-map of every field (one run) | %s, %.0f orders/s |\n", secs(rm.EveryWall), float64(rm.Orders)/rm.EveryWall.Seconds())
	w("| requests of the last re-map | %s |\n\n", endpoints(rm.Requests))
}
