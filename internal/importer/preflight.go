package importer

import (
	"context"
	"sync"
	"time"

	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// A run works in time slices (the worker hands a long backfill back to the queue every minute),
// and each slice is a call of Run. The preflight is asked once per run, not per slice: a slice
// that continues a run in the same process takes the answers of the run's first slice (the
// account's reference included). That is
// what one long slice would have done, and the checks that rely on the preflight hold the same
// way: a change of the key's stores or the account's timezone during the run is seen by the key
// check at the run's end or by the next run's preflight (docs/CORRECTNESS.md). A slice in
// another process, or after a restart, asks again.

// preflights remembers the preflight of each run in progress.
type preflights struct {
	mu   sync.Mutex
	runs map[int64]preflightMemo
}

type preflightMemo struct {
	task string // the task's address and sealed key: a task edited between slices asks again
	p    Prepared
	at   time.Time
}

// preflightKeep bounds how long a paused run's answers are kept: a run whose next slice does not
// come (a task deleted, a job given up) is forgotten after it.
const preflightKeep = 6 * time.Hour

// preflight is the run's preflight, asked in its first slice. With later set (a first run) the
// reference is not waited for: it is left in p.referenceAhead for the run to take once its first
// pages are asked for (run.settle), and the run remembers the preflight then.
func (im *Importer) preflight(ctx context.Context, c *retailcrm.Client, runID int64, task store.Task, later bool) (*Prepared, error) {
	id := preflightID(task)
	if p, ok := im.preflights.recall(runID, id, im.now()); ok {
		p.Client = c
		return &p, nil
	}
	// The settings are asked for alongside the key check: one answer time instead of two
	// before a run can start. A key that fails its check wastes that one request.
	// So is the reference (statuses, status groups, stores): every answer time before the
	// first page is a second the run cannot use.
	settings := newFlight[*retailcrm.Settings](ctx, func(float64) int { return 1 })
	defer settings.stop()
	settings.start(c.Settings)
	ref := readReferenceAhead(ctx, c)
	p, err := preflightWith(ctx, c, func(context.Context) (*retailcrm.Settings, error) { return settings.next() })
	if err != nil {
		ref.stop()
		return nil, err
	}
	if later {
		p.referenceAhead = ref
		return p, nil
	}
	defer ref.stop()
	im.tookReference(runID, task, p, ref)
	return p, nil
}

// tookReference waits for the reference read alongside the preflight p and remembers p for the
// run's next slices; a reference that failed to read is asked again by the next slice, not
// remembered.
func (im *Importer) tookReference(runID int64, task store.Task, p *Prepared, ref *referenceAhead) {
	p.reference, p.referenceErr = ref.take(p.Settings)
	p.referenceRead, p.referenceAhead = true, nil
	if p.referenceErr == nil {
		im.preflights.keep(runID, preflightID(task), *p, im.now())
	}
}

// preflightID is what a remembered preflight is valid for: the task's address and sealed key
// (a task edited between slices asks again).
func preflightID(task store.Task) string { return task.CRMURL + "\x00" + task.CRMKeySealed }

func (ps *preflights) recall(runID int64, task string, now time.Time) (Prepared, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m, ok := ps.runs[runID]
	if !ok || m.task != task || now.Sub(m.at) > preflightKeep {
		return Prepared{}, false
	}
	return m.p, true
}

func (ps *preflights) keep(runID int64, task string, p Prepared, now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.runs == nil {
		ps.runs = map[int64]preflightMemo{}
	}
	for id, m := range ps.runs {
		if now.Sub(m.at) > preflightKeep {
			delete(ps.runs, id)
		}
	}
	p.Client = nil
	ps.runs[runID] = preflightMemo{task: task, p: p, at: now}
}

func (ps *preflights) forget(runID int64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.runs, runID)
}
