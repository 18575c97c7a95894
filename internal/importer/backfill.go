package importer

import (
	"context"
	"fmt"
	"time"

	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

const day = "2006-01-02"

// earliestDay is where the search for a key's oldest order starts; RetailCRM accounts hold
// orders imported from older systems, so it is well before RetailCRM existed.
var earliestDay = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

// startBackfill fixes the first run's plan BEFORE any order is read: the change feed is read
// from "now − lookback" afterwards, so whatever changes while the backfill walks is replayed.
func (r *run) startBackfill(ctx context.Context, st store.SyncState, accountTZ *time.Location) (store.SyncState, error) {
	now := r.im.now().In(accountTZ)
	st.Phase = PhaseBackfill
	st.HistorySinceID = 0
	st.HistoryStart = now.Add(-r.im.Config.HistoryLookback).Format(time.DateTime)
	st.BackfillTo = now.Format(day)
	from := r.task.BackfillFrom
	if from == "" {
		var err error
		from, err = r.oldestDay(ctx, st.BackfillTo)
		if err != nil {
			return st, err
		}
	}
	st.BackfillFrom = from
	st.BackfillNext = from
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	return st, nil
}

// count asks RetailCRM how many orders a filter matches, with the smallest page.
func (r *run) count(ctx context.Context, f retailcrm.OrdersFilter) (int, error) {
	f.Sites = r.sites
	p, err := r.client.Orders(ctx, f, 1, 20)
	if err != nil {
		return 0, classify(err)
	}
	return p.Pagination.TotalCount, nil
}

// oldestDay finds the day of the key's oldest order by bisecting on createdAtTo: about 15
// requests whatever the account's size, and independent of the list's undocumented sort order.
func (r *run) oldestDay(ctx context.Context, to string) (string, error) {
	hiT, err := time.Parse(day, to)
	if err != nil {
		return "", err
	}
	total, err := r.count(ctx, retailcrm.OrdersFilter{CreatedAtTo: to})
	if err != nil {
		return "", err
	}
	if total == 0 {
		return to, nil
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

// backfill reads the orders of [BackfillNext, BackfillTo] in day windows, oldest first. The
// checkpoint moves past a window only after all of its orders are committed.
func (r *run) backfill(ctx context.Context, st store.SyncState, accountTZ *time.Location) (store.SyncState, error) {
	r.phase = PhaseBackfill
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
		first := next.Equal(from) && r.task.BackfillFrom == ""
		n, err := r.window(ctx, st, next, end, first)
		if err != nil {
			if err == errWindowTooBig {
				span = max(1, span/4)
				continue
			}
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
		switch {
		case n < r.im.Config.WindowTarget/4 && span < 512:
			span *= 2
		case n > r.im.Config.WindowTarget && span > 1:
			span = max(1, span/2)
		}
	}
	if st.ResyncMark != 0 {
		mark := st.ResyncMark
		st.ResyncMark = 0
		st.Phase = PhaseHistory
		n, err := r.im.Store.SweepUnmarked(ctx, r.task.AccountID, r.task.ID, mark, st)
		if err != nil {
			return st, err
		}
		r.counts.Deleted += n
	} else {
		st.Phase = PhaseHistory
		if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
			return st, err
		}
	}
	return st, nil
}

var errWindowTooBig = fmt.Errorf("window holds too many orders")

// window reads all orders created in [from, to] and commits them page by page. Offset pages
// shift when orders are added or deleted during the walk, so the walk is accepted only when
// the total stayed put and every counted order was seen; otherwise the window is read again
// (unchanged orders cost no writes the second time). Orders created after the first run
// started are also replayed from the change feed, so a window that keeps drifting after the
// last attempt loses nothing that the feed does not bring back.
func (r *run) window(ctx context.Context, st store.SyncState, from, to time.Time, openStart bool) (int, error) {
	f := retailcrm.OrdersFilter{CreatedAtFrom: from.Format(day), CreatedAtTo: to.Format(day), Sites: r.sites}
	if openStart {
		f.CreatedAtFrom = ""
	}
	var total int
	for attempt := 1; ; attempt++ {
		seen := make(map[int64]struct{})
		firstTotal, lastTotal := -1, -1
		page := 1
		for {
			p, err := r.client.Orders(ctx, f, page, r.im.Config.PageSize)
			if err != nil {
				return 0, classify(err)
			}
			if firstTotal < 0 {
				firstTotal = p.Pagination.TotalCount
				if firstTotal > r.im.Config.WindowTarget*2 && from.Before(to) {
					return 0, errWindowTooBig
				}
			}
			lastTotal = p.Pagination.TotalCount
			for _, o := range p.Orders {
				seen[o.ID] = struct{}{}
			}
			if len(p.Orders) > 0 {
				if err := r.commit(ctx, p.Orders, nil, nil, st.ResyncMark); err != nil {
					return 0, err
				}
			}
			if p.Pagination.TotalPageCount <= page || len(p.Orders) == 0 {
				break
			}
			page++
		}
		total = lastTotal
		if firstTotal == lastTotal && len(seen) >= lastTotal {
			return total, nil
		}
		r.log.Info("backfill window drifted while paging; reading it again",
			"from", f.CreatedAtFrom, "to", f.CreatedAtTo, "attempt", attempt, "first_total", firstTotal, "last_total", lastTotal, "seen", len(seen))
		if attempt >= r.im.Config.WindowMaxAttempts {
			return total, nil
		}
	}
}
