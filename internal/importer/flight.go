package importer

import (
	"context"
	"sync"
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
// MaxInFlight pages besides the one being applied.

// flight runs fetches concurrently and returns their outcomes in start order. It is used by one
// goroutine (the reader applying the outcomes); the fetches run in goroutines of their own.
type flight[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	room   func() int // how many fetches may be started and not yet taken, now
	queue  []*slot[T]
	wg     sync.WaitGroup
}

type slot[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func newFlight[T any](ctx context.Context, room func() int) *flight[T] {
	ctx, cancel := context.WithCancel(ctx)
	return &flight[T]{ctx: ctx, cancel: cancel, room: room}
}

// full reports whether the room is used up.
func (f *flight[T]) full() bool { return len(f.queue) >= max(1, f.room()) }

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

// next waits for the oldest fetch and returns its outcome; nothing may be pending… but at least
// one fetch must be.
func (f *flight[T]) next() (T, error) {
	s := f.queue[0]
	f.queue[0] = nil
	f.queue = f.queue[1:]
	<-s.done
	return s.v, s.err
}

// stop cancels every fetch still outstanding, waits for their goroutines and forgets their
// outcomes. The flight must not be used afterwards.
func (f *flight[T]) stop() {
	f.cancel()
	f.wg.Wait()
	f.queue = nil
}
