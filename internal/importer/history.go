package importer

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"orderimport/internal/locale"
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

// walkFeed reads the change feed from pos to its end, calling fn with every page (holding only
// the entries after pos), and returns the position after the last entry. An error from fn stops
// the walk and is returned as is.
func (r *run) walkFeed(ctx context.Context, pos feedPos, fn func(*retailcrm.HistoryPage) error) (feedPos, error) {
	fr := r.newFeedReader(ctx, pos)
	defer fr.stop()
	for {
		page, err := fr.next()
		if err != nil || page == nil {
			return fr.pos, err
		}
		if err := fn(page); err != nil {
			return fr.pos, err
		}
	}
}

// feedReader reads the change feed forward from a position and hands its pages out in entry
// order. The feed is walked by moving filter[sinceId] to the last entry read, so the next
// page's start is known only once the page before it has arrived, except where the ids are
// dense: a full page whose ids run on without a gap (a key that sees every store, in a feed
// that numbers every change) says that the pages after it start every PageSize ids, and those
// are asked for before the answers before them arrive, as many as the feed's count says remain
// and the run's room allows. A page asked for ahead can overlap the one before it (ids
// thinned out after all: the overlap is dropped) but never leave a gap, since a full page
// after id s ends at s + PageSize or later; a page that is not full is the end, and whatever
// was asked for after it is dropped.
type feedReader struct {
	r     *run
	ctx   context.Context
	pos   feedPos // entries up to here were handed out
	fl    *flight[feedPage]
	dense bool  // the last page read was full and its ids ran on without a gap
	ahead int64 // sinceId of the next page to ask for ahead, 0: none
	left  int   // pages the last answer said remain after it
	done  bool
}

type feedPage struct {
	from feedPos // where the page was asked from
	p    *retailcrm.HistoryPage
}

func (r *run) newFeedReader(ctx context.Context, pos feedPos) *feedReader {
	return &feedReader{r: r, ctx: ctx, pos: pos, fl: newFlight[feedPage](ctx, r.room(retailcrm.FeedPages))}
}

func (fr *feedReader) stop() { fr.fl.stop() }

// fetch starts the page after from.
func (fr *feedReader) fetch(from feedPos) {
	r := fr.r
	fr.fl.start(func(ctx context.Context) (feedPage, error) {
		p, err := r.client.History(ctx, r.historyFilter(from), r.im.Config.PageSize)
		return feedPage{from: from, p: p}, err
	})
}

// restart drops every page asked for ahead.
func (fr *feedReader) restart() {
	fr.fl.stop()
	fr.fl = newFlight[feedPage](fr.ctx, fr.r.room(retailcrm.FeedPages))
	fr.ahead = 0
}

// next returns the next page of entries after pos, nil at the end of the feed.
func (fr *feedReader) next() (*retailcrm.HistoryPage, error) {
	limit := fr.r.im.Config.PageSize
	for !fr.done {
		if err := fr.ctx.Err(); err != nil {
			return nil, err
		}
		if fr.fl.pending() == 0 {
			fr.fetch(fr.pos)
			fr.ahead = 0
			if fr.dense {
				fr.ahead = fr.pos.since + int64(limit)
			}
		}
		for fr.ahead > 0 && fr.fl.pending() < fr.left && !fr.fl.full() {
			fr.fetch(feedPos{since: fr.ahead})
			fr.ahead += int64(limit)
		}
		got, err := fr.fl.next()
		if err != nil {
			fr.restart()
			return nil, fr.r.classify(fr.ctx, err)
		}
		if got.from.since > fr.pos.since {
			// A gap before a page asked for ahead (the argument above says there is none):
			// read on from pos instead.
			fr.restart()
			continue
		}
		page, entries := got.p, got.p.History
		n := len(entries)
		end := n == 0 || page.Pagination.TotalPageCount <= 1
		if n > 0 && got.from == fr.pos && entries[n-1].ID <= fr.pos.since {
			return nil, feedStuck(fr.pos.since)
		}
		// A page asked for ahead starts at or before pos: drop what was handed out already.
		i := 0
		for i < n && entries[i].ID <= fr.pos.since {
			i++
		}
		if n > 0 && entries[n-1].ID > fr.pos.since {
			fr.pos = feedPos{since: entries[n-1].ID}
		}
		fr.dense = n == limit && entries[n-1].ID-entries[0].ID == int64(limit-1)
		if !fr.dense {
			fr.ahead = 0 // pages already asked for ahead still come, and only overlap
		}
		fr.left = 0
		if !end {
			fr.left = (page.Pagination.TotalCount - n + limit - 1) / limit
		}
		if end {
			fr.done = true
			fr.fl.stop()
		}
		if i < n || end {
			out := *page
			out.History = entries[i:]
			return &out, nil
		}
	}
	return nil, nil
}

// feedStuck is the failure of a feed that does not move past an entry.
func feedStuck(since int64) error {
	return &Failure{Msg: locale.M("feed_stuck", "entry", since)}
}

// feedEnd finds where the change feed ends, before the first run reads any order: every change
// made from then on has a greater id and is replayed by the catch-up. RetailCRM has no "newest
// id" call, so the feed is read from a little before now (startDate, HistoryLookback ago: it
// covers clock skew between us and RetailCRM); when that is one page, its last entry is the
// end, and when it is empty (the zero position), the instant it was read from is. When it is
// more, the rest is not walked (a busy account writes thousands of entries a day): the end is
// jumped to. Ids grow by one per change, so from a position and the count of entries after it
// the end lies about that many ids further, or further still where the key does not see every
// store (the pages read tell the density); a probe half a page short of that reads the end. A
// probe past the end comes back empty and bounds the search; if a few probes do not land, the
// rest is walked from the furthest entry read. It runs alongside the preflight (probe).
func (r *run) feedEnd(ctx context.Context, startDate string) (feedPos, error) {
	limit := r.im.Config.PageSize
	first, err := r.client.History(ctx, retailcrm.HistoryFilter{StartDate: startDate}, limit)
	if err != nil {
		return feedPos{}, r.classify(ctx, err)
	}
	n := len(first.History)
	if n == 0 {
		return feedPos{}, nil
	}
	furthest := first.History[n-1].ID
	if first.Pagination.TotalPageCount <= 1 {
		return feedPos{since: furthest}, nil
	}
	lo, after := first.History[0].ID-1, first.Pagination.TotalCount
	density := float64(n) / float64(furthest-lo)
	hi := int64(math.MaxInt64)
	for range maxEndProbes {
		x := lo + int64(float64(after-limit/2)/density)
		if x <= lo || x >= hi {
			x = lo + max(1, (min(hi, lo+1<<40)-lo)/2)
		}
		p, err := r.client.History(ctx, retailcrm.HistoryFilter{SinceID: x}, limit)
		if err != nil {
			return feedPos{}, r.classify(ctx, err)
		}
		k := len(p.History)
		switch {
		case k == 0:
			hi = x
		case p.Pagination.TotalPageCount <= 1:
			return feedPos{since: p.History[k-1].ID}, nil
		default:
			last := p.History[k-1].ID
			lo, after, furthest = x, p.Pagination.TotalCount, max(furthest, last)
			density = float64(k) / float64(last-x)
		}
		if hi-lo <= 1 {
			break
		}
	}
	return r.walkFeed(ctx, feedPos{since: furthest}, func(*retailcrm.HistoryPage) error { return nil })
}

// maxEndProbes bounds the jumps of feedEnd; dense ids take one.
const maxEndProbes = 8

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
//
// The re-fetches are in flight while the feed is read on; they are applied in the order they
// were started, each with the cursor of the last entry it covers, so the checkpoint moves as it
// would with one request at a time. A re-fetch started later may be answered first: what it
// stores is then an order's state from before that of the re-fetch applied before it, but
// still from after every entry up to its cursor was made, and any later change has an entry
// after that cursor, which the feed brings again.
//
// seen, when not nil, is what the backfill's window checks read of the feed from this
// checkpoint on (feedCache): those entries are taken from it rather than read again.
func (r *run) catchUp(ctx context.Context, st store.SyncState, seen *feedCache) error {
	r.phase = PhaseHistory
	r.done, r.total = 0, 0
	limit := r.im.Config.PageSize
	p := &pending{index: map[int64]struct{}{}}
	refetch := newFlight[refetched](ctx, r.room(retailcrm.OrderPages))
	defer refetch.stop()
	apply := func() error {
		b, err := refetch.next()
		if err != nil {
			return r.classify(ctx, err)
		}
		if b.lastID != 0 {
			st.HistorySinceID, st.HistoryStart = b.lastID, ""
			r.cursor = "history:" + strconv.FormatInt(b.lastID, 10)
		}
		return r.apply(ctx, b.batch, &st, st.ResyncMark)
	}
	drain := func() error {
		for refetch.pending() > 0 {
			if err := apply(); err != nil {
				return err
			}
		}
		return nil
	}
	flush := func() error {
		if p.lastID == 0 && len(p.ids) == 0 {
			return nil
		}
		for refetch.full() {
			if err := apply(); err != nil {
				return err
			}
		}
		ids, lastID := slices.Clone(p.ids), p.lastID
		refetch.start(func(ctx context.Context) (refetched, error) { return r.refetch(ctx, ids, lastID) })
		p.ids = p.ids[:0]
		clear(p.index)
		p.lastID = 0
		return nil
	}
	take := func(id int64, orders []int64) error {
		fresh := 0
		for _, o := range orders {
			if !p.has(o) {
				fresh++
			}
		}
		if len(p.ids)+fresh > limit {
			if err := flush(); err != nil {
				return err
			}
		}
		for _, o := range orders {
			p.add(o)
		}
		p.lastID = id
		r.done++
		r.worked = true
		return nil
	}

	pos, err := cursorOf(st)
	if err != nil {
		return err
	}
	read := true
	if seen.covers(pos) {
		r.total = int64(len(seen.entries))
		for _, e := range seen.entries {
			if err := take(e.id, e.orders); err != nil {
				return err
			}
		}
		pos, read = seen.end, !seen.atEnd
	}
	if read {
		fr := r.newFeedReader(ctx, pos)
		defer fr.stop()
		counted := false
		for {
			for refetch.ready() {
				if err := apply(); err != nil {
					return err
				}
			}
			page, err := fr.next()
			if err != nil {
				return err
			}
			if page == nil {
				break
			}
			if !counted {
				r.total += int64(page.Pagination.TotalCount)
				counted = true
			}
			for i := range page.History {
				e := &page.History[i]
				if err := take(e.ID, entryOrderIDs(e)); err != nil {
					return err
				}
			}
			if r.sliceOver() && !fr.done {
				if err := flush(); err != nil {
					return err
				}
				if err := drain(); err != nil {
					return err
				}
				return ErrSliceDone
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := drain(); err != nil {
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

// refetched is a batch of changed orders read again, ready to be stored with the cursor of
// the last feed entry it covers (0: the cursor does not move).
type refetched struct {
	batch  preparedBatch
	lastID int64
}

// refetch reads the orders ids names as they are now. An id RetailCRM no longer returns was
// deleted, merged into another order, or moved out of the stores this key may read: either way
// it is not among the key's orders.
func (r *run) refetch(ctx context.Context, ids []int64, lastID int64) (refetched, error) {
	var orders []retailcrm.Order
	if len(ids) > 0 {
		var err error
		if orders, err = r.client.OrdersByIDs(ctx, ids, r.sites); err != nil {
			return refetched{}, err
		}
	}
	found := make(map[int64]struct{}, len(orders))
	for _, o := range orders {
		found[o.ID] = struct{}{}
	}
	var gone []int64
	for _, id := range ids {
		if _, ok := found[id]; !ok {
			gone = append(gone, id)
		}
	}
	return refetched{batch: r.prepare(orders, gone), lastID: lastID}, nil
}

// feedCache is what the window checks of a backfill read of the change feed, from the
// checkpoint's cursor on: the orders each entry names. When the last check read to the end of
// the feed after the backfill's last order page (atEnd), the catch-up that follows has nothing
// left to read; otherwise it reads on from end. The entries of a long backfill at a busy shop
// are many: past maxCachedEntries the cache is given up and the catch-up reads the feed again.
type feedCache struct {
	from    feedPos
	entries []cachedEntry
	end     feedPos
	atEnd   bool
	dropped bool
}

type cachedEntry struct {
	id     int64
	orders []int64
}

const maxCachedEntries = 50_000

// add keeps the entries of a check that read the feed from a position at or before the cache's
// end.
func (c *feedCache) add(notes []feedNote) {
	if c.dropped {
		return
	}
	for _, n := range notes {
		if n.id <= c.end.since {
			continue
		}
		c.entries = append(c.entries, cachedEntry{id: n.id, orders: n.orders})
		c.end = feedPos{since: n.id}
	}
	if len(c.entries) > maxCachedEntries {
		c.dropped, c.entries = true, nil
	}
}

// covers reports whether the cache holds the feed from pos on.
func (c *feedCache) covers(pos feedPos) bool {
	return c != nil && !c.dropped && c.from == pos
}
