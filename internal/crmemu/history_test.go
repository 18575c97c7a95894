package crmemu

import (
	"errors"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strconv"
	"sync"
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
	// the recorded answer to exactly this request (error-400-validation fixture)
	bad := get(t, e, DemoKey, "/api/v5/orders/history?filter[startDate]=2020-13-12")
	if want := fixture(t, "error-400-validation.orders-history.go-sdk.json"); bad.status != 400 || !reflect.DeepEqual(bad.json(t), want) {
		t.Errorf("bad startDate: %d %s, want %v", bad.status, bad.body, want)
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

func TestMutationEdgeCases(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 25, Orders: 0})
	m := get(t, e, DemoKey, "/api/v5/orders").json(t)
	if p := m["pagination"].(map[string]any); p["totalCount"] != 0.0 || p["totalPageCount"] != 0.0 || len(m["orders"].([]any)) != 0 {
		t.Errorf("empty account: %v", m)
	}
	if h := get(t, e, DemoKey, "/api/v5/orders/history").json(t)["history"].([]any); len(h) != 0 {
		t.Errorf("empty history: %v", h)
	}
	delivery, net := 300.0, 120.5
	items := make([]ItemInput, 10)
	for i := range items {
		items[i] = ItemInput{Price: 1395.16, Quantity: 0.25, PurchasePrice: 1000.5}
	}
	items[9].Canceled = true
	wish := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	oid := e.CreateOrder(OrderInput{Site: NoSite, Items: items, DeliveryCost: &delivery, DeliveryNetCost: &net,
		CustomFields: map[string]any{"wish_date": wish, "gift_options": []string{"wrap"}, FieldSessionID: "s-1"}})
	if oid != 1 {
		t.Fatalf("first id %d", oid)
	}
	o := get(t, e, DemoKey, "/api/v5/orders/1?by=id").json(t)["order"].(map[string]any)
	if _, ok := o["site"]; ok {
		t.Errorf("NoSite order has site %v", o["site"])
	}
	seen := map[float64]bool{}
	for _, it := range o["items"].([]any) {
		seen[it.(map[string]any)["id"].(float64)] = true
	}
	cf := o["customFields"].(map[string]any)
	// 9 live lines × 0.25 × 1395.16 = 3139.11; purchase 9 × 0.25 × 1000.5 = 2251.125 → 2251.13
	if len(seen) != 10 || o["summ"] != 3139.11 || o["totalSumm"] != 3439.11 || o["purchaseSumm"] != 2251.13 ||
		cf["wish_date"] != "2026-06-01" || cf[FieldSessionID] != "s-1" || o["delivery"].(map[string]any)["netCost"] != 120.5 {
		t.Errorf("created order: items %d summ %v total %v purchase %v cf %v", len(seen), o["summ"], o["totalSumm"], o["purchaseSumm"], cf)
	}
	must(t, e.UpdateOrder(1, Change{Field: "email", Value: ""}))
	if o := get(t, e, DemoKey, "/api/v5/orders/1?by=id").json(t)["order"].(map[string]any); o["email"] != "" {
		t.Errorf(`email "" not kept: %v`, o["email"])
	}
	must(t, e.UpdateOrder(1, Change{Field: "email", Value: nil}, Change{Field: "delivery_net_cost", Value: nil}))
	o = get(t, e, DemoKey, "/api/v5/orders/1?by=id").json(t)["order"].(map[string]any)
	if _, ok := o["email"]; ok {
		t.Errorf("cleared email still there")
	}
	if _, ok := o["delivery"].(map[string]any)["netCost"]; ok {
		t.Errorf("cleared netCost still there")
	}
	if err := e.UpdateOrder(1, Change{Field: "colour", Value: "red"}); err == nil {
		t.Error("unknown field accepted")
	}
	if err := e.UpdateOrder(1, Change{Field: "status", Value: "no-such-status"}); err == nil {
		t.Error("unknown status accepted")
	}
	last := e.HistoryLastID()
	if err := e.UpdateOrder(1, Change{Field: "status", Value: "complete"}, Change{Field: "custom_nope", Value: 1}); err == nil || e.HistoryLastID() != last {
		t.Errorf("a failing change must apply nothing: %v, history %d → %d", err, last, e.HistoryLastID())
	}
	must(t, e.UpdateOrder(1, Change{Field: "status", Value: "complete"}))
	last = e.HistoryLastID()
	must(t, e.UpdateOrder(1, Change{Field: "status", Value: "complete"}))
	if e.HistoryLastID() != last {
		t.Error("writing the same value made a history entry")
	}
	two := e.CreateOrder(OrderInput{})
	if err := e.MergeOrders(two, two); err == nil {
		t.Error("merge into itself accepted")
	}
	must(t, e.DeleteOrder(two))
	for _, err := range []error{e.DeleteOrder(two), e.UpdateOrder(two, Change{Field: "phone", Value: "1"}), e.MergeOrders(1, two), e.UpdateOrder(99, Change{Field: "phone", Value: "1"})} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("mutation of a missing order: %v", err)
		}
	}
}

// Readers and writers may run at once (run with -race).
func TestConcurrentReadersAndMutations(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 26, Orders: 300, RateLimit: 1000})
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(26, 1))
		for range 60 {
			e.RandomMutation(rng)
		}
		if err := e.SetTimezone("Europe/Berlin"); err != nil {
			t.Error(err)
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				path := "/api/v5/orders?limit=50&page=" + strconv.Itoa(1+i%6)
				if g%2 == 1 {
					path = "/api/v5/orders/history?limit=50&filter[sinceId]=" + strconv.Itoa(i*12)
				}
				if r := get(t, e, DemoKey, path); r.status != 200 {
					t.Errorf("%s: %d", path, r.status)
				}
			}
		})
	}
	wg.Wait()
	<-done
	if st := e.Stats(); st.Requests != 100 {
		t.Errorf("%d requests counted", st.Requests)
	}
}
