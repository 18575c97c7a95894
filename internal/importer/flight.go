package importer

import (
	"context"
	"sync"
	"time"
)

// The fetch pipeline: how a run reads RetailCRM with several requests in flight.
//
// RetailCRM allows 10 requests a second per account but takes hundreds of milliseconds to
// answer a page of orders, so a reader that waits for each answer before asking the next gets
// a fraction of the pace. A paged read (a backfill window, the change feed, the re-fetch of
// changed orders) therefore keeps several fetches outstanding — as many as the account's pace
// times the measured answer time calls for (retailcrm.Client.Depth), never more than
// Config.MaxInFlight — while every request still waits for its turn in the account's shared
// pacer. A flight hands the outcomes back in the order the fetches were started, so the code
// that applies them sees pages in page order, exactly as if they had been read one after
// another: the checkpoint discipline (a page's rows and the checkpoint that follows them commit
// together, and the checkpoint moves only past what is committed) is the same as with one
// request at a time. Whether reading pages concurrently can skip an order is the window walk's
// question (backfill.go); the flight only keeps the order.
//
// A fetch maps its page in its own goroutine (decoding and mapping of several pages run on all
// cores), and what is started and not yet taken is bounded by the room, so memory holds at most
// MaxInFlight pages besides the one being applied; fewer when the answers come faster than they
// are stored.

// flight runs fetches concurrently and returns their outcomes in start order. It is used by one
// goroutine (the reader applying the outcomes); the fetches run in goroutines of their own.
type flight[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	// room is how many fetches may be started and not yet taken now, given how many outcomes a
	// second the reader takes at most (+Inf while not known).
	room  func(rate float64) int
	queue []*slot[T]
	wg    sync.WaitGroup
	// taken is when next last returned, busy the smoothed time the reader spends on an outcome
	// between two calls of next: the reader's own rate, which more requests in flight cannot
	// raise (an account that answers at once is read as fast as its pages are stored).
	taken time.Time
	busy  time.Duration
}

type slot[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func newFlight[T any](ctx context.Context, room func(rate float64) int) *flight[T] {
	ctx, cancel := context.WithCancel(ctx)
	return &flight[T]{ctx: ctx, cancel: cancel, room: room}
}

// full reports whether the room is used up, or answers are waiting to be taken: then the
// reader, not RetailCRM, is what is slow (an unpaced account answering at once), and more
// requests in flight would only wait longer, in memory.
func (f *flight[T]) full() bool {
	rate := float64(unmeasuredRate)
	if f.busy > 0 {
		rate = float64(time.Second) / float64(f.busy)
	}
	if len(f.queue) >= max(1, f.room(rate)) {
		return true
	}
	waiting := 0
	for _, s := range f.queue {
		select {
		case <-s.done:
			waiting++
		default:
		}
	}
	return waiting >= maxWaiting
}

// maxWaiting is how many answers may wait to be taken before no more are asked for. The reader
// stores pages one after another and now and then stalls for tens of milliseconds (a WAL
// checkpoint inside a commit, a garbage collection); four mapped pages ready carry it over such
// a stall, where two left the fetches idle behind it. Measured on an unpaced import of 50,000
// orders: 7.1-7.4 s with two, 5.8 s with four, for a peak RSS of 90 MiB instead of 80 (a mapped
// page is its rows and their packed copies). Counting the time a page takes to map into the
// room as well (tried) only added memory: mapping slows down as more pages map at once on the
// same cores, so the room it asked for grew to the bound of 32.
const maxWaiting = 4

// unmeasuredRate is the reader's rate (answers a second) assumed until it has taken an answer:
// no RetailCRM account is paced faster (a task's rate limit is at most 100 requests a second),
// so it never holds back a read at an account's pace, and an account that answers at once (an
// emulator without a limit) does not get MaxInFlight requests at the start, before the reader's
// own rate is known.
const unmeasuredRate = 100

// pending is the number of fetches started and not yet taken.
func (f *flight[T]) pending() int { return len(f.queue) }

// start runs fetch in a goroutine of its own; its outcome is taken with next, after the
// outcomes of every fetch started before it.
func (f *flight[T]) start(fetch func(ctx context.Context) (T, error)) {
	s := &slot[T]{done: make(chan struct{})}
	f.queue = append(f.queue, s)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(s.done)
		s.v, s.err = fetch(f.ctx)
	}()
}

// ready reports whether the oldest fetch has its outcome (false when nothing is pending).
func (f *flight[T]) ready() bool {
	if len(f.queue) == 0 {
		return false
	}
	select {
	case <-f.queue[0].done:
		return true
	default:
		return false
	}
}

// next waits for the oldest fetch and returns its outcome; at least one fetch must be pending.
func (f *flight[T]) next() (T, error) {
	if !f.taken.IsZero() {
		d := time.Since(f.taken)
		if f.busy == 0 {
			f.busy = d
		} else {
			f.busy += (d - f.busy) / 4
		}
	}
	s := f.queue[0]
	f.queue[0] = nil
	f.queue = f.queue[1:]
	<-s.done
	f.taken = time.Now()
	return s.v, s.err
}

// stop cancels every fetch still outstanding, waits for their goroutines and forgets their
// outcomes. The flight must not be used afterwards.
func (f *flight[T]) stop() {
	f.cancel()
	f.wg.Wait()
	f.queue = nil
}
