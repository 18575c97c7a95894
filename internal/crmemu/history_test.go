package crmemu

import (
	"math/rand/v2"
	"net/url"
	"strconv"
	"testing"
	"time"
)

type entry = map[string]any

// walkHistory follows filter[sinceId] forward, never sending page, checking
// that every page's pagination counts what is left after the cursor.
func walkHistory(t *testing.T, e *Emulator, key string, since int64, extra string) []entry {
	t.Helper()
	var out []entry
	for {
		r := get(t, e, key, "/api/v5/orders/history?limit=100&filter[sinceId]="+strconv.FormatInt(since, 10)+extra)
		if r.status != 200 {
			t.Fatalf("since %d: %d %s", since, r.status, truncate(r.body))
		}
		m := r.json(t)
		list := m["history"].([]any)
		p := m["pagination"].(map[string]any)
		left := int(p["totalCount"].(float64))
		if left < len(list) || (left > 100 && len(list) != 100) || p["currentPage"] != 1.0 {
			t.Fatalf("since %d: %d entries, pagination %v", since, len(list), p)
		}
		if _, err := time.Parse("2006-01-02 15:04:05", m["generatedAt"].(string)); err != nil {
			t.Errorf("generatedAt %v", m["generatedAt"])
		}
		for _, h := range list {
			he := h.(entry)
			if int64(he["id"].(float64)) <= since {
				t.Fatalf("entry %v not after cursor %d", he["id"], since)
			}
			since = int64(he["id"].(float64))
			out = append(out, he)
		}
		if p["totalPageCount"].(float64) <= 1 {
			return out
		}
	}
}

func TestHistoryFeed(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 21, Orders: 250})
	newID := e.CreateOrder(OrderInput{Status: "new", Phone: "+7 900 000-00-00"})
	must(t, e.UpdateOrder(5, Change{Field: "status", Value: "assembling"}, Change{Field: "custom_" + FieldSessionID, Value: "sid-1"}))
	must(t, e.DeleteOrder(7))
	must(t, e.MergeOrders(9, 10))
	if got := e.HistoryLastID(); got < 255 {
		t.Fatalf("HistoryLastID %d", got)
	}
	all := walkHistory(t, e, DemoKey, 0, "")
	if int64(len(all)) != e.HistoryLastID() {
		t.Fatalf("%d entries, last id %d", len(all), e.HistoryLastID())
	}
	prevAt := ""
	for i, h := range all {
		if int64(h["id"].(float64)) != int64(i+1) {
			t.Fatalf("entry %d has id %v: not ascending without gaps", i, h["id"])
		}
		order := h["order"].(entry)
		if h["created"] == true {
			if len(order) < 30 {
				t.Errorf("creation entry %v carries %d keys, want the full order", h["id"], len(order))
			}
			if h["field"] != "status" || h["oldValue"] != nil || h["newValue"].(entry)["code"] != order["status"] {
				t.Errorf("creation entry %v: %v → %v", h["id"], h["oldValue"], h["newValue"])
			}
		} else if len(order) < 2 || len(order) > 5 {
			t.Errorf("change entry %v carries %d keys, want a stub: %v", h["id"], len(order), order)
		}
		if i < 250 {
			if at := h["createdAt"].(string); at < prevAt {
				t.Errorf("seeded entry %v created %s before %s", h["id"], at, prevAt)
			} else {
				prevAt = at
			}
		}
		switch h["source"] {
		case "user":
			if h["user"] == nil {
				t.Errorf("entry %v: source user without user", h["id"])
			}
		case "api":
			if h["apiKey"].(entry)["current"] != false {
				t.Errorf("entry %v: apiKey %v", h["id"], h["apiKey"])
			}
		default:
			t.Errorf("entry %v: source %v", h["id"], h["source"])
		}
	}
	tail := all[250:]
	byField := map[string][]entry{}
	for _, h := range tail[1:] {
		byField[h["field"].(string)] = append(byField[h["field"].(string)], h)
	}
	created := tail[0]
	if created["created"] != true || id(created["order"].(entry)) != newID || created["order"].(entry)["phone"] != "+7 900 000-00-00" {
		t.Errorf("creation of %d: %v", newID, created)
	}
	st := byField["status"][0]
	if st["oldValue"] == nil || st["newValue"].(entry)["code"] != "assembling" || st["order"].(entry)["status"] != "assembling" || id(st["order"].(entry)) != 5 {
		t.Errorf("status change: %v", st)
	}
	if cf := byField["custom_"+FieldSessionID][0]; cf["newValue"] != "sid-1" {
		t.Errorf("custom field change: %v", cf)
	}
	var deleted, combined entry
	for _, h := range byField["id"] {
		if h["deleted"] != true {
			t.Errorf("id entry without deleted: %v", h)
		}
		if h["combinedTo"] != nil {
			combined = h
		} else {
			deleted = h
		}
	}
	if deleted == nil || id(deleted["order"].(entry)) != 7 {
		t.Errorf("deletion entry: %v", deleted)
	}
	if combined == nil || id(combined["order"].(entry)) != 9 || id(combined["combinedTo"].(entry)) != 10 {
		t.Errorf("merge entry: %v", combined)
	}
	if len(byField["order_product"]) == 0 || id(byField["order_product"][0]["order"].(entry)) != 10 || byField["order_product"][0]["item"] == nil {
		t.Errorf("merged items: %v", byField["order_product"])
	}
	// the merged-away and deleted orders are gone from lists, the target has the lines
	ids := map[int64]bool{}
	for _, id := range e.OrderIDs("") {
		ids[id] = true
	}
	if ids[7] || ids[9] || !ids[10] || !ids[newID] || len(ids) != 249 {
		t.Errorf("live orders after delete and merge: %d, 7:%v 9:%v", len(ids), ids[7], ids[9])
	}

	// sinceId ahead of the feed: nothing, no error
	if rest := walkHistory(t, e, DemoKey, e.HistoryLastID()+10, ""); len(rest) != 0 {
		t.Errorf("cursor ahead gave %d entries", len(rest))
	}
	// a cursor in the middle counts what is left
	m := get(t, e, DemoKey, "/api/v5/orders/history?limit=20&filter[sinceId]=100").json(t)
	if p := m["pagination"].(map[string]any); p["totalCount"] != float64(e.HistoryLastID()-100) {
		t.Errorf("pagination after cursor 100: %v", p)
	}
}

// Since 15.05.2023 RetailCRM rejects page together with sinceId.
func TestHistorySinceIDWithPageIs400(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 22, Orders: 300})
	r := get(t, e, DemoKey, "/api/v5/orders/history?filter[sinceId]=10&page=2&limit=100")
	m := r.json(t)
	if r.status != 400 || m["success"] != false || m["errorMsg"] != "Use the shift of the `filter[sinceId]` instead of `page` parameter" {
		t.Errorf("%d %s", r.status, r.body)
	}
	// page without a cursor still pages
	p2 := get(t, e, DemoKey, "/api/v5/orders/history?page=2&limit=100").json(t)
	first := p2["history"].([]any)[0].(entry)
	if first["id"] != 101.0 || p2["pagination"].(map[string]any)["totalPageCount"] != 3.0 {
		t.Errorf("page 2: first %v, %v", first["id"], p2["pagination"])
	}
	bad := get(t, e, DemoKey, "/api/v5/orders/history?filter[startDate]=2020-13-12")
	if bad.status != 400 || string(bad.body) != `{"success":false,"errorMsg":"Errors in the input parameters","errors":{"children[startDate]":"Значение недопустимо."}}` {
		t.Errorf("bad startDate: %d %s", bad.status, bad.body)
	}
}

func TestHistoryDateFilter(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 23, Orders: 400})
	all := walkHistory(t, e, DemoKey, 0, "")
	from, to := all[100]["createdAt"].(string), all[200]["createdAt"].(string)
	got := walkHistory(t, e, DemoKey, 0, "&filter[startDate]="+url.QueryEscape(from)+"&filter[endDate]="+url.QueryEscape(to))
	want := 0
	for _, h := range all {
		if at := h["createdAt"].(string); at >= from && at <= to {
			want++
		}
	}
	if len(got) != want || got[0]["createdAt"].(string) < from || got[len(got)-1]["createdAt"].(string) > to {
		t.Errorf("startDate..endDate: %d entries, want %d", len(got), want)
	}
	// the official PHP loop: startDate first, then sinceId of the last entry
	firstPage := get(t, e, DemoKey, "/api/v5/orders/history?limit=100&filter[startDate]="+url.QueryEscape(from)).json(t)
	entries := firstPage["history"].([]any)
	last := int64(entries[len(entries)-1].(entry)["id"].(float64))
	rest := walkHistory(t, e, DemoKey, last, "")
	wantFrom := 0
	for _, h := range all {
		if h["createdAt"].(string) >= from {
			wantFrom++
		}
	}
	if len(entries)+len(rest) != wantFrom {
		t.Errorf("startDate then sinceId: %d + %d entries, want %d", len(entries), len(rest), wantFrom)
	}
}

// Mutations in a random sequence keep the list, the single-order endpoint and
// the history consistent with each other.
func TestRandomMutationsStayConsistent(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 24, Orders: 120})
	rng := rand.New(rand.NewPCG(24, 24))
	kinds := map[string]int{}
	touched := map[int64]bool{}
	for range 300 {
		m := e.RandomMutation(rng)
		kinds[m.Kind]++
		touched[m.OrderID] = true
		if m.Kind == "merge" && m.IntoID == 0 {
			t.Fatalf("merge without target: %v", m)
		}
	}
	for _, k := range []string{"create", "update", "delete", "merge"} {
		if kinds[k] == 0 {
			t.Errorf("RandomMutation never did %s: %v", k, kinds)
		}
	}
	live := map[int64]bool{}
	for _, id := range e.OrderIDs("") {
		if live[id] {
			t.Fatalf("order %d listed twice", id)
		}
		live[id] = true
	}
	listed, total := walkOrders(t, e, DemoKey, "", 100)
	if total != len(live) || len(listed) != len(live) {
		t.Fatalf("list walk %d/%d, truth %d", len(listed), total, len(live))
	}
	// replaying the history must end at the same live set
	replay := map[int64]bool{}
	for _, h := range walkHistory(t, e, DemoKey, 0, "") {
		oid := id(h["order"].(entry))
		switch {
		case h["created"] == true:
			replay[oid] = true
		case h["deleted"] == true:
			delete(replay, oid)
		}
	}
	if len(replay) != len(live) {
		t.Errorf("history replay has %d live orders, truth %d", len(replay), len(live))
	}
	for oid := range live {
		if !replay[oid] {
			t.Errorf("order %d live but not created in history", oid)
		}
	}
	for oid := range touched {
		r := get(t, e, DemoKey, "/api/v5/orders/"+strconv.FormatInt(oid, 10)+"?by=id")
		if (r.status == 200) != live[oid] {
			t.Errorf("order %d: get %d, live %v", oid, r.status, live[oid])
		}
	}
}
