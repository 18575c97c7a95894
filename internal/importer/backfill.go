package importer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"orderimport/internal/locale"
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
// whatever changes while the backfill walks is applied afterwards.
func (r *run) startBackfill(ctx context.Context, st store.SyncState, fp string) (store.SyncState, error) {
	now := r.im.now()
	// The feed's last entry is found by reading it from a little before now: RetailCRM has no
	// "newest id" call. The lookback covers clock skew between us and RetailCRM.
	start := now.Add(-r.im.Config.HistoryLookback)
	end, err := r.walkFeed(ctx, feedPos{start: start}, func(*retailcrm.HistoryPage) error { return nil })
	if err != nil {
		return st, err
	}
	st.Phase = PhaseBackfill
	st.HistorySinceID, st.HistoryStart = end.since, ""
	if end.since == 0 {
		// An empty feed: the catch-up reads from that instant until a first entry appears.
		st.HistoryStart = start.UTC().Format(time.RFC3339)
	}
	st.BackfillTo = r.lastDay(now)
	from := r.task.BackfillFrom
	if from == "" {
		from, err = r.oldestDay(ctx, st.BackfillTo)
		if err != nil {
			return st, err
		}
	}
	st.BackfillFrom = from
	st.BackfillNext = from
	st.ResyncMark = 0
	st.Fingerprint = fp
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	return st, nil
}

// startResync re-reads every order of the task while keeping the change-feed cursor: the
// backfill marks every order it sees, the catch-up replays what changed since the cursor (also
// marking), and only when the feed is caught up are the unmarked rows flagged deleted. Rows
// are updated in place, so reports never lose an order during the re-sync.
func (r *run) startResync(ctx context.Context, st store.SyncState, fp string) (store.SyncState, error) {
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

// backfill reads the orders of [BackfillNext, BackfillTo] in day windows, oldest first. The
// checkpoint moves past a window only after all of its orders are committed. The first window
// has no lower bound when the start was found rather than chosen by the user, and the last
// has no upper bound: an order dated outside [from, to] that existed before the backfill
// started is in no window otherwise, and the feed after the cursor does not name it.
func (r *run) backfill(ctx context.Context, st store.SyncState) (store.SyncState, error) {
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
	r.total = int64(to.Sub(from)/(24*time.Hour)) + 1
	span := 7
	for !next.After(to) {
		if r.sliceOver() {
			return st, ErrSliceDone
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		end := next.AddDate(0, 0, span-1)
		if end.After(to) {
			end = to
		}
		w := window{from: next, to: end,
			openStart: next.Equal(from) && r.task.BackfillFrom == "", openEnd: end.Equal(to) && r.task.BackfillTo == ""}
		n, err := r.window(ctx, st, w, &pos)
		switch {
		case errors.Is(err, errWindowTooBig):
			span = max(1, span/4)
			continue
		case errors.Is(err, errWindowShifted):
			// A shorter walk gives concurrent deletions less time to shift it; what the
			// walk committed stays and costs no writes when read again.
			span = max(1, span/2)
			continue
		case err != nil:
			return st, err
		}
		next = end.AddDate(0, 0, 1)
		st.BackfillNext = next.Format(day)
		r.done = int64(next.Sub(from) / (24 * time.Hour))
		r.cursor = "backfill:" + st.BackfillNext
		if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
			return st, err
		}
		if err := r.im.Store.UpdateRun(ctx, r.runID, *r.progress()); err != nil {
			return st, err
		}
		span = nextSpan(span, n, r.im.Config.WindowTarget)
	}
	// The re-sync mark stays set through the catch-up, which sweeps when the feed is caught up.
	st.Phase = PhaseHistory
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	return st, nil
}

var (
	errWindowTooBig  = errors.New("window holds too many orders")
	errWindowShifted = errors.New("orders left the window while it was paged")
)

// maxSpan bounds a window in days (an account's quiet years still cost few requests).
const maxSpan = 512

// nextSpan sizes the next window from the last: span days held n orders, and the next window
// aims at target orders at the same density, changing by at most 4× a step so that an uneven
// account converges without overshooting into errWindowTooBig. Every window costs a partial
// last page and a check of the feed, so small windows are requests wasted: at 110 orders a
// day, windows of a week (what doubling below target/4 and halving above target kept) made
// 16% more requests than full pages would, windows of 2,000 orders 7%.
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

// window reads all orders of w and commits them page by page.
//
// Offset pages shift while they are walked: when an order on a page already read leaves the
// window (deleted, merged away, moved to another day or store), every later order moves one
// place up and the one at the next page's start is skipped. Orders that are added or changed
// during the walk are replayed from the change feed afterwards; the danger is only to orders
// that did not change. So a walk of several pages is checked against the feed entries made
// since it began (pos): it is sound unless an entry removed from the list an order the walk
// had seen, or one that entered the list during the walk — only such a removal can move an
// unchanged order from an unread page onto a read one (docs/CORRECTNESS.md has the argument).
// An unsound walk is read again, as a shorter window when it spans several days; unchanged
// orders cost no writes the second time.
func (r *run) window(ctx context.Context, st store.SyncState, w window, pos *feedPos) (int, error) {
	f := w.filter(r.sites)
	for attempt := 1; ; attempt++ {
		seen := make(map[int64]bool)
		total, pages, err := r.walkWindow(ctx, f, w, seen, st.ResyncMark)
		if err != nil {
			return 0, err
		}
		if pages == 1 {
			// One answer is one consistent read: nothing can have shifted.
			return total, nil
		}
		sound, err := r.walkWasSound(ctx, pos, seen)
		if err != nil {
			return 0, err
		}
		if sound {
			return total, nil
		}
		r.log.Info("orders left a backfill window while it was paged; reading it again",
			"from", f.CreatedAtFrom, "to", f.CreatedAtTo, "attempt", attempt, "total", total, "seen", len(seen))
		if w.from.Before(w.to) {
			return 0, errWindowShifted
		}
		if attempt >= r.im.Config.WindowMaxAttempts {
			return 0, &Failure{Msg: locale.M("window_unstable", "from", w.from.Format(day), "to", w.to.Format(day), "attempts", attempt)}
		}
	}
}

// walkWindow reads every page of f in order and commits each, noting the ids seen. The next
// page is fetched and mapped while the last one is stored: the reads reach RetailCRM in the
// same order and one at a time, so nothing about drift changes, but on two cores decoding and
// mapping one page overlap with writing another (the own-cost benchmark: 1.85 → 1.3 × the
// floor).
func (r *run) walkWindow(ctx context.Context, f retailcrm.OrdersFilter, w window, seen map[int64]bool, mark int64) (total, pages int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	// An error while a page is in flight cancels it; its goroutine ends on its own.
	defer cancel()
	type fetched struct {
		p     *retailcrm.OrdersPage
		batch preparedBatch
		err   error
	}
	fetch := func(page int) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			p, err := r.client.Orders(ctx, f, page, r.im.Config.PageSize)
			res := fetched{p: p, err: err}
			if err == nil {
				res.batch = r.prepare(p.Orders, nil)
			}
			ch <- res
		}()
		return ch
	}
	next := fetch(1)
	for page := 1; ; page++ {
		res := <-next
		if res.err != nil {
			return 0, 0, r.classify(ctx, res.err)
		}
		p := res.p
		pages++
		total = p.Pagination.TotalCount
		if page == 1 && total > r.im.Config.WindowTarget*2 && w.from.Before(w.to) {
			return 0, 0, errWindowTooBig // its first page was mapped in vain; rare
		}
		more := p.Pagination.TotalPageCount > page && len(p.Orders) > 0
		if more {
			next = fetch(page + 1)
		}
		for _, o := range p.Orders {
			seen[o.ID] = true
		}
		if len(p.Orders) > 0 {
			if err := r.apply(ctx, res.batch, nil, mark); err != nil {
				return 0, 0, err
			}
		}
		if !more {
			return total, pages, nil
		}
	}
}

// walkWasSound reads the feed from pos to its end (moving pos there) and reports whether none
// of its entries removed from the list an order that the walk saw or that entered the list
// after pos. Removals are deletions and merges, and changes of the date or the store; entries
// are creations and the same two changes. Anything else leaves an order's place unchanged.
func (r *run) walkWasSound(ctx context.Context, pos *feedPos, seen map[int64]bool) (bool, error) {
	entered := map[int64]bool{}
	var removed []int64
	end, err := r.walkFeed(ctx, *pos, func(p *retailcrm.HistoryPage) error {
		for i := range p.History {
			e := &p.History[i]
			if e.Order == nil {
				continue
			}
			id := e.Order.ID
			switch {
			case e.Created:
				entered[id] = true
			case e.Deleted:
				removed = append(removed, id)
			case e.Field == "created_at" || e.Field == "site":
				entered[id] = true
				removed = append(removed, id)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	*pos = end
	for _, id := range removed {
		if seen[id] || entered[id] {
			return false, nil
		}
	}
	return true, nil
}
