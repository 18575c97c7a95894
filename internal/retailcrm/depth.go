package retailcrm

import (
	"math"
	"strconv"
	"time"
)

// A paged read keeps several requests outstanding when RetailCRM is slow to answer: at 10
// requests/second and 800 ms an answer, one request at a time reaches an eighth of the pace.
// How many it needs is Little's law: the pace times the answer time. The account's pacer knows
// the pace (it drops after a 503); the answer time is measured here, per account and per kind
// of request, since a page of 100 full orders takes far longer than a key check.

// Read is a kind of paged read whose answers take alike long.
type Read int

// The paged reads of an import.
const (
	OrderPages Read = iota // GET /api/v5/orders: lists and re-fetches by id
	FeedPages              // GET /api/v5/orders/history
)

var readPaths = [...]string{OrderPages: "/api/v5/orders", FeedPages: "/api/v5/orders/history"}

// Answer times are smoothed: a slower answer moves the estimate half-way at once, so a
// RetailCRM that slows down gets more requests in flight within a few answers; a faster one
// moves it an eighth, so one quick answer does not starve a slow stretch.
const (
	answerRise = 0.5
	answerFall = 0.125
)

// answerClass names the requests whose answer times are tracked together: the path and the
// page size.
func answerClass(path, limit string) string { return path + "?limit=" + limit }

// answered records how long a request of class took from its send to the end of its answer.
func (a *accountLimiter) answered(class string, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answers == nil {
		a.answers = map[string]time.Duration{}
	}
	prev, ok := a.answers[class]
	switch {
	case !ok:
		a.answers[class] = d
	case d > prev:
		a.answers[class] = prev + time.Duration(answerRise*float64(d-prev))
	default:
		a.answers[class] = prev - time.Duration(answerFall*float64(prev-d))
	}
}

// depth is how many requests of class one reader should keep outstanding: those being answered,
// one waiting for its turn at the pace and one whose answer is being stored, and at most most.
// The rate answered is the account's pace, or the reader's rate when that is lower. Before any
// answer of the class is known, the slowest class measured stands in for it.
func (a *accountLimiter) depth(class string, most int, rate float64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recover(time.Now())
	d, ok := a.answers[class]
	if !ok {
		for _, other := range a.answers {
			d = max(d, other)
		}
	}
	need := math.Ceil(min(a.allowed*paceFactor, rate)*d.Seconds()) + 2
	return max(1, min(most, int(min(need, math.MaxInt32))))
}

// Depth is how many requests of the paged read r, with pages of limit, one reader should keep
// outstanding now to hold the account's pace at the answer times measured so far (at least 1,
// at most most): the pace × the answer time, plus one waiting for its turn and one whose answer
// is being stored. A reader that cannot take more than rate answers a second (+Inf: no bound)
// needs no more than that rate × the answer time. Several tasks of one account share the pace,
// so each may hold more than it gets answered in time; the extra requests wait for their turn in
// the pacer, not at RetailCRM.
func (c *Client) Depth(r Read, limit, most int, rate float64) int {
	return c.limiter.depth(answerClass(readPaths[r], strconv.Itoa(limit)), most, rate)
}
