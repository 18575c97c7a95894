package crmemu

import (
	"bytes"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// histEntry is a history entry produced by a mutation. Entries 1..n (the
// seeded creation entries) are not stored: they are built from the generator.
type histEntry struct {
	id         int64
	at         int64
	created    bool
	deleted    bool
	source     string // "user" | "api"
	userID     int64
	field      string
	oldV, newV hval
	full       *order // snapshot for created entries
	stub       orderStub
	item       []byte // item reference for order_product.* fields
	combinedTo *orderStub
	sites      uint8 // keys of these sites see the entry
}

// hval is an oldValue/newValue: raw JSON, or an instant rendered in the account zone.
type hval struct {
	raw  []byte // nil → null
	ts   int64
	isTS bool
}

func (v hval) equal(w hval) bool {
	return v.isTS == w.isTS && v.ts == w.ts && bytes.Equal(v.raw, w.raw) && (v.raw == nil) == (w.raw == nil)
}

func (e *enc) hval(v hval) {
	switch {
	case v.isTS:
		e.ts(v.ts)
	case v.raw == nil:
		e.null()
	default:
		e.raw(v.raw)
	}
}

func codeValue(code string) hval {
	if code == "" {
		return hval{}
	}
	return hval{raw: append(appendQuoted([]byte(`{"code":`), code), '}')}
}

// creationSource decides who created seeded order k: the shop through the
// API (apiKey.current false, as for any other key) or a manager.
func (g *generator) creationSource(k int64) string {
	if mix64(uint64(g.seed)+uint64(k)*0x2545f4914f6cdd1d)%3 == 0 {
		return "api"
	}
	return "user"
}

func (e *enc) histEntry(h *histEntry) {
	e.open('{')
	e.kint("id", h.id)
	e.kts("createdAt", h.at)
	if h.created {
		e.kbool("created", true)
	}
	if h.deleted {
		e.kbool("deleted", true)
	}
	e.kstr("source", h.source)
	if h.source == "user" {
		e.obj("user")
		e.kint("id", h.userID)
		e.close('}')
	}
	e.kstr("field", h.field)
	if h.source == "api" {
		e.obj("apiKey")
		e.kbool("current", false)
		e.close('}')
	}
	e.key("oldValue")
	e.hval(h.oldV)
	e.key("newValue")
	e.hval(h.newV)
	e.key("order")
	if h.full != nil {
		e.order(h.full)
	} else {
		e.stub(&h.stub)
	}
	if h.item != nil {
		e.kraw("item", h.item)
	}
	if h.combinedTo != nil {
		e.key("combinedTo")
		e.stub(h.combinedTo)
	}
	e.close('}')
}

func userOf(o *order) int64 {
	if o.managerID != 0 {
		return o.managerID
	}
	return 1
}

// seededCreation builds the creation entry of seeded order k.
func (e *Emulator) seededCreation(k int64) *histEntry {
	o := e.gen.order(k)
	return &histEntry{
		id: k, at: o.createdAt, created: true, source: e.gen.creationSource(k), userID: userOf(o),
		field: "status", newV: codeValue(o.status), full: o,
	}
}

type histQuery struct {
	since    int64
	from, to int64 // entry createdAt in [from, to]
	mask     uint8
	orderID  int64
}

func (q *histQuery) match(h *histEntry) bool {
	return h.id > q.since && h.at >= q.from && h.at <= q.to && h.sites&q.mask != 0 &&
		(q.orderID == 0 || h.stub.id == q.orderID)
}

// selectHistoryLocked returns the total after the cursor and the entries at
// [offset, offset+limit), ascending by id.
func (e *Emulator) selectHistoryLocked(q *histQuery, offset, limit int64) (int64, []*histEntry) {
	g := e.gen
	lo := max(q.since+1, g.firstCreatedAtOrAfter(q.from))
	hi := g.n
	if q.to != math.MaxInt64 {
		hi = min(hi, g.firstCreatedAtOrAfter(q.to+1)-1)
	}
	if q.orderID != 0 {
		if q.orderID >= lo && q.orderID <= hi {
			lo, hi = q.orderID, q.orderID
		} else {
			hi = lo - 1
		}
	}
	seeded := g.countSites(lo, hi, q.mask)
	// appended entries: ids ascend with their index, so skip the cursor by arithmetic
	start := int(min(max(q.since-g.n, 0), int64(len(e.hist))))
	var appended []*histEntry
	plain := q.from == math.MinInt64 && q.to == math.MaxInt64 && q.mask == bitAll && q.orderID == 0
	var appendedTotal int64
	if plain {
		appendedTotal = int64(len(e.hist) - start)
	} else {
		for _, h := range e.hist[start:] {
			if q.match(h) {
				appended = append(appended, h)
			}
		}
		appendedTotal = int64(len(appended))
	}
	total := seeded + appendedTotal
	var out []*histEntry
	if offset < seeded {
		k := offset
		// smallest x with countSites(lo, x) >= k+1
		x := lo + int64(sort.Search(int(hi-lo+1), func(i int) bool { return g.countSites(lo, lo+int64(i), q.mask) >= k+1 }))
		for ; x <= hi && int64(len(out)) < limit; x++ {
			if q.mask&(1<<g.siteIdx(x)) != 0 {
				out = append(out, e.seededCreation(x))
			}
		}
	}
	if int64(len(out)) < limit && offset+int64(len(out)) < total {
		skip := max(offset-seeded, 0)
		need := limit - int64(len(out))
		if plain {
			from := int64(start) + skip
			out = append(out, e.hist[from:min(from+need, int64(len(e.hist)))]...)
		} else {
			out = append(out, appended[skip:min(skip+need, int64(len(appended)))]...)
		}
	}
	return total, out
}

// history serves /api/v5/orders/history: filter[sinceId] (exclusive),
// filter[startDate]/[endDate], filter[orderId], limit, page — but never page
// together with sinceId (HTTP 400 since 15.05.2023).
func (e *Emulator) history(_ *http.Request, q url.Values, kc *KeyConfig) answer {
	limit, page, bad := paging(q)
	if bad != nil {
		return *bad
	}
	hq := &histQuery{from: math.MinInt64, to: math.MaxInt64, mask: keyMask(kc)}
	if s := q.Get("filter[sinceId]"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return validationError("children[sinceId]", invalidValue)
		}
		hq.since = n
		if q.Get("page") != "" {
			return errorAnswer(http.StatusBadRequest, "Use the shift of the `filter[sinceId]` instead of `page` parameter")
		}
	}
	if s := q.Get("filter[orderId]"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return validationError("children[orderId]", invalidValue)
		}
		hq.orderID = n
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"startDate", &hq.from}, {"endDate", &hq.to}} {
		s := q.Get("filter[" + p.name + "]")
		if s == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02 15:04:05", s, e.loc)
		if err != nil {
			t, err = time.ParseInLocation("2006-01-02", s, e.loc)
		}
		if err != nil {
			return validationError("children["+p.name+"]", invalidValue)
		}
		*p.dst = t.Unix()
	}
	total, list := e.selectHistoryLocked(hq, int64(page-1)*int64(limit), int64(limit))
	w := e.newEnc()
	w.loc = e.loc
	w.open('{')
	w.kbool("success", true)
	w.kts("generatedAt", e.now().Unix())
	w.arr("history")
	for _, h := range list {
		w.histEntry(h)
	}
	w.close(']')
	w.pagination(limit, page, total)
	w.close('}')
	a := jsonAnswer(http.StatusOK, w)
	a.items = len(list)
	return a
}
