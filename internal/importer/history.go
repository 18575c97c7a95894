package importer

import (
	"context"
	"strconv"

	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

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
	if id == 0 {
		return
	}
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

// catchUp walks the change feed from the checkpoint to its end.
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
				return classify(err)
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
		if err := r.commit(ctx, orders, gone, &st, 0); err != nil {
			return err
		}
		p.ids = p.ids[:0]
		clear(p.index)
		p.lastID = 0
		return nil
	}

	f := retailcrm.HistoryFilter{SinceID: st.HistorySinceID}
	if st.HistorySinceID == 0 {
		f.StartDate = st.HistoryStart
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := r.client.History(ctx, f, limit)
		if err != nil {
			return classify(err)
		}
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
		}
		if len(page.History) == 0 || page.Pagination.TotalPageCount <= 1 {
			if err := flush(); err != nil {
				return err
			}
			return nil
		}
		f = retailcrm.HistoryFilter{SinceID: page.History[len(page.History)-1].ID}
		if r.sliceOver() {
			if err := flush(); err != nil {
				return err
			}
			return ErrSliceDone
		}
	}
}
