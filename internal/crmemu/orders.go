package crmemu

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"
)

// slot is an order touched by a mutation: its current version, or nil once
// it was deleted or merged away.
type slot struct {
	o *order
}

// view is the overlay sorted for queries, rebuilt lazily after mutations.
type view struct {
	version uint64
	touched []int64    // seeded ids with a slot, ascending
	prefix  [8][]int32 // prefix[mask][k]: touched[:k] whose seeded site is in mask
	live    []*order   // live overlay orders, newest first
}

// viewLocked returns the current view; the caller holds e.mu (read or write).
func (e *Emulator) viewLocked() *view {
	e.viewMu.Lock()
	defer e.viewMu.Unlock()
	if e.view != nil && e.view.version == e.version {
		return e.view
	}
	v := &view{version: e.version}
	for id, s := range e.over {
		if id <= e.gen.n {
			v.touched = append(v.touched, id)
		}
		if s.o != nil {
			v.live = append(v.live, s.o)
		}
	}
	slices.Sort(v.touched)
	for mask := range 8 {
		p := make([]int32, len(v.touched)+1)
		for k, id := range v.touched {
			p[k+1] = p[k]
			if uint8(mask)&(1<<e.gen.siteIdx(id)) != 0 {
				p[k+1]++
			}
		}
		v.prefix[mask] = p
	}
	sort.Slice(v.live, func(a, b int) bool { return newer(v.live[a], v.live[b]) })
	e.view = v
	return v
}

// newer is the list order: newest createdAt first, then the higher id.
func newer(a, b *order) bool {
	if a.createdAt != b.createdAt {
		return a.createdAt > b.createdAt
	}
	return a.id > b.id
}

// currentLocked returns the live version of order id, generating seeded orders; nil if absent.
func (e *Emulator) currentLocked(id int64) *order {
	if s, ok := e.over[id]; ok {
		return s.o
	}
	if id >= 1 && id <= e.gen.n {
		return e.gen.order(id)
	}
	return nil
}

// listQuery is a parsed /api/v5/orders filter.
type listQuery struct {
	mask        uint8
	from, to    int64 // createdAt in [from, to)
	ids         map[int64]bool
	numbers     map[string]bool
	externalIDs map[string]bool
}

func (q *listQuery) explicit() bool { return q.ids != nil || q.numbers != nil || q.externalIDs != nil }

func (q *listQuery) match(o *order) bool {
	if q.mask&siteBit(o.site) == 0 || o.createdAt < q.from || o.createdAt >= q.to {
		return false
	}
	if q.ids != nil && !q.ids[o.id] {
		return false
	}
	if q.numbers != nil && !q.numbers[o.number] {
		return false
	}
	if q.externalIDs != nil && (o.externalID == "" || !q.externalIDs[o.externalID]) {
		return false
	}
	return true
}

// countSeeded counts untouched seeded ids in [a, b] whose site is in mask.
func (e *Emulator) countSeeded(v *view, a, b int64, mask uint8) int64 {
	if a > b {
		return 0
	}
	lo, _ := slices.BinarySearch(v.touched, a)
	hi, _ := slices.BinarySearch(v.touched, b+1)
	return e.gen.countSites(a, b, mask) - int64(v.prefix[mask][hi]-v.prefix[mask][lo])
}

// collectLocked returns the total and the orders at [offset, offset+limit)
// of the newest-first list.
func (e *Emulator) collectLocked(q *listQuery, offset, limit int64) (int64, []*order) {
	var out []*order
	total := e.selectLocked(q, offset, limit, func(id int64, o *order) {
		if o == nil {
			o = e.gen.order(id)
		}
		out = append(out, o)
	})
	return total, out
}

// selectLocked returns the total and calls emit for the orders at [offset,
// offset+limit) of the newest-first list; o is nil for a seeded order, which
// the caller generates only if it needs more than the id. Seeded orders come
// from arithmetic over ids (their createdAt grows with id); overlay orders
// are merged in by rank.
func (e *Emulator) selectLocked(q *listQuery, offset, limit int64, emit func(id int64, o *order)) int64 {
	if q.explicit() {
		total, list := e.selectExplicitLocked(q, offset, limit)
		for _, o := range list {
			emit(o.id, o)
		}
		return total
	}
	v := e.viewLocked()
	g := e.gen
	lo := g.firstCreatedAtOrAfter(q.from)
	hi := g.n
	if q.to != math.MaxInt64 {
		hi = g.firstCreatedAtOrAfter(q.to) - 1
	}
	var over []*order
	for _, o := range v.live {
		if q.match(o) {
			over = append(over, o)
		}
	}
	seededTotal := e.countSeeded(v, lo, hi, q.mask)
	total := seededTotal + int64(len(over))
	// rank[j]: position of over[j] in the merged list.
	rank := make([]int64, len(over))
	for j, o := range over {
		p := int64(sort.Search(int(hi-lo+1), func(k int) bool {
			s := lo + int64(k)
			c := g.createdAt(s)
			return c > o.createdAt || (c == o.createdAt && s > o.id)
		})) + lo
		rank[j] = int64(j) + e.countSeeded(v, p, hi, q.mask)
	}
	if offset >= total || limit <= 0 {
		return total
	}
	j := sort.Search(len(rank), func(k int) bool { return rank[k] >= offset })
	seededSkip := offset - int64(j)
	next := e.kthSeededDesc(v, lo, hi, q.mask, seededSkip)
	end := offset + min(limit, total-offset)
	for pos := offset; pos < end; pos++ {
		if j < len(over) && rank[j] == pos {
			emit(over[j].id, over[j])
			j++
			continue
		}
		for next >= lo && !e.seededVisible(next, q.mask) {
			next--
		}
		if next < lo {
			break
		}
		emit(next, nil)
		next--
	}
	return total
}

func (e *Emulator) seededVisible(id int64, mask uint8) bool {
	if mask&(1<<e.gen.siteIdx(id)) == 0 {
		return false
	}
	_, touched := e.over[id]
	return !touched
}

// kthSeededDesc finds the k-th (0-based) visible seeded id counting down from hi.
func (e *Emulator) kthSeededDesc(v *view, lo, hi int64, mask uint8, k int64) int64 {
	if e.countSeeded(v, lo, hi, mask) <= k {
		return lo - 1
	}
	// largest x in [lo, hi] with countSeeded(x, hi) >= k+1
	a, b := lo, hi
	for a < b {
		mid := a + (b-a+1)/2
		if e.countSeeded(v, mid, hi, mask) >= k+1 {
			a = mid
		} else {
			b = mid - 1
		}
	}
	return a
}

func (e *Emulator) selectExplicitLocked(q *listQuery, offset, limit int64) (int64, []*order) {
	cand := map[int64]bool{}
	for id := range q.ids {
		cand[id] = true
	}
	for s := range q.numbers {
		for _, id := range e.gen.candidates(s) {
			cand[id] = true
		}
	}
	for s := range q.externalIDs {
		for _, id := range e.gen.candidates(s) {
			cand[id] = true
		}
	}
	if q.numbers != nil || q.externalIDs != nil {
		for id, s := range e.over {
			if s.o != nil {
				cand[id] = true
			}
		}
	}
	var found []*order
	for id := range cand {
		if o := e.currentLocked(id); o != nil && q.match(o) {
			found = append(found, o)
		}
	}
	sort.Slice(found, func(a, b int) bool { return newer(found[a], found[b]) })
	total := int64(len(found))
	if offset >= total {
		return total, nil
	}
	return total, found[offset : offset+min(limit, total-offset)]
}

// parseListQuery reads the /api/v5/orders filter for a key.
func (e *Emulator) parseListQuery(q url.Values, kc *KeyConfig, loc *time.Location) (*listQuery, *answer) {
	lq := &listQuery{mask: keyMask(kc), from: math.MinInt64, to: math.MaxInt64}
	if sites, ok := multi(q, "filter[sites]"); ok {
		var m uint8
		for _, s := range sites {
			b := siteBit(s)
			if s == "" || b == 0 {
				continue
			}
			if lq.mask&b == 0 {
				a := accessDenied()
				return nil, &a
			}
			m |= b
		}
		lq.mask &= m
	}
	if ids, ok := multi(q, "filter[ids]"); ok {
		lq.ids = map[int64]bool{}
		for i, s := range ids {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				a := validationError("children[ids]["+strconv.Itoa(i)+"]", invalidValue)
				return nil, &a
			}
			lq.ids[id] = true
		}
	}
	if nums, ok := multi(q, "filter[numbers]"); ok {
		if len(nums) > 100 {
			// the documented maximum of numbers per request
			a := validationError("children[numbers]", "Значение слишком длинное. Должно быть равно 100 элементам или меньше.")
			return nil, &a
		}
		lq.numbers = map[string]bool{}
		for _, s := range nums {
			lq.numbers[s] = true
		}
	}
	if ext, ok := multi(q, "filter[externalIds]"); ok {
		lq.externalIDs = map[string]bool{}
		for _, s := range ext {
			lq.externalIDs[s] = true
		}
	}
	// createdAtFrom/To are whole days in the account timezone, both inclusive.
	if s := q.Get("filter[createdAtFrom]"); s != "" {
		d, err := time.ParseInLocation("2006-01-02", s, loc)
		if err != nil {
			a := validationError("children[createdAtFrom]", invalidValue)
			return nil, &a
		}
		lq.from = d.Unix()
	}
	if s := q.Get("filter[createdAtTo]"); s != "" {
		d, err := time.ParseInLocation("2006-01-02", s, loc)
		if err != nil {
			a := validationError("children[createdAtTo]", invalidValue)
			return nil, &a
		}
		lq.to = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc).Unix()
	}
	return lq, nil
}

func (e *Emulator) orders(_ *http.Request, q url.Values, kc *KeyConfig) answer {
	limit, page, bad := paging(q)
	if bad != nil {
		return *bad
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	lq, bad := e.parseListQuery(q, kc, e.loc)
	if bad != nil {
		return *bad
	}
	total, list := e.collectLocked(lq, int64(page-1)*int64(limit), int64(limit))
	w := e.newEnc()
	w.loc = e.loc
	w.open('{')
	w.kbool("success", true)
	w.pagination(limit, page, total)
	w.arr("orders")
	for _, o := range list {
		w.order(o)
	}
	w.close(']')
	w.close('}')
	a := jsonAnswer(http.StatusOK, w)
	a.items = len(list)
	return a
}

func (e *Emulator) order(r *http.Request, q url.Values, kc *KeyConfig) answer {
	ref := r.URL.Path[len("/api/v5/orders/"):]
	// RetailCRM looks orders up by externalId unless told by=id.
	by := q.Get("by")
	if by == "" {
		by = "externalId"
	}
	site := q.Get("site")
	mask := keyMask(kc)
	if site != "" {
		b := siteBit(site)
		if b == 0 || mask&b == 0 {
			return accessDenied()
		}
		mask = b
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	var found *order
	switch by {
	case "id":
		id, err := strconv.ParseInt(ref, 10, 64)
		if err != nil {
			return errorAnswer(http.StatusBadRequest, "Errors in the input parameters", [2]string{"id", "ID must be an integer"})
		}
		if o := e.currentLocked(id); o != nil && mask&siteBit(o.site) != 0 {
			found = o
		}
	case "externalId":
		_, list := e.selectExplicitLocked(&listQuery{mask: mask, from: math.MinInt64, to: math.MaxInt64, externalIDs: map[string]bool{ref: true}}, 0, math.MaxInt64)
		for _, o := range list {
			if found == nil || o.id < found.id {
				found = o
			}
		}
	default:
		return validationError("by", invalidValue)
	}
	if found == nil {
		return errorAnswer(http.StatusNotFound, "Not found")
	}
	w := e.newEnc()
	w.loc = e.loc
	w.open('{')
	w.kbool("success", true)
	w.key("order")
	w.order(found)
	w.close('}')
	a := jsonAnswer(http.StatusOK, w)
	a.items = 1
	return a
}

func (e *Emulator) orderStatuses(_ *http.Request, q url.Values, kc *KeyConfig) answer {
	lq := &listQuery{mask: keyMask(kc), from: math.MinInt64, to: math.MaxInt64, ids: map[int64]bool{}, externalIDs: map[string]bool{}}
	ids, _ := multi(q, "ids")
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return validationError("ids", invalidValue)
		}
		lq.ids[id] = true
	}
	ext, _ := multi(q, "externalIds")
	for _, s := range ext {
		lq.externalIDs[s] = true
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	byID := &listQuery{mask: lq.mask, from: lq.from, to: lq.to, ids: lq.ids}
	byExt := &listQuery{mask: lq.mask, from: lq.from, to: lq.to, externalIDs: lq.externalIDs}
	_, a := e.selectExplicitLocked(byID, 0, math.MaxInt64)
	_, b := e.selectExplicitLocked(byExt, 0, math.MaxInt64)
	w := enc{}
	w.open('{')
	w.kbool("success", true)
	w.arr("orders")
	seen := map[int64]bool{}
	for _, o := range append(a, b...) {
		if seen[o.id] {
			continue
		}
		seen[o.id] = true
		w.open('{')
		w.kint("id", o.id)
		w.ostr("externalId", o.externalID)
		w.kstr("status", o.status)
		w.kstr("group", e.statusGroupLocked(o.status))
		w.close('}')
	}
	w.close(']')
	w.close('}')
	return answer{status: 200, contentType: "application/json", body: w.b}
}

// Orders is the truth for tests: every live order visible to key (all when
// key is ""), newest first, as the exact JSON the list endpoint would send.
// It renders every order, so it is meant for test-sized accounts; OrderCount
// and OrderIDs are cheaper for big ones.
func (e *Emulator) Orders(key string) []json.RawMessage {
	e.mu.RLock()
	defer e.mu.RUnlock()
	kc, ok := e.keyConfigLocked(key)
	if !ok {
		return nil
	}
	_, list := e.collectLocked(&listQuery{mask: keyMask(kc), from: math.MinInt64, to: math.MaxInt64}, 0, math.MaxInt64)
	out := make([]json.RawMessage, len(list))
	w := enc{loc: e.loc}
	for i, o := range list {
		w.b, w.comma = nil, false
		w.order(o)
		out[i] = w.b
	}
	return out
}

// OrderIDs lists the ids of Orders(key), newest first.
func (e *Emulator) OrderIDs(key string) []int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	kc, ok := e.keyConfigLocked(key)
	if !ok {
		return nil
	}
	var out []int64
	e.selectLocked(&listQuery{mask: keyMask(kc), from: math.MinInt64, to: math.MaxInt64}, 0, math.MaxInt64, func(id int64, _ *order) {
		out = append(out, id)
	})
	return out
}

// OrderCount is how many live orders key sees, without generating them.
func (e *Emulator) OrderCount(key string) int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	kc, ok := e.keyConfigLocked(key)
	if !ok {
		return 0
	}
	return int(e.selectLocked(&listQuery{mask: keyMask(kc), from: math.MinInt64, to: math.MaxInt64}, 0, 0, nil))
}
