package importer

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/rawcopy"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// Re-mapping: when only what the stored rows are derived from by the mapping changed (its
// expressions, the counter's timezone, pii, the currencies of the reference) and every live
// order of the task keeps its RetailCRM order, a run applies the new mapping to the kept copies
// instead of reading RetailCRM again: the "remap" phase. It walks the task's orders by RetailCRM
// id in batches; each batch commits its rows with the checkpoint (the RetailCRM id that bounds
// it) in one transaction, exactly as an import's page does, so a crash resumes after the last
// committed batch and each order is re-mapped whole or not at all. When only expressions changed,
// only their fields are evaluated (changedFields). Then the run follows the change feed as
// usual: an order changed in RetailCRM meanwhile is read again and mapped anew.
//
// A copy that no longer unpacks (damaged) is read again from RetailCRM, by id, in the same
// batch, and the run says so. Under pii=hash a kept copy has no contacts: the stored hashes are
// carried over, which is sound as long as the contacts' expressions did not change (otherwise
// the run re-reads everything: canRemap).

// PhaseRemap is the phase of a run re-mapping the stored orders.
const PhaseRemap = "remap"

// remapBatch is how many orders a re-map commits at once, at most: as many as pages of the
// largest size would bring, a few hundred kilobytes of copies in memory.
const remapBatch = 500

// remapAhead is how many batches are mapped or stored at once: the one being stored and one
// being mapped on each core. Mapping a kept copy (unpacking, reading, evaluating: about 55 µs)
// costs more than storing it (about 40 µs), so with one batch mapped at a time the writer
// waited for the mapper and a core idled (BenchmarkRemap: 16,700 → 17,600 orders/s on 2 cores).
var remapAhead = 1 + runtime.GOMAXPROCS(0)

// canRemap tells whether the orders stored under the checkpoint's fingerprint can be brought to
// fp by re-mapping their kept copies.
func (r *run) canRemap(ctx context.Context, st store.SyncState, fp string) (bool, error) {
	if st.Phase != PhaseHistory && st.Phase != PhaseRemap {
		return false, nil // a backfill under way reads on with the new mapping from where it is
	}
	old, ok := parsePrint(st.Fingerprint)
	now, _ := parsePrint(fp)
	if !ok || old.source != now.source {
		return false, nil
	}
	// Stripped copies have no contacts to apply new contact expressions to: those need them
	// read again. Copies kept in clear (pii was keep) or contacts dropped need nothing.
	if old.contact != now.contact && old.pii != mapping.PIIKeep && now.pii != mapping.PIIDrop {
		return false, nil
	}
	missing, err := r.im.Store.LiveOrdersWithoutRaw(ctx, r.task.ID)
	if err != nil {
		return false, err
	}
	return missing == 0, nil
}

// startRemap begins (or, after another change, begins again) re-mapping the stored orders.
func (r *run) startRemap(ctx context.Context, st store.SyncState, fp string) (store.SyncState, error) {
	fields, err := r.changedFields(ctx, st)
	if err != nil {
		return st, err
	}
	r.log.Info("what the stored orders are mapped with changed; re-mapping the kept copies", "fields", fields)
	st.Phase, st.RemapAfter, st.RemapFields, st.Fingerprint = PhaseRemap, 0, fields, fp
	r.done = 0
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	return st, nil
}

// changedFields are the fields a re-map from st must evaluate anew, comma-separated: those whose
// expressions differ between the mapping every stored row was made with and the run's; "" for
// every field. The stored rows were all made with one mapping when the task was in the history
// phase (a re-map under way has rows of two); that mapping is the task's saved version whose
// derive digest, under the zones, pii and currencies the run maps with, is the checkpoint's: so a
// found version also proves that nothing but the expressions changed. When none is found (the
// mapping was saved before versions were kept, the defaults changed, the zone or pii changed)
// every field is evaluated.
func (r *run) changedFields(ctx context.Context, st store.SyncState) (string, error) {
	old, ok := parsePrint(st.Fingerprint)
	if st.Phase != PhaseHistory || !ok {
		return "", nil
	}
	versions, err := r.im.Store.MappingVersions(ctx, r.task.AccountID, r.task.ID)
	if err != nil {
		return "", err
	}
	now := r.mapper.m.Spec()
	for _, v := range versions {
		m, err := mapping.Compile(v.Mapping)
		if err != nil {
			continue // no longer compiles: not what the rows were made with since
		}
		was := m.Spec()
		if r.deriveOf(was) != old.derive {
			continue
		}
		var changed []string
		for _, f := range mapping.Fields {
			if was[f.Name] != now[f.Name] {
				changed = append(changed, f.Name)
			}
		}
		if len(changed) == 0 || len(changed) == len(mapping.Fields) {
			return "", nil
		}
		return strings.Join(changed, ","), nil
	}
	return "", nil
}

// remap applies the mapping to the kept copies of the task's live orders after st.RemapAfter.
func (r *run) remap(ctx context.Context, st store.SyncState) (store.SyncState, error) {
	r.phase, r.cause = PhaseRemap, store.SourceRemap
	defer func() { r.cause = r.runCause() }()
	// The next batches are read and mapped while one is stored. Their bounds are fixed here, in
	// order, from the index on RetailCRM ids alone; each reads its own orders (RetailCRM ids above
	// the batch being stored, which that batch does not touch) where it is mapped, so that the
	// writer, which stores the batches here in order, does not wait for the reading either.
	fl := newFlight[remapped](ctx, func(float64) int { return remapAhead })
	defer fl.stop()
	var only *partial
	if st.RemapFields != "" {
		fields := strings.Split(st.RemapFields, ",")
		only = &partial{fields: fields, m: r.mapper.m.Only(fields)}
		r.log.Info("re-mapping only the fields whose expressions changed", "fields", st.RemapFields)
	}
	after, drained := st.RemapAfter, false
	ahead := func() error {
		if drained {
			return nil
		}
		end, err := r.im.Store.RawBatchEnd(ctx, r.task.ID, after, remapBatch)
		if err != nil {
			return err
		}
		if end == 0 {
			drained = true
			return nil
		}
		from := after
		after = end
		fl.start(func(ctx context.Context) (remapped, error) {
			// A re-map of some fields keeps the others as stored: it reads the whole rows.
			kept, err := r.im.Store.RawOrdersIn(ctx, r.task.ID, from, end, only != nil)
			if err != nil {
				return remapped{}, err
			}
			b, err := r.remapBatch(ctx, kept, only)
			return remapped{b: b, last: end, n: len(kept)}, err
		})
		return nil
	}
	for first := true; ; first = false {
		// Every slice re-maps at least one batch, so that a run always gets on.
		if !first && r.sliceOver() {
			return st, ErrSliceDone
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		for fl.pending() < remapAhead && !drained {
			if err := ahead(); err != nil {
				return st, err
			}
		}
		if fl.pending() == 0 {
			break
		}
		got, err := fl.next()
		if err != nil {
			return st, err
		}
		st.RemapAfter = got.last
		r.done += int64(got.n)
		r.cursor = "remap:" + strconv.FormatInt(st.RemapAfter, 10)
		if err := r.apply(ctx, got.b, &st, 0); err != nil {
			return st, err
		}
	}
	st.Phase, st.RemapAfter, st.RemapFields = PhaseHistory, 0, ""
	if err := r.im.Store.SaveSyncState(ctx, r.task.AccountID, st); err != nil {
		return st, err
	}
	if r.keeper.strip {
		// A re-map under hash or drop may have replaced clear contacts (a switch from keep):
		// what the database still holds of the old rows goes too.
		if err := r.im.Store.Scrub(ctx); err != nil {
			r.log.Warn("what the re-map replaced could not be cleared from the database yet", "error", err)
		}
	}
	return st, nil
}

// keptDigest is the digest of a kept copy re-mapped as it is: the one its row carries since the
// copy was written (the two are written together), computed only for a row without.
func keptDigest(k *keptOrder) string {
	if k.Digest != "" {
		return k.Digest
	}
	return digestOf(k.raw)
}

// remapped is a batch mapped ahead: what to store, and the checkpoint that goes with it.
type remapped struct {
	b    preparedBatch
	last int64 // the RetailCRM id that ends the batch (RawBatchEnd)
	n    int
}

// partial is what a re-map of some fields evaluates: their names and the mapping restricted to
// them (changedFields).
type partial struct {
	fields []string
	m      *mapping.Mapping
}

// remapBatch maps a batch of kept copies; damaged ones are read again from RetailCRM. With only,
// the other fields of each row are kept as stored: kept was read with its rows.
func (r *run) remapBatch(ctx context.Context, kept []store.RawOrder, only *partial) (preparedBatch, error) {
	orders := make([]retailcrm.Order, 0, len(kept))
	stored := make(map[int64]*keptOrder, len(kept))
	var damaged []int64
	var issues []store.Issue
	// The batch's orders are unpacked one after another into one pooled buffer: nothing the
	// batch returns refers to them (rows, issues and packed copies own their bytes), and an
	// order's 5.7 KB allocated and cleared anew was a third of the bytes a re-map allocates.
	scratch := unpackScratch.Get().(*[]byte)
	all := (*scratch)[:0]
	defer func() {
		if cap(all) <= maxUnpackScratch {
			*scratch = all[:0]
			unpackScratch.Put(scratch)
		}
	}()
	for i := range kept {
		k := &kept[i]
		if cap(all)-len(all) < 64<<10 {
			all = slices.Grow(all, cap(all)+64<<10)
		}
		start := len(all)
		out, err := codec.Unpack(all, k.Raw)
		var raw []byte
		var o *retailcrm.Order
		if err == nil {
			all, raw = out, out[start:len(out):len(out)]
			o, err = retailcrm.DecodeOrder(raw)
		}
		if err != nil {
			damaged = append(damaged, k.CRMID)
			r.log.Warn("a kept order cannot be read; it is read again from RetailCRM", "order_row_id", k.ID, "error", err)
			continue
		}
		ko := &keptOrder{RawOrder: k, raw: raw}
		if r.keeper.strip {
			ko.stripped = stripped(raw)
		}
		stored[o.ID] = ko
		orders = append(orders, *o)
	}
	// The copies are kept as they are (a copy is packed again only when it must lose its
	// personal data now): the mapper packs none.
	bare := *r.mapper
	bare.keep = nil
	if only != nil {
		bare.m, bare.only = only.m, only.fields
		bare.stored = func(crmID int64) *store.OrderRow { return stored[crmID].Row }
	}
	b := r.prepareWith(&bare, orders, nil)
	r.carryContacts(&b, stored)
	for i := range b.rows {
		row := &b.rows[i]
		k := stored[row.CRMID]
		if k == nil {
			continue
		}
		row.Raw = k.Raw
		if r.keeper.strip && !k.stripped {
			if s, err := rawcopy.Strip(k.raw); err == nil {
				row.Raw = codec.Pack(nil, s, r.keeper.current())
				row.Hash += "/" + digestOf(s)
				continue
			}
		}
		row.Hash += "/" + keptDigest(k)
	}
	if len(damaged) > 0 {
		rf, err := r.refetch(ctx, damaged, 0)
		if err != nil {
			return preparedBatch{}, err
		}
		b.fetched += rf.batch.fetched
		b.rows = append(b.rows, rf.batch.rows...)
		b.deletes = append(b.deletes, rf.batch.deletes...)
		b.invalid += rf.batch.invalid
		b.issues = append(b.issues, rf.batch.issues...)
		issues = append(issues, store.Issue{Msg: locale.M("kept_order_unreadable", "count", len(damaged))})
	}
	b.issues = append(b.issues, issues...)
	return b, nil
}

// unpackScratch holds the buffers a re-map's batches are unpacked into; one grown past
// maxUnpackScratch (a batch of very large orders) is let go rather than kept.
var unpackScratch = sync.Pool{New: func() any { b := make([]byte, 0, 4<<20); return &b }}

const maxUnpackScratch = 16 << 20

// carryContacts keeps the stored contacts of orders whose copy was kept without them (pii=hash):
// the mapping found nothing to hash in the copy, the stored hash is what it would give.
func (r *run) carryContacts(b *preparedBatch, stored map[int64]*keptOrder) {
	if r.task.PII != mapping.PIIHash {
		return
	}
	for i := range b.rows {
		row := &b.rows[i]
		k := stored[row.CRMID]
		if k == nil || !k.stripped {
			continue
		}
		row.ContactName, row.ContactPhone, row.ContactEmail = "", k.ContactPhone, k.ContactEmail
		suffix := ""
		if j := strings.IndexByte(row.Hash, '/'); j >= 0 {
			suffix = row.Hash[j:]
		}
		row.Hash = RowHash(row) + suffix
	}
}

// keptOrder is a kept copy being re-mapped.
type keptOrder struct {
	*store.RawOrder
	raw      []byte // unpacked
	stripped bool   // kept without personal data
}

// stripped reports whether a kept copy has no personal data left (kept under pii=hash or drop).
func stripped(raw []byte) bool {
	s, err := rawcopy.Strip(raw)
	return err == nil && len(s) == len(raw)
}
