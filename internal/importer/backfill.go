package importer

import (
	"context"
	"fmt"
	"math"
	"time"

	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

const day = "2006-01-02"

// earliestDay is where the search for a key's oldest order starts; RetailCRM accounts hold
// orders imported from older systems, so it is well before RetailCRM existed.
var earliestDay = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

// startBackfill fixes the first run's plan BEFORE any order is read: it finds where the change
// feed ends now, and the catch-up after the backfill replays everything from there, so
// whatever changes while the backfill walks is applied afterwards. The count of the task's
// orders (asked alongside the preflight) sizes the plan: when they fit one window, the backfill
// is one window open at both ends and needs no first day; otherwise the day of the oldest order
// is taken from the list's last page. The plan is stored with the backfill's first page (or at
// its end, when there is none), once settle has given it its fingerprint: until then nothing of
// the run is stored, and a run that stops before is a first run again.
func (r *run) startBackfill(ctx context.Context, st store.SyncState, pr *firstProbes) (store.SyncState, error) {
	now := r.im.now()
	end, err := pr.feedEnd()
	if err != nil {
		return st, err
	}
	st.Phase = PhaseBackfill
	st.HistorySinceID, st.HistoryStart = end.since, ""
	if end.since == 0 {
		// An empty feed: the catch-up reads from that instant until a first entry appears.
		st.HistoryStart = end.start.UTC().Format(time.RFC3339)
	}
	st.BackfillTo = r.lastDay(now)
	n, err := pr.orders(ctx)
	if err != nil {
		return st, err
	}
	from := r.task.BackfillFrom
	if from == "" {
		from = st.BackfillTo
		if n > r.im.Config.WindowTarget {
			if from, err = r.candidateDay(ctx, n, st.BackfillTo); err != nil {
				return st, err
			}
		}
	}
	r.sizing = &sizing{from: from, orders: n}
	st.BackfillFrom = from
	st.BackfillNext = from
	st.ResyncMark = 0
	st.Fingerprint = ""
	r.planPending = true
	return st, nil
}

// sizing is what a first run learnt of its orders before the backfill: n orders from the plan's
// first day on (all of them when the first window is open).
type sizing struct {
	from   string
	orders int
}

// firstProbes are the requests of a first run that need no answer of the preflight, sent
// alongside it: the count of the task's orders, and the change feed from a little before now,
// where the search for its end starts (feedEnd). Neither applies an order, so neither must wait
// for the feed's end to be known.
type firstProbes struct {
	r     *run
	fl    *flight[probed]
	start string // the startDate the feed was read from, as sent
}

type probed struct {
	count *retailcrm.OrdersPage
	end   feedPos
}

// probe sends a first run's probes. The count goes without the key's stores (not known yet);
// for a key limited to some stores it is asked again.
func (r *run) probe(ctx context.Context) *firstProbes {
	// The account's timezone is not known yet either: the feed is read from a time that is at
	// least HistoryLookback ago in every zone (UTC−12 to UTC+14), and the instant it stands for
	// in the account's zone is worked out once the zone is known.
	pr := &firstProbes{r: r, fl: newFlight[probed](ctx, func(float64) int { return 2 }),
		start: r.im.now().Add(-r.im.Config.HistoryLookback - 12*time.Hour).UTC().Format(time.DateTime)}
	pr.fl.start(func(ctx context.Context) (probed, error) {
		end, err := r.feedEnd(ctx, pr.start)
		return probed{end: end}, err
	})
	pr.fl.start(func(ctx context.Context) (probed, error) {
		p, err := r.client.Orders(ctx, retailcrm.OrdersFilter{CreatedAtFrom: r.task.BackfillFrom}, 1, countLimit)
		return probed{count: p}, err
	})
	return pr
}

func (pr *firstProbes) stop() { pr.fl.stop() }

// feedEnd is where the feed ends, as the probe found it: an empty feed since the probe's start
// is the earliest instant that start can stand for in the account's zone.
func (pr *firstProbes) feedEnd() (feedPos, error) {
	got, err := pr.fl.next()
	if err != nil || got.end.since > 0 {
		return got.end, err
	}
	from, err := earliestNamed(pr.start, pr.r.tz)
	if err != nil {
		return feedPos{}, fmt.Errorf("importer: feed probe start %q: %w", pr.start, err)
	}
	return feedPos{start: from}, nil
}

// earliestNamed is the earliest instant RetailCRM can have read the naive time text as, in loc:
// the one instant it names, the earlier of two in a daylight-saving fold (which RetailCRM may
// have read either way), and an hour before the gap's end in a gap, where it names none. Not
// always an hour earlier: entries of that hour are older than the feed's end the probe found,
// and the first window's check would take them for changes made while it was read (and read
// the window again).
func earliestNamed(text string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateTime, text, loc)
	if err != nil {
		return t, err
	}
	if t.In(loc).Format(time.DateTime) != text {
		return t.Add(-time.Hour), nil // in a gap
	}
	earliest := t
	// Folds are an hour in most zones, half an hour in a few (Lord Howe), two in none today.
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if c := t.Add(-d); c.In(loc).Format(time.DateTime) == text {
			earliest = c
		}
	}
	return earliest, nil
}

// orders is the number of the task's orders the probe counted, asked again with the key's
// stores when it has some.
func (pr *firstProbes) orders(ctx context.Context) (int, error) {
	got, err := pr.fl.next()
	f := retailcrm.OrdersFilter{CreatedAtFrom: pr.r.task.BackfillFrom}
	if err != nil || pr.r.sites != nil {
		return pr.r.count(ctx, f)
	}
	return got.count.Pagination.TotalCount, nil
}

// startResync re-reads every order of the task while keeping the change-feed cursor: the
// backfill marks every order it sees, the catch-up replays what changed since the cursor (also
// marking), and only when the feed is caught up are the unmarked rows flagged deleted. Rows
// are updated in place, so reports never lose an order during the re-sync.
func (r *run) startResync(ctx context.Context, st store.SyncState, fp string) (store.SyncState, error) {
	st.RemapAfter = 0 // a re-map under way is overtaken: everything is read again
	st.Phase = PhaseBackfill
	// The day the backfill ends is today again: orders created since the first run and never
	// changed are known only to the list, not to the feed after the cursor.
	st.BackfillTo = r.lastDay(r.im.now())
	if r.task.BackfillFrom != "" {
		st.BackfillFrom = r.task.BackfillFrom
	}
	st.BackfillNext = st.BackfillFrom
	// A fresh mark even when a re-sync is restarted: rows marked by the abandoned one were
	// seen under the old access, and a store the key lost leaves no entry in the feed.
	mark, err := r.im.Store.NextSyncMark(ctx, r.task.ID)
	if err != nil {
		return st, err
	}
	st.ResyncMark = mark
	st.Fingerprint = fp
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	return st, nil
}

// lastDay is the last day a backfill reads: today in the account's zone, or the end of the
// task's date range when that is earlier.
func (r *run) lastDay(now time.Time) string {
	today := now.In(r.tz).Format(day)
	if to := r.task.BackfillTo; to != "" && to < today {
		return to
	}
	return today
}

// count asks RetailCRM how many orders a filter matches, with the smallest page.
func (r *run) count(ctx context.Context, f retailcrm.OrdersFilter) (int, error) {
	p, err := r.smallPage(ctx, f, 1)
	if err != nil {
		return 0, err
	}
	return p.Pagination.TotalCount, nil
}

// smallPage reads one page of the smallest size of the key's orders matching f.
func (r *run) smallPage(ctx context.Context, f retailcrm.OrdersFilter, page int) (*retailcrm.OrdersPage, error) {
	f.Sites = r.sites
	p, err := r.client.Orders(ctx, f, page, countLimit)
	if err != nil {
		return nil, r.classify(ctx, err)
	}
	return p, nil
}

// candidateDay is the day of the oldest order as the list's last page names it: lists appear to
// come newest first. It only sizes the windows (the first window is open at its start, so an
// older order is read all the same); when it is wrong and the first window comes back too big
// even a day wide, the walk searches for the oldest day properly (oldestDay). n is the count of
// all the key's orders.
func (r *run) candidateDay(ctx context.Context, n int, to string) (string, error) {
	last := max(1, (n+countLimit-1)/countLimit)
	p, err := r.smallPage(ctx, retailcrm.OrdersFilter{}, last)
	if err != nil {
		return "", err
	}
	hiT, err := time.Parse(day, to)
	if err != nil {
		return "", err
	}
	if cand, ok := oldestCreated(p.Orders); ok && cand.Before(hiT) {
		return cand.Format(day), nil
	}
	return to, nil
}

// oldestDay finds the day of the key's oldest order. Lists appear to come newest first, so the
// last page of everything up to `to` names a candidate, confirmed by one count; when it is not
// the oldest (the sort is undocumented), a bisection on createdAtTo finds it: about 15 requests
// whatever the account's size. At RetailCRM's 10 requests/s the candidate saves a first run
// over a second and a half.
func (r *run) oldestDay(ctx context.Context, to string) (string, error) {
	hiT, err := time.Parse(day, to)
	if err != nil {
		return "", err
	}
	f := retailcrm.OrdersFilter{CreatedAtTo: to}
	p, err := r.smallPage(ctx, f, 1)
	if err != nil {
		return "", err
	}
	total := p.Pagination.TotalCount
	if total == 0 {
		return to, nil
	}
	if last := (total + countLimit - 1) / countLimit; last > 1 {
		if p, err = r.smallPage(ctx, f, last); err != nil {
			return "", err
		}
	}
	if cand, ok := oldestCreated(p.Orders); ok && !cand.After(hiT) {
		n, err := r.count(ctx, retailcrm.OrdersFilter{CreatedAtTo: cand.AddDate(0, 0, -1).Format(day)})
		if err != nil {
			return "", err
		}
		if n == 0 {
			// Nothing before the candidate's day, and an order on it: it is the oldest day.
			return cand.Format(day), nil
		}
		hiT = cand.AddDate(0, 0, -1)
	}
	lo := earliestDay // invariant: count(≤ lo-1) == 0 is unknown until checked
	n, err := r.count(ctx, retailcrm.OrdersFilter{CreatedAtTo: lo.Format(day)})
	if err != nil {
		return "", err
	}
	if n > 0 {
		return lo.Format(day), nil
	}
	// count(≤ lo) == 0, count(≤ hi) > 0: find the first day with a non-zero count.
	hi := hiT
	for hi.Sub(lo) > 24*time.Hour {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(24 * time.Hour)
		if !mid.After(lo) {
			mid = lo.AddDate(0, 0, 1)
		}
		n, err := r.count(ctx, retailcrm.OrdersFilter{CreatedAtTo: mid.Format(day)})
		if err != nil {
			return "", err
		}
		if n > 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi.Format(day), nil
}

// countLimit is the smallest page RetailCRM serves, used where only the total matters.
const countLimit = 20

// oldestCreated is the earliest creation day among orders; orders with an unreadable date
// (RetailCRM's own would not have one) are passed over.
func oldestCreated(orders []retailcrm.Order) (time.Time, bool) {
	var oldest time.Time
	for _, o := range orders {
		if len(o.CreatedAt) < len(day) {
			continue
		}
		d, err := time.Parse(day, o.CreatedAt[:len(day)])
		if err != nil {
			continue
		}
		if oldest.IsZero() || d.Before(oldest) {
			oldest = d
		}
	}
	return oldest, !oldest.IsZero()
}

// backfill reads the orders of [BackfillNext, BackfillTo] in day windows, oldest first
// (walk.go). The checkpoint moves past a window only after all of its orders are committed and
// its walk is verified. The first window has no lower bound when the start was found rather
// than chosen by the user, and the last has no upper bound: an order dated outside [from, to]
// that existed before the backfill started is in no window otherwise, and the feed after the
// cursor does not name it.
func (r *run) backfill(ctx context.Context, st store.SyncState) (store.SyncState, error) {
	if r.phase != PhaseBackfill {
		r.done, r.total = 0, 0 // the backfill's progress counts orders, from its count on
	}
	r.phase = PhaseBackfill
	r.worked = true
	from, err := time.Parse(day, st.BackfillFrom)
	if err != nil {
		return st, fmt.Errorf("importer: backfill start %q: %w", st.BackfillFrom, err)
	}
	to, err := time.Parse(day, st.BackfillTo)
	if err != nil {
		return st, fmt.Errorf("importer: backfill end %q: %w", st.BackfillTo, err)
	}
	next, err := time.Parse(day, st.BackfillNext)
	if err != nil {
		return st, fmt.Errorf("importer: backfill position %q: %w", st.BackfillNext, err)
	}
	if to.Before(from) {
		// "Today" in the account's zone can be before the first day: a re-sync after the
		// zone moved west, when the first run found the oldest order (or none) today, or a
		// chosen start in the future. Planned as it is, no window would be read and the
		// re-sync's sweep would flag every order deleted (model test, seeds 6147 and 6308).
		// One window, open at its end, reads all the plan covers.
		to = from
	}
	pos, err := cursorOf(st)
	if err != nil {
		return st, err
	}
	b := &walker{r: r, st: &st, from: from, to: to, next: next, planned: next, pos: pos,
		feed: &feedCache{from: pos, end: pos}}
	if err := b.size(ctx); err != nil {
		return st, err
	}
	if err := b.run(ctx); err != nil {
		return st, err
	}
	if !b.next.After(to) {
		return st, ErrSliceDone
	}
	// The re-sync mark stays set through the catch-up, which sweeps when the feed is caught up.
	st.Phase = PhaseHistory
	// The walker settled when it asked for its first pages; the plan's first store must have
	// its fingerprint whatever the walker did.
	if err := r.settle(ctx, &st); err != nil {
		return st, err
	}
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	r.feedSeen = b.feed
	return st, nil
}

// size sets the first window's span from the count of the orders left to read: windows aim at
// WindowTarget orders, so an account that fits one window is read in one. The count is also
// what the run's progress counts towards.
func (b *walker) size(ctx context.Context) error {
	r := b.r
	days := int(b.to.Sub(b.next)/(24*time.Hour)) + 1
	var n int
	if s := r.sizing; s != nil && s.from == b.next.Format(day) {
		n = s.orders
	} else {
		f := retailcrm.OrdersFilter{CreatedAtFrom: b.next.Format(day)}
		if b.next.Equal(b.from) && r.task.BackfillFrom == "" {
			f.CreatedAtFrom = ""
		}
		var err error
		if n, err = r.count(ctx, f); err != nil {
			return err
		}
	}
	b.span = spanFor(days, n, r.im.Config.WindowTarget)
	b.density = float64(n) / float64(days)
	// Progress: orders read of the orders to read (a slice that continues the run counts on).
	r.total = max(r.total, r.done+int64(n))
	return nil
}

// spanFor is the span of windows of target orders over days holding n.
func spanFor(days, n, target int) int {
	if n <= target {
		return days
	}
	return max(1, min(days, int(math.Ceil(float64(days)*float64(target)/float64(n)))))
}

// maxSpan bounds a window in days (an account's quiet years still cost few requests).
const maxSpan = 512

// nextSpan sizes the next window from the last: span days held n orders, and the next window
// aims at target orders at the same density, changing by at most 4× a step so that an uneven
// account converges without overshooting into a window too big to read. Every window costs a
// partial last page and a check of the feed, so small windows are requests wasted: at 110
// orders a day, windows of a week (what doubling below target/4 and halving above target kept)
// made 16% more requests than full pages would, windows of 2,000 orders 7%.
func nextSpan(span, n, target int) int {
	next := span * 4
	if n > 0 {
		next = int(math.Round(float64(span) * float64(target) / float64(n)))
	}
	return max(1, span/4, min(next, span*4, maxSpan))
}

// window is a range of days of createdAt in the account's timezone, both ends inclusive.
type window struct {
	from, to           time.Time
	openStart, openEnd bool
}

func (w window) filter(sites []string) retailcrm.OrdersFilter {
	f := retailcrm.OrdersFilter{CreatedAtFrom: w.from.Format(day), CreatedAtTo: w.to.Format(day), Sites: sites}
	if w.openStart {
		f.CreatedAtFrom = ""
	}
	if w.openEnd {
		f.CreatedAtTo = ""
	}
	return f
}
