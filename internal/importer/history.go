package importer

import (
	"context"
	"fmt"
	"orderimport/internal/locale"
	"strconv"
	"time"

	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// feedPos is a position in the change feed: after entry since, or, while no entry id is known
// (an empty feed), from the instant start.
type feedPos struct {
	since int64
	start time.Time
}

// cursorOf is the catch-up position a checkpoint holds.
func cursorOf(st store.SyncState) (feedPos, error) {
	if st.HistorySinceID > 0 || st.HistoryStart == "" {
		return feedPos{since: st.HistorySinceID}, nil
	}
	t, err := time.Parse(time.RFC3339, st.HistoryStart)
	if err != nil {
		return feedPos{}, fmt.Errorf("importer: feed start %q: %w", st.HistoryStart, err)
	}
	return feedPos{start: t}, nil
}

func (r *run) historyFilter(pos feedPos) retailcrm.HistoryFilter {
	if pos.since > 0 || pos.start.IsZero() {
		return retailcrm.HistoryFilter{SinceID: pos.since}
	}
	return retailcrm.HistoryFilter{StartDate: naiveAtOrBefore(pos.start, r.tz)}
}

// naiveAtOrBefore renders t as RetailCRM's naive time in loc, stepping back out of a
// daylight-saving fold or gap so that RetailCRM, reading the text back in loc, cannot land
// after t (in a fold "01:30" names two instants, in a gap none).
func naiveAtOrBefore(t time.Time, loc *time.Location) string {
	s := t.In(loc).Format(time.DateTime)
	for range 3 {
		back, err := time.ParseInLocation(time.DateTime, s, loc)
		folded := t.Add(-time.Hour).In(loc).Format(time.DateTime) >= s || t.Add(time.Hour).In(loc).Format(time.DateTime) <= s
		if err == nil && !back.After(t) && !folded {
			return s
		}
		t = t.Add(-time.Hour)
		s = t.In(loc).Format(time.DateTime)
	}
	return s
}

// walkFeed reads the change feed from pos to its end, calling fn with every page, and returns
// the position after the last entry. An error from fn stops the walk and is returned as is.
func (r *run) walkFeed(ctx context.Context, pos feedPos, fn func(*retailcrm.HistoryPage) error) (feedPos, error) {
	for {
		if err := ctx.Err(); err != nil {
			return pos, err
		}
		page, err := r.client.History(ctx, r.historyFilter(pos), r.im.Config.PageSize)
		if err != nil {
			return pos, r.classify(ctx, err)
		}
		if err := fn(page); err != nil {
			return pos, err
		}
		n := len(page.History)
		if n == 0 {
			return pos, nil
		}
		last := page.History[n-1].ID
		if last <= pos.since {
			return pos, &Failure{Msg: locale.M("feed_stuck", "entry", pos.since)}
		}
		pos = feedPos{since: last}
		if page.Pagination.TotalPageCount <= 1 {
			return pos, nil
		}
	}
}

// pending collects the orders named by change-feed entries until a full re-fetch call's worth
// (100 ids) is known, so k changed orders cost about k/100 order requests however many
// entries each change produced.
type pending struct {
	ids   []int64
	index map[int64]struct{}
	// lastID is the id of the last feed entry whose orders are all in ids: the cursor to
	// save once they are written.
	lastID int64
}

func (p *pending) add(id int64) {
	if _, ok := p.index[id]; ok {
		return
	}
	p.index[id] = struct{}{}
	p.ids = append(p.ids, id)
}

func (p *pending) has(id int64) bool {
	_, ok := p.index[id]
	return ok
}

// entryOrderIDs are the orders a feed entry says something about: the order itself, the
// order it was merged into, and the order it was split from.
func entryOrderIDs(e *retailcrm.HistoryEntry) []int64 {
	var ids []int64
	for _, o := range []*retailcrm.Order{e.Order, e.CombinedTo, e.Ancestor} {
		if o != nil && o.ID != 0 {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// catchUp walks the change feed from the checkpoint to its end, re-fetching the orders its
// entries name. A re-sync in progress (ResyncMark) ends here: once the feed is caught up, every
// order RetailCRM still has was seen by the backfill or re-fetched after its last change, so
// the rows left unmarked are the ones RetailCRM no longer has.
func (r *run) catchUp(ctx context.Context, st store.SyncState) error {
	r.phase = PhaseHistory
	r.done, r.total = 0, 0
	limit := r.im.Config.PageSize
	p := &pending{index: map[int64]struct{}{}}
	flush := func() error {
		if p.lastID == 0 && len(p.ids) == 0 {
			return nil
		}
		var orders []retailcrm.Order
		if len(p.ids) > 0 {
			var err error
			orders, err = r.client.OrdersByIDs(ctx, p.ids, r.sites)
			if err != nil {
				return r.classify(ctx, err)
			}
		}
		found := make(map[int64]struct{}, len(orders))
		for _, o := range orders {
			found[o.ID] = struct{}{}
		}
		// An id RetailCRM no longer returns was deleted, merged into another order, or moved
		// out of the stores this key may read: either way it is not among the key's orders.
		var gone []int64
		for _, id := range p.ids {
			if _, ok := found[id]; !ok {
				gone = append(gone, id)
			}
		}
		if p.lastID != 0 {
			st.HistorySinceID = p.lastID
			st.HistoryStart = ""
			r.cursor = "history:" + strconv.FormatInt(p.lastID, 10)
		}
		if err := r.commit(ctx, orders, gone, &st, st.ResyncMark); err != nil {
			return err
		}
		p.ids = p.ids[:0]
		clear(p.index)
		p.lastID = 0
		return nil
	}

	pos, err := cursorOf(st)
	if err != nil {
		return err
	}
	_, err = r.walkFeed(ctx, pos, func(page *retailcrm.HistoryPage) error {
		if r.total == 0 {
			r.total = int64(page.Pagination.TotalCount)
		}
		for i := range page.History {
			e := &page.History[i]
			ids := entryOrderIDs(e)
			fresh := 0
			for _, id := range ids {
				if !p.has(id) {
					fresh++
				}
			}
			if len(p.ids)+fresh > limit {
				if err := flush(); err != nil {
					return err
				}
			}
			for _, id := range ids {
				p.add(id)
			}
			p.lastID = e.ID
			r.done++
			r.worked = true
		}
		if r.sliceOver() && page.Pagination.TotalPageCount > 1 {
			if err := flush(); err != nil {
				return err
			}
			return ErrSliceDone
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if mark := st.ResyncMark; mark != 0 {
		st.ResyncMark = 0
		n, err := r.im.Store.SweepUnmarked(ctx, r.task.AccountID, r.task.ID, mark, st)
		if err != nil {
			return err
		}
		r.counts.Deleted += n
	}
	return nil
}
