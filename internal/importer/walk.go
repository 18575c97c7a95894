package importer

import (
	"context"
	"encoding/json"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// The backfill's windows are walked with several pages in flight (flight.go), and the walks of
// consecutive windows overlap: once every page of a window is asked for, the next window's
// pages are, while the last answers of the one before come in and its check against the feed
// runs. Pages and checks are applied in the order they were started, so the checkpoint moves
// window by window as before: past a window only once all of its pages are committed and its
// walk is known to be sound.
//
// Reading the pages of one window concurrently changes what a walk can miss. One page at a time
// (a sequential walk), only a removal above a page boundary can skip an order (an order on the
// next page moves up onto a page already read), and the check looks for removals of what the
// walk saw or what entered during it. With pages in flight, RetailCRM may read page k+1 before
// page k; an insertion between the two then pushes an order from page k down onto page k+1,
// already read, and a removal of an order the walk never saw (its page was read after it was
// gone) can do the same in the other direction. So a concurrent walk is accepted only when the
// window held the same orders in the same order throughout: every answer reported the same
// total (with no insertion, a removal makes the later totals smaller), and no feed entry made
// since the walk began can have inserted an order into the window or reordered it (a creation
// dated in it, a change of createdAt from or to a day in it, a change of store where the key
// sees only some stores). The list is then one list read in pieces, whatever the order of the
// reads. docs/CORRECTNESS.md has the argument.
//
// A concurrent walk that cannot be accepted is walked again one page at a time, judged as
// before. An account where orders keep arriving in the window being read (today's, at a busy
// shop) costs one concurrent walk of that window read twice; the other windows of a backfill
// are days in the past, where nothing is inserted.

// walker runs the windows of one backfill slice.
type walker struct {
	ctx      context.Context
	r        *run
	st       *store.SyncState
	from, to time.Time // the plan's first and last day
	next     time.Time // the first day not yet verified (the checkpoint's BackfillNext)
	planned  time.Time // the first day no walk started so far covers
	span     int       // days of the next window to plan
	density  float64   // orders a day in the last window measured; 0: unknown
	pos      feedPos   // how far the checks have read the feed (the cursor at first)
	walks    []*walk   // started and not yet verified, oldest first
	fl       *flight[fetched]
	feed     *feedCache
	// replanned: an open first window came back too big even a day wide, and the oldest day
	// was searched for (the candidate from the list's last page was wrong).
	replanned bool
}

// walk is one reading of one window.
type walk struct {
	w    window
	f    retailcrm.OrdersFilter
	days int
	seq  bool // one page at a time
	// overlapped: a page was asked for before every page before it was answered. A walk that
	// never overlapped was read one page at a time however it was planned.
	overlapped bool
	attempt    int            // walks of this window so far, the first included
	pos        feedPos        // the feed position known before its first request
	expect     int            // pages to ask for before page 1 says how many there are
	total      int            // orders page 1 reported; -1 until it is taken
	pages      int            // pages page 1 reported (concurrent walks), 0 until then
	issued     int            // pages asked for
	taken      int            // pages taken from the flight
	more       bool           // sequential: the last page taken said there are more
	ended      bool           // its last page is applied
	sound      bool           // verified: one page, or its check found nothing that could have skipped an order
	seen       map[int64]bool // ids on its pages
}

// fetched is what a fetch of the backfill brings: a page of a walk (its pagination, the ids on
// it and the orders mapped; the orders as RetailCRM sent them are let go once mapped, so that a
// page waiting to be stored holds only its rows), or the check of a walk.
type fetched struct {
	walk  *walk
	page  int
	pg    retailcrm.Pagination
	ids   []int64
	batch preparedBatch
	check *feedRead
}

// feedRead is the feed from a walk's position to its end, as far as soundness and the
// catch-up care.
type feedRead struct {
	notes []feedNote
	end   feedPos
}

// feedNote is one feed entry, reduced to what could have moved orders in a list.
type feedNote struct {
	id        int64
	order     int64
	orders    []int64  // every order the entry names (the catch-up re-fetches them)
	created   bool     // a new order, dated days[0]
	removed   bool     // deleted or merged away
	dateMoved bool     // createdAt changed from days[0] to days[1]
	siteMoved bool     // store changed
	days      []string // "" where the date could not be read
}

func noteOf(e *retailcrm.HistoryEntry) feedNote {
	n := feedNote{id: e.ID, orders: entryOrderIDs(e)}
	if e.Order == nil {
		return n
	}
	n.order = e.Order.ID
	switch {
	case e.Created:
		n.created, n.days = true, []string{dayOf(e.Order.CreatedAt)}
	case e.Deleted:
		n.removed = true
	case e.Field == "created_at":
		n.dateMoved, n.days = true, []string{rawDay(e.OldValue), rawDay(e.NewValue)}
	case e.Field == "site":
		n.siteMoved = true
	}
	return n
}

// dayOf is the day of a RetailCRM time ("Y-m-d H:i:s"), "" when it is not one.
func dayOf(s string) string {
	if len(s) < len(day) {
		return ""
	}
	if _, err := time.Parse(day, s[:len(day)]); err != nil {
		return ""
	}
	return s[:len(day)]
}

// rawDay is dayOf of a JSON string value ("" for anything else, null included).
func rawDay(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return dayOf(s)
}

// holds reports whether an order dated d ("" unknown) can be in the window.
func (w window) holds(d string) bool {
	if d == "" {
		return true
	}
	return (w.openStart || d >= w.from.Format(day)) && (w.openEnd || d <= w.to.Format(day))
}

// room is the room of a flight of reads of kind (flight.go).
func (r *run) room(kind retailcrm.Read) func(rate float64) int {
	return func(rate float64) int {
		return r.client.Depth(kind, r.im.Config.PageSize, r.im.Config.MaxInFlight, rate)
	}
}

// run walks windows until the plan is read or the slice is over and every walk started is
// verified.
func (b *walker) run(ctx context.Context) error {
	b.ctx = ctx
	b.fl = newFlight[fetched](ctx, b.r.room(retailcrm.OrderPages))
	defer func() { b.fl.stop() }()
	for {
		b.fill()
		// A first run's first pages are on their way: now its reference is waited for, and
		// the plan gets its fingerprint before anything is stored.
		if err := b.r.settle(ctx, b.st); err != nil {
			return err
		}
		if b.fl.pending() == 0 {
			return nil
		}
		got, err := b.fl.next()
		if err != nil {
			err = b.r.classify(ctx, err)
			if ctx.Err() == nil {
				b.salvage(ctx, got.walk)
			}
			return err
		}
		if got.check != nil {
			err = b.checked(ctx, got.walk, got.check)
		} else {
			err = b.paged(ctx, got)
		}
		if err != nil {
			return err
		}
		if err := b.verify(ctx); err != nil {
			return err
		}
	}
}

// fill asks for pages while the room allows: the walks started in order, then a new window.
func (b *walker) fill() {
	for !b.fl.full() {
		w, page := b.nextPage()
		if w == nil {
			return
		}
		w.overlapped = w.overlapped || w.issued > w.taken
		w.issued = page
		b.fl.start(b.fetchPage(w, page))
	}
}

// nextPage is the page to ask for next, or nil.
func (b *walker) nextPage() (*walk, int) {
	for _, w := range b.walks {
		switch {
		case w.ended:
			continue
		case w.seq:
			// The next page once the last one is taken and said there are more; later windows
			// wait, so that nothing else is in the way of a walk that must be exact.
			if w.issued == w.taken && (w.issued == 0 || w.more) {
				return w, w.issued + 1
			}
			return nil, 0
		}
		limit := w.pages
		if limit == 0 {
			limit = w.expect
		}
		if w.issued < limit {
			return w, w.issued + 1
		}
		if w.pages == 0 {
			return nil, 0 // until page 1 says how many orders it holds, the next window has no size
		}
	}
	if b.planned.After(b.to) || b.r.sliceOver() {
		return nil, 0
	}
	end := b.planned.AddDate(0, 0, b.span-1)
	if end.After(b.to) {
		end = b.to
	}
	w := b.plan(window{from: b.planned, to: end,
		openStart: b.planned.Equal(b.from) && b.r.task.BackfillFrom == "", openEnd: end.Equal(b.to) && b.r.task.BackfillTo == ""}, false, 1)
	return w, 1
}

// plan starts a walk of w after the walks started so far.
func (b *walker) plan(w window, seq bool, attempt int) *walk {
	days := int(w.to.Sub(w.from)/(24*time.Hour)) + 1
	wk := &walk{w: w, f: w.filter(b.r.sites), days: days, seq: seq, attempt: attempt, pos: b.pos, total: -1, expect: 1,
		seen: map[int64]bool{}}
	if !seq && b.density > 0 {
		// Ask for three quarters of the pages the last window's density predicts before page 1
		// answers: a window sized for WindowTarget orders holds many pages, and one emptier
		// than predicted wastes no more than what it was short by.
		wk.expect = max(1, int(b.density*float64(days)*0.75)/b.r.im.Config.PageSize)
	}
	b.planned = w.to.AddDate(0, 0, 1)
	b.walks = append(b.walks, wk)
	return wk
}

func (b *walker) fetchPage(w *walk, page int) func(context.Context) (fetched, error) {
	r := b.r
	return func(ctx context.Context) (fetched, error) {
		p, err := r.client.Orders(ctx, w.f, page, r.im.Config.PageSize)
		if err == nil {
			err = r.mapperReady(ctx)
		}
		if err != nil {
			return fetched{walk: w, page: page}, err
		}
		ids := make([]int64, len(p.Orders))
		for i := range p.Orders {
			ids[i] = p.Orders[i].ID
		}
		return fetched{walk: w, page: page, pg: p.Pagination, ids: ids, batch: r.prepare(p.Orders, nil)}, nil
	}
}

// fetchCheck reads the feed from the walk's position to its end.
func (b *walker) fetchCheck(w *walk) func(context.Context) (fetched, error) {
	r := b.r
	return func(ctx context.Context) (fetched, error) {
		var notes []feedNote
		end, err := r.walkFeed(ctx, w.pos, func(p *retailcrm.HistoryPage) error {
			for i := range p.History {
				notes = append(notes, noteOf(&p.History[i]))
			}
			return nil
		})
		return fetched{walk: w, check: &feedRead{notes: notes, end: end}}, err
	}
}

// paged applies a page of a walk.
func (b *walker) paged(ctx context.Context, got fetched) error {
	w, pg := got.walk, got.pg
	w.taken++
	if w.ended {
		return nil // asked for ahead, past the end the walk found
	}
	target := b.r.im.Config.WindowTarget
	if w.total < 0 {
		w.total, w.pages = pg.TotalCount, max(1, pg.TotalPageCount)
		if w == b.walks[len(b.walks)-1] {
			b.density = float64(w.total) / float64(w.days)
			b.span = nextSpan(w.days, w.total, target)
		}
		if w.total > 2*target {
			switch {
			case w.days > 1:
				// Too big to read and re-read in one piece: a quarter as many days.
				b.restart(w)
				b.span = max(1, w.days/4)
				return nil
			case w.w.openStart && !b.replanned:
				return b.replan(ctx, w)
			}
		}
	} else if !w.seq && pg.TotalCount != w.total {
		if w.overlapped {
			// The window changed while its pages were in flight: read it again, a page at a
			// time.
			b.r.log.Info("a backfill window changed while its pages were read; reading it again page by page",
				"from", w.f.CreatedAtFrom, "to", w.f.CreatedAtTo, "total", w.total, "now", pg.TotalCount)
			b.rewalk(w, 1)
			return nil
		}
		w.seq = true // read one page at a time so far: go on that way, judged as such
	}
	if !w.seq && len(got.ids) == 0 && got.page < w.pages {
		// An empty page inside the list: it shrank.
		if w.overlapped {
			b.rewalk(w, 1)
			return nil
		}
		w.seq = true
	}
	w.more = pg.TotalPageCount > got.page && len(got.ids) > 0
	for _, id := range got.ids {
		w.seen[id] = true
	}
	if len(got.ids) > 0 {
		// A first run's plan is stored with its first page (startBackfill).
		var plan *store.SyncState
		if b.r.planPending {
			plan = b.st
		}
		if err := b.r.apply(ctx, got.batch, plan, b.st.ResyncMark); err != nil {
			return err
		}
		b.r.planPending = false
		b.r.done = min(b.r.total, b.r.done+int64(len(got.ids)))
	}
	if (w.seq && !w.more) || (!w.seq && got.page >= w.pages) {
		w.ended = true
		if got.page == 1 {
			w.sound = true // one answer is one consistent read: nothing can have shifted
		} else {
			b.fl.start(b.fetchCheck(w))
		}
	}
	return nil
}

// salvage takes what is still in flight after a fetch of the walk failed failed: the checks of
// the walks before it are judged, so that the checkpoint moves past every window that was read
// completely; everything else is dropped.
func (b *walker) salvage(ctx context.Context, failed *walk) {
	before := map[*walk]bool{}
	for _, w := range b.walks {
		if w == failed {
			break
		}
		before[w] = true
	}
	for b.fl.pending() > 0 {
		got, err := b.fl.next()
		if err != nil || got.check == nil || !before[got.walk] {
			continue
		}
		if !b.judge(got.walk, got.check) || b.verify(ctx) != nil {
			return
		}
	}
}

// judge takes in a check's read of the feed and reports whether the walk is sound.
func (b *walker) judge(w *walk, c *feedRead) bool {
	b.feed.add(c.notes)
	if c.end.since > b.pos.since {
		b.pos = c.end
	}
	w.sound = b.sound(w, c.notes)
	// The last window's check read the feed after the backfill's last page.
	b.feed.atEnd = w.sound && w.w.openEnd && len(b.walks) == 1 && b.walks[0] == w
	return w.sound
}

// checked judges a walk by the feed entries made since it began and reads it again when it may
// have skipped an order.
func (b *walker) checked(ctx context.Context, w *walk, c *feedRead) error {
	if b.judge(w, c) {
		return nil
	}
	b.r.log.Info("orders left or entered a backfill window while it was paged; reading it again",
		"from", w.f.CreatedAtFrom, "to", w.f.CreatedAtTo, "page_by_page", !w.overlapped, "attempt", w.attempt, "total", w.total)
	switch {
	case w.overlapped:
		b.rewalk(w, 1)
	case w.days > 1:
		// A shorter walk gives concurrent deletions less time to shift it; what the walk
		// committed stays and costs no writes when read again.
		b.restart(w)
		half := max(1, w.days/2)
		b.plan(window{from: w.w.from, to: w.w.from.AddDate(0, 0, half-1), openStart: w.w.openStart,
			openEnd: w.w.openEnd && half == w.days}, true, 1)
		b.span = half
	case w.attempt >= b.r.im.Config.WindowMaxAttempts:
		return &Failure{Msg: locale.M("window_unstable", "from", w.w.from.Format(day), "to", w.w.to.Format(day), "attempts", w.attempt)}
	default:
		b.rewalk(w, w.attempt+1)
	}
	return nil
}

// sound reports whether a walk can have skipped no order, given the feed entries made since it
// began: the window held the same orders in the same order throughout (whatever the order of
// the reads), or, for a walk read one page at a time, nothing above a page boundary was removed
// (docs/CORRECTNESS.md).
func (b *walker) sound(w *walk, notes []feedNote) bool {
	return b.unchanged(w, notes) || (!w.overlapped && b.unshifted(w, notes))
}

// unchanged reports whether no entry can have inserted an order into the window or reordered
// it; removals alone show in the totals, which the walk compared as its pages came.
func (b *walker) unchanged(w *walk, notes []feedNote) bool {
	if w.seq {
		return false // the totals changed, or an empty page came, while it was read
	}
	for _, n := range notes {
		switch {
		case n.created && w.w.holds(n.days[0]),
			n.dateMoved && (w.w.holds(n.days[0]) || w.w.holds(n.days[1])),
			n.siteMoved && b.r.sites != nil:
			return false
		}
	}
	return true
}

// unshifted reports whether no entry removed an order above a page boundary of a walk read one
// page at a time: one the walk saw, or one that entered the list during it.
func (b *walker) unshifted(w *walk, notes []feedNote) bool {
	entered := map[int64]bool{}
	for _, n := range notes {
		if n.created || n.dateMoved || n.siteMoved {
			entered[n.order] = true
		}
	}
	for _, n := range notes {
		if (n.removed || n.dateMoved || n.siteMoved) && (w.seen[n.order] || entered[n.order]) {
			return false
		}
	}
	return true
}

// rewalk reads w's window again, a page at a time.
func (b *walker) rewalk(w *walk, attempt int) {
	b.restart(w)
	b.plan(w.w, true, attempt)
}

// restart abandons w and the walks after it, with their fetches; the checks of the walks
// before it, which were in flight, are asked for again.
func (b *walker) restart(w *walk) {
	b.fl.stop()
	b.fl = newFlight[fetched](b.ctx, b.r.room(retailcrm.OrderPages))
	for i, x := range b.walks {
		if x == w {
			b.walks = b.walks[:i]
			break
		}
	}
	for _, x := range b.walks {
		if x.ended && !x.sound {
			b.fl.start(b.fetchCheck(x))
		}
	}
	b.planned = w.w.from
}

// replan runs the full search for the oldest day after an open first window came back too big
// even a day wide: the day taken from the list's last page was not the oldest (the list's sort
// order is undocumented). The plan then starts there.
func (b *walker) replan(ctx context.Context, w *walk) error {
	b.replanned = true
	b.restart(w)
	oldest, err := b.r.oldestDay(ctx, b.to.Format(day))
	if err != nil {
		return err
	}
	from, err := time.Parse(day, oldest)
	if err != nil {
		return err
	}
	if !from.Before(b.from) {
		// It was the oldest day after all: one busy day is still one window.
		b.plan(w.w, false, 1)
		return nil
	}
	b.from, b.next, b.planned = from, from, from
	b.st.BackfillFrom, b.st.BackfillNext = oldest, oldest
	days := int(b.to.Sub(from)/(24*time.Hour)) + 1
	b.r.total = max(b.r.total, b.r.done+int64(w.total))
	b.density = float64(w.total) / float64(days)
	b.span = spanFor(days, w.total, b.r.im.Config.WindowTarget)
	return b.r.im.Store.SaveSyncState(ctx, b.r.task.AccountID, *b.st)
}

// verify moves the checkpoint past the walks verified, in window order.
func (b *walker) verify(ctx context.Context) error {
	r := b.r
	for len(b.walks) > 0 && b.walks[0].sound {
		w := b.walks[0]
		b.walks = b.walks[1:]
		b.next = w.w.to.AddDate(0, 0, 1)
		b.st.BackfillNext = b.next.Format(day)
		r.cursor = "backfill:" + b.st.BackfillNext
		if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, *b.st); err != nil {
			return err
		}
		if err := r.im.Store.UpdateRun(ctx, r.runID, *r.progress()); err != nil {
			return err
		}
	}
	return nil
}
