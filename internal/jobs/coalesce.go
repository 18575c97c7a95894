package jobs

import (
	"context"
	"sync"
	"time"
)

// coalescer gathers ids (counters whose feed grew, tasks whose trigger was called) and hands
// them to flush together, at most once per `every`: a flood of events costs one batch of job
// inserts per period, not one per event. An event that arrives while a batch is flushed is in
// the next one, so none is lost. flush returns the ids to try again a second later (a delivery
// job still running when its webhook's feed grew).
type coalescer struct {
	every time.Duration
	flush func(ctx context.Context, ids []int64) (retry []int64)

	mu       sync.Mutex
	pending  map[int64]bool
	flushing bool
	wake     chan struct{}
}

func newCoalescer(every time.Duration, flush func(context.Context, []int64) []int64) *coalescer {
	return &coalescer{every: every, flush: flush, pending: map[int64]bool{}, wake: make(chan struct{}, 1)}
}

func (c *coalescer) add(ids ...int64) {
	c.mu.Lock()
	for _, id := range ids {
		c.pending[id] = true
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *coalescer) take() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int64, 0, len(c.pending))
	for id := range c.pending {
		out = append(out, id)
	}
	clear(c.pending)
	c.flushing = len(out) > 0
	return out
}

// idle reports that nothing waits to be flushed and no flush is under way.
func (c *coalescer) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0 && !c.flushing
}

// run flushes until ctx ends.
func (c *coalescer) run(ctx context.Context) {
	var deferred []int64
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-retry:
			retry = nil
			c.add(deferred...)
			deferred = nil
		}
		if ids := c.take(); len(ids) > 0 {
			again := c.flush(ctx, ids)
			c.mu.Lock()
			c.flushing = false
			c.mu.Unlock()
			if len(again) > 0 {
				deferred = append(deferred, again...)
				if retry == nil {
					retry = time.After(time.Second)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.every):
		}
	}
}
