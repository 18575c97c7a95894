package crmemu

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestLimitAndPageValidation(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 1, Orders: 10})
	for _, c := range []struct {
		query  string
		status int
		field  string
	}{
		{"limit=20", 200, ""}, {"limit=50", 200, ""}, {"limit=100", 200, ""}, {"", 200, ""},
		{"limit=10", 400, "limit"}, {"limit=250", 400, "limit"}, {"limit=abc", 400, "limit"},
		{"page=0", 400, "page"}, {"page=-1", 400, "page"},
		{"filter[createdAtFrom]=2026-13-01", 400, "children[createdAtFrom]"},
		{"filter[createdAtTo]=2026-01-01+10:00:00", 400, "children[createdAtTo]"},
	} {
		for _, path := range []string{"/api/v5/orders?", "/api/v5/orders/history?"} {
			if strings.HasPrefix(c.query, "filter[created") && strings.Contains(path, "history") {
				continue
			}
			r := get(t, e, DemoKey, path+c.query)
			if r.status != c.status {
				t.Errorf("%s%s: status %d, want %d", path, c.query, r.status, c.status)
				continue
			}
			if c.status == 400 {
				m := r.json(t)
				if m["success"] != false || m["errorMsg"] != "Errors in the input parameters" {
					t.Errorf("%s%s: body %s", path, c.query, r.body)
				}
				if _, ok := m["errors"].(map[string]any)[c.field]; !ok {
					t.Errorf("%s%s: errors %v lack %q", path, c.query, m["errors"], c.field)
				}
			}
		}
	}
	r := get(t, e, DemoKey, "/api/v5/orders?limit=50")
	if p := r.json(t)["pagination"].(map[string]any); p["limit"] != 50.0 || p["totalCount"] != 10.0 || p["totalPageCount"] != 1.0 {
		t.Errorf("pagination %v", p)
	}
}

// Walking every page newest first yields every order exactly once, with the
// counts of the pagination envelope.
func TestOrdersPagingNewestFirstToTheEnd(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 2, Orders: 537})
	for _, limit := range []int{20, 50, 100} {
		pages := 0
		var prev map[string]any
		seen := map[int64]bool{}
		for page := 1; ; page++ {
			m := get(t, e, DemoKey, "/api/v5/orders?limit="+jsonInt(limit)+"&page="+jsonInt(page)).json(t)
			p := m["pagination"].(map[string]any)
			want := map[string]any{"limit": float64(limit), "totalCount": 537.0, "currentPage": float64(page), "totalPageCount": math.Ceil(537 / float64(limit))}
			for k, v := range want {
				if p[k] != v {
					t.Fatalf("limit %d page %d: pagination %v", limit, page, p)
				}
			}
			orders := m["orders"].([]any)
			if page < int(want["totalPageCount"].(float64)) && len(orders) != limit {
				t.Fatalf("page %d has %d orders", page, len(orders))
			}
			for _, x := range orders {
				o := x.(map[string]any)
				if seen[id(o)] {
					t.Fatalf("order %d twice", id(o))
				}
				seen[id(o)] = true
				if prev != nil && (o["createdAt"].(string) > prev["createdAt"].(string) || id(o) > id(prev)) {
					t.Fatalf("order %d (%s) after %d (%s): not newest first", id(o), o["createdAt"], id(prev), prev["createdAt"])
				}
				prev = o
			}
			pages++
			if page >= int(p["totalPageCount"].(float64)) {
				break
			}
		}
		if len(seen) != 537 || pages != int(math.Ceil(537/float64(limit))) {
			t.Errorf("limit %d: %d orders in %d pages", limit, len(seen), pages)
		}
	}
	beyond := get(t, e, DemoKey, "/api/v5/orders?limit=100&page=7").json(t)
	if len(beyond["orders"].([]any)) != 0 || beyond["pagination"].(map[string]any)["currentPage"] != 7.0 {
		t.Errorf("page past the end: %v", beyond["pagination"])
	}
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// createdAtFrom/To are whole days of the account timezone, both ends
// inclusive: the filtered set is exactly the orders whose rendered createdAt
// falls on those days, also across a DST switch.
func TestCreatedAtFilterWholeDaysInAccountTimezone(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"Europe/Moscow", "Europe/Berlin", "America/New_York", "UTC"} {
		t.Run(tz, func(t *testing.T) {
			t.Parallel()
			// 2026-03-29 is the EU switch to summer time, 2026-03-08 the US one.
			e := newTestEmu(t, Options{Seed: 4, Orders: 2000, Timezone: tz,
				Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 5, 0, 0, 0, 0, time.UTC)})
			e.CreateOrder(OrderInput{CreatedAt: time.Date(2026, 3, 29, 0, 30, 0, 0, e.Location())})
			all, total := walkOrders(t, e, DemoKey, "", 100)
			if total != 2001 {
				t.Fatalf("total %d", total)
			}
			byDay := map[string]int{}
			for _, o := range all {
				byDay[o["createdAt"].(string)[:10]]++
			}
			for _, c := range [][2]string{{"2026-03-29", "2026-03-29"}, {"2026-03-08", "2026-03-08"}, {"2026-03-10", "2026-03-12"}, {"2026-03-01", "2026-03-01"}, {"2026-04-04", "2026-04-05"}} {
				got, n := walkOrders(t, e, DemoKey, "&filter[createdAtFrom]="+c[0]+"&filter[createdAtTo]="+c[1], 100)
				want := 0
				for day, k := range byDay {
					if day >= c[0] && day <= c[1] {
						want += k
					}
				}
				if n != want || len(got) != want || want == 0 {
					t.Errorf("%s..%s: totalCount %d, %d orders, want %d", c[0], c[1], n, len(got), want)
				}
				for _, o := range got {
					if d := o["createdAt"].(string)[:10]; d < c[0] || d > c[1] {
						t.Errorf("%s..%s: order %d created %s", c[0], c[1], id(o), o["createdAt"])
					}
				}
			}
			_, n := walkOrders(t, e, DemoKey, "&filter[createdAtFrom]=2026-03-20", 100)
			want := 0
			for day, k := range byDay {
				if day >= "2026-03-20" {
					want += k
				}
			}
			if n != want {
				t.Errorf("open-ended from: %d, want %d", n, want)
			}
		})
	}
}

func TestSetTimezoneMovesRenderingNotInstants(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 5, Orders: 20})
	before := get(t, e, DemoKey, "/api/v5/orders/3?by=id").json(t)["order"].(map[string]any)["createdAt"].(string)
	must(t, e.SetTimezone("Asia/Vladivostok"))
	after := get(t, e, DemoKey, "/api/v5/orders/3?by=id").json(t)["order"].(map[string]any)["createdAt"].(string)
	msk, _ := time.LoadLocation("Europe/Moscow")
	vvo, _ := time.LoadLocation("Asia/Vladivostok")
	a, _ := time.ParseInLocation("2006-01-02 15:04:05", before, msk)
	b, _ := time.ParseInLocation("2006-01-02 15:04:05", after, vvo)
	if !a.Equal(b) || before == after {
		t.Errorf("createdAt %s (Moscow) became %s (Vladivostok)", before, after)
	}
	tz := get(t, e, DemoKey, "/api/v5/settings").json(t)["settings"].(map[string]any)["timezone"].(map[string]any)
	if tz["value"] != "Asia/Vladivostok" {
		t.Errorf("settings timezone %v", tz)
	}
	if err := e.SetTimezone("Mars/Olympus"); err == nil {
		t.Error("unknown timezone accepted")
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 6, Orders: 300})
	all, _ := walkOrders(t, e, DemoKey, "", 100)
	byID := map[int64]map[string]any{}
	for _, o := range all {
		byID[id(o)] = o
	}
	ids, n := walkOrders(t, e, DemoKey, "&filter[ids][]=5&filter[ids][]=17&filter[ids][]=99999", 20)
	if n != 2 || id(ids[0]) != 17 || id(ids[1]) != 5 {
		t.Errorf("ids filter: %d orders %v", n, ids)
	}
	// PHP's http_build_query writes indexed arrays
	if _, n := walkOrders(t, e, DemoKey, "&filter[ids][0]=5&filter[ids][1]=17", 20); n != 2 {
		t.Errorf("indexed ids filter: %d", n)
	}
	num := byID[42]["number"].(string)
	if got, n := walkOrders(t, e, DemoKey, "&filter[numbers][]="+num, 20); n != 1 || id(got[0]) != 42 {
		t.Errorf("numbers filter %s: %d", num, n)
	}
	var ext string
	var extID int64
	for _, o := range all {
		if s, ok := o["externalId"].(string); ok {
			ext, extID = s, id(o)
			break
		}
	}
	if got, n := walkOrders(t, e, DemoKey, "&filter[externalIds][]="+ext, 20); n != 1 || id(got[0]) != extID {
		t.Errorf("externalIds filter %s: %d", ext, n)
	}
	for _, site := range []string{SiteMain, SiteOpt} {
		got, n := walkOrders(t, e, DemoKey, "&filter[sites][]="+site, 100)
		want := 0
		for _, o := range all {
			if o["site"] == site {
				want++
			}
		}
		if n != want || len(got) != want {
			t.Errorf("site %s: %d, want %d", site, n, want)
		}
	}
	// a filter on a mutated order finds its current version
	must(t, e.UpdateOrder(42, Change{Field: "number", Value: "A-42"}))
	if got, n := walkOrders(t, e, DemoKey, "&filter[numbers][]=A-42", 20); n != 1 || id(got[0]) != 42 {
		t.Errorf("number after change: %d", n)
	}
	if _, n := walkOrders(t, e, DemoKey, "&filter[numbers][]="+num, 20); n != 0 {
		t.Errorf("old number still found")
	}
}

func TestGetOrder(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 8, Orders: 100})
	r := get(t, e, DemoKey, "/api/v5/orders/10?by=id")
	o := r.json(t)["order"].(map[string]any)
	if r.status != 200 || id(o) != 10 {
		t.Fatalf("by id: %d %s", r.status, truncate(r.body))
	}
	for i := int64(1); i <= 100; i++ {
		ro := get(t, e, DemoKey, "/api/v5/orders/"+jsonInt(int(i))+"?by=id").json(t)["order"].(map[string]any)
		ext, ok := ro["externalId"].(string)
		if !ok {
			continue
		}
		// RetailCRM's default lookup is by externalId
		got := get(t, e, DemoKey, "/api/v5/orders/"+ext).json(t)["order"].(map[string]any)
		if id(got) != i {
			t.Errorf("externalId %s gave %d, want %d", ext, id(got), i)
		}
		site := ro["site"].(string)
		if r := get(t, e, DemoKey, "/api/v5/orders/"+ext+"?by=externalId&site="+site); r.status != 200 {
			t.Errorf("externalId with site: %d", r.status)
		}
		break
	}
	for _, path := range []string{"/api/v5/orders/100000?by=id", "/api/v5/orders/no-such-ext", "/api/v5/orders/100000"} {
		r := get(t, e, DemoKey, path)
		if r.status != 404 || string(r.body) != `{"success":false,"errorMsg":"Not found"}` {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	must(t, e.DeleteOrder(10))
	if r := get(t, e, DemoKey, "/api/v5/orders/10?by=id"); r.status != 404 {
		t.Errorf("deleted order: %d", r.status)
	}
	if r := get(t, e, DemoKey, "/api/v5/orders/abc?by=id"); r.status != 400 {
		t.Errorf("non-numeric id: %d", r.status)
	}
}

// Orders() is the exact JSON the list endpoint sends, in the same order.
func TestOrdersTruthMatchesListBytes(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 9, Orders: 230})
	e.CreateOrder(OrderInput{})
	must(t, e.DeleteOrder(7))
	var listed []json.RawMessage
	for page := 1; page <= 3; page++ {
		var m struct{ Orders []json.RawMessage }
		if err := json.Unmarshal(get(t, e, DemoKey, "/api/v5/orders?limit=100&page="+jsonInt(page)).body, &m); err != nil {
			t.Fatal(err)
		}
		listed = append(listed, m.Orders...)
	}
	truth := e.Orders("")
	if len(truth) != 230 || len(listed) != 230 {
		t.Fatalf("%d truth, %d listed", len(truth), len(listed))
	}
	for i := range truth {
		if !bytes.Equal(truth[i], listed[i]) {
			t.Fatalf("order %d differs:\n%s\n%s", i, truth[i], listed[i])
		}
	}
	ids := e.OrderIDs(DemoKey)
	if len(ids) != 230 || ids[0] != 231 || e.OrderCount("") != 230 {
		t.Errorf("OrderIDs: %d ids, first %d, count %d", len(ids), ids[0], e.OrderCount(""))
	}
}

func TestDeterministicBySeed(t *testing.T) {
	t.Parallel()
	a := newTestEmu(t, Options{Seed: 42, Orders: 500})
	b := newTestEmu(t, Options{Seed: 42, Orders: 500})
	c := newTestEmu(t, Options{Seed: 43, Orders: 500})
	for _, path := range []string{"/api/v5/orders?limit=100&page=2", "/api/v5/orders/history?limit=50&filter[sinceId]=100"} {
		ra, rb, rc := get(t, a, DemoKey, path), get(t, b, DemoKey, path), get(t, c, DemoKey, path)
		if !bytes.Equal(ra.body, rb.body) {
			t.Errorf("%s: same seed, different answers", path)
		}
		if bytes.Equal(ra.body, rc.body) {
			t.Errorf("%s: different seeds, same answer", path)
		}
	}
}

func orderSizes(t *testing.T, size string) []int {
	e := newTestEmu(t, Options{Seed: 11, Orders: 2000, OrderSize: size})
	var sizes []int
	for _, o := range e.Orders("") {
		sizes = append(sizes, len(o))
	}
	sort.Ints(sizes)
	return sizes
}

func TestRichOrderSizes(t *testing.T) {
	t.Parallel()
	sizes := orderSizes(t, "rich")
	n := len(sizes)
	median := sizes[n/2]
	inRange := 0
	for _, s := range sizes {
		if s >= 3000 && s <= 10240 {
			inRange++
		}
	}
	t.Logf("rich order bytes: min %d p10 %d median %d p90 %d max %d", sizes[0], sizes[n/10], median, sizes[n*9/10], sizes[n-1])
	if median < 4000 || median > 6500 {
		t.Errorf("median %d bytes, want ≈5 KB", median)
	}
	if inRange < n*95/100 {
		t.Errorf("%d of %d orders within 3–10 KB", inRange, n)
	}
	small := orderSizes(t, "small")
	if m := small[len(small)/2]; m > 2500 {
		t.Errorf("small median %d bytes", m)
	}
}

// The generator produces the real-world mess the importer must survive.
func TestSeededDataRealism(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 12, Orders: 2000})
	var raw []map[string]any
	for _, b := range e.Orders("") {
		var m map[string]any
		must(t, json.Unmarshal(b, &m))
		raw = append(raw, m)
	}
	count := map[string]int{}
	for _, o := range raw {
		if _, ok := o["site"]; !ok {
			count["no site"]++
		}
		if _, ok := o["externalId"]; !ok {
			count["no externalId"]++
		}
		if e, ok := o["email"]; ok && e == "" {
			count["empty email"]++
		}
		if e, ok := o["email"].(string); ok && (strings.TrimSpace(e) != e || strings.ToLower(e) != e || (e != "" && strings.Count(e, "@") != 1)) {
			count["odd email"]++
		}
		if _, ok := o["customFields"].([]any); ok {
			count["customFields []"]++
		}
		if cf, ok := o["customFields"].(map[string]any); ok && cf[FieldSessionID] != nil {
			count["session id"]++
		}
		if p, ok := o["payments"].([]any); ok && len(p) == 0 {
			count["payments []"]++
		}
		if o["purchaseSumm"] == 0.0 {
			count["purchaseSumm 0"]++
		}
		if s := o["totalSumm"].(float64); s != math.Trunc(s) {
			count["fractional money"]++
		}
		d := o["delivery"].(map[string]any)
		if _, ok := d["netCost"]; !ok {
			count["no netCost"]++
		}
		phone, _ := o["phone"].(string)
		switch {
		case strings.Contains(phone, ","):
			count["phone two numbers"]++
		case strings.HasPrefix(phone, "+7 ("):
			count["phone +7 (…)"]++
		case strings.HasPrefix(phone, "8 9"):
			count["phone 8 9xx"]++
		case strings.HasPrefix(phone, "+380") || strings.HasPrefix(phone, "+375"):
			count["phone foreign"]++
		case strings.HasPrefix(phone, "("):
			count["phone landline"]++
		case len(phone) == 10:
			count["phone 10 digits"]++
		}
		if strings.Contains(phone, "доб.") {
			count["phone extension"]++
		}
		if c, ok := o["customerComment"].(string); ok && (strings.ContainsAny(c, "\n\"")) {
			count["comment newline/quote"]++
		}
		if o["patronymic"] != nil {
			count["patronymic"]++
		}
		for _, it := range o["items"].([]any) {
			item := it.(map[string]any)
			if q := item["quantity"].(float64); q != math.Trunc(q) {
				count["fractional quantity"]++
			}
			if p, ok := item["properties"].([]any); ok && len(p) == 0 {
				count["item properties []"]++
			}
			if item["isCanceled"] == true {
				count["canceled item"]++
			}
		}
		if c, ok := o["customer"].(map[string]any); ok && len(c["tags"].([]any)) > 0 {
			count["customer tags"]++
		}
	}
	t.Logf("features over %d orders: %v", len(raw), count)
	for _, k := range []string{"no site", "no externalId", "empty email", "odd email", "customFields []", "payments []", "purchaseSumm 0",
		"fractional money", "no netCost", "phone +7 (…)", "phone 8 9xx", "phone foreign", "phone two numbers", "phone landline",
		"phone 10 digits", "phone extension", "comment newline/quote", "patronymic", "fractional quantity", "item properties []",
		"canceled item", "customer tags"} {
		if count[k] == 0 {
			t.Errorf("no order with %s", k)
		}
	}
	if count["session id"] < len(raw)*3/4 {
		t.Errorf("session id on %d of %d orders, want most", count["session id"], len(raw))
	}
	if count["no site"] > len(raw)/10 {
		t.Errorf("%d orders without a site: should be a few", count["no site"])
	}
}

// Totals stay consistent: canceled lines count in neither summ nor purchaseSumm (order-53).
func TestOrderTotalsConsistent(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 13, Orders: 300})
	must(t, e.UpdateOrder(5, Change{Field: "order_product.quantity", Value: 3.5}))
	must(t, e.UpdateOrder(6, Change{Field: "delivery_cost", Value: 199.99}))
	must(t, e.MergeOrders(7, 8))
	for _, b := range e.Orders("") {
		var o struct {
			ID           int64
			Summ         float64
			TotalSumm    float64
			PurchaseSumm float64
			Delivery     struct{ Cost float64 }
			Items        []struct {
				InitialPrice, DiscountTotal, Quantity, PurchasePrice float64
				IsCanceled                                           bool
			}
		}
		must(t, json.Unmarshal(b, &o))
		var summ, purchase float64
		for _, it := range o.Items {
			if !it.IsCanceled {
				summ += (it.InitialPrice - it.DiscountTotal) * it.Quantity
				purchase += it.PurchasePrice * it.Quantity
			}
		}
		tol := 0.01 * float64(len(o.Items))
		if math.Abs(summ-o.Summ) > tol || math.Abs(purchase-o.PurchaseSumm) > tol || math.Abs(o.Summ+o.Delivery.Cost-o.TotalSumm) > 0.001 {
			t.Errorf("order %d: summ %v (items %v), purchase %v (items %v), total %v, delivery %v", o.ID, o.Summ, summ, o.PurchaseSumm, purchase, o.TotalSumm, o.Delivery.Cost)
		}
	}
}

func TestCustomFieldsOfEveryType(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 14, Orders: 500})
	m := get(t, e, DemoKey, "/api/v5/custom-fields?filter[entity]=order&limit=20&page=1").json(t)
	types := map[string]string{}
	for _, f := range m["customFields"].([]any) {
		cf := f.(map[string]any)
		if cf["entity"] != "order" {
			t.Errorf("field %v of entity %v", cf["code"], cf["entity"])
		}
		types[cf["code"].(string)] = cf["type"].(string)
	}
	want := []string{"string", "text", "integer", "numeric", "boolean", "date", "email", "dictionary", "multiselect_dictionary"}
	have := map[string]bool{}
	for _, typ := range types {
		have[typ] = true
	}
	for _, typ := range want {
		if !have[typ] {
			t.Errorf("no custom field of type %s", typ)
		}
	}
	if types[FieldSessionID] != "string" || types[FieldUserID] != "string" {
		t.Errorf("tracker fields: %v", types)
	}
	if p := m["pagination"].(map[string]any); p["totalCount"] != float64(len(types)) {
		t.Errorf("pagination %v for %d fields", p, len(types))
	}
	dicts := map[string]map[string]bool{}
	for _, d := range get(t, e, DemoKey, "/api/v5/custom-fields/dictionaries").json(t)["customDictionaries"].([]any) {
		dm := d.(map[string]any)
		codes := map[string]bool{}
		for _, el := range dm["elements"].([]any) {
			codes[el.(map[string]any)["code"].(string)] = true
		}
		dicts[dm["code"].(string)] = codes
	}
	seen := map[string]bool{}
	for _, b := range e.Orders("") {
		var o struct{ CustomFields json.RawMessage }
		must(t, json.Unmarshal(b, &o))
		var cfs map[string]any
		if o.CustomFields[0] != '{' {
			continue
		}
		must(t, json.Unmarshal(o.CustomFields, &cfs))
		for code, v := range cfs {
			seen[code] = true
			ok := false
			switch types[code] {
			case "string", "text", "email":
				_, ok = v.(string)
			case "integer":
				f, isNum := v.(float64)
				ok = isNum && f == math.Trunc(f)
			case "numeric":
				_, ok = v.(float64)
			case "boolean":
				_, ok = v.(bool)
			case "date":
				s, isStr := v.(string)
				_, err := time.Parse("2006-01-02", s)
				ok = isStr && err == nil
			case "dictionary":
				s, isStr := v.(string)
				ok = isStr && dicts["delivery_slots"][s]
			case "multiselect_dictionary":
				arr, isArr := v.([]any)
				ok = isArr && len(arr) > 0
				for _, c := range arr {
					ok = ok && dicts["gift_options"][c.(string)]
				}
			}
			if !ok {
				t.Errorf("custom field %s (%s) = %#v", code, types[code], v)
			}
		}
	}
	for code := range types {
		if !seen[code] {
			t.Errorf("no order carries custom field %s", code)
		}
	}
	one := get(t, e, DemoKey, "/api/v5/custom-fields/order/"+FieldSessionID).json(t)
	if one["customField"].(map[string]any)["code"] != FieldSessionID {
		t.Errorf("single custom field: %v", one)
	}
}

// discardWriter is a ResponseWriter that keeps nothing, for allocation counts.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// A million-order account is created without materialising orders and
// answers a deep page with work independent of the order count.
func TestMillionOrdersLazy(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := newTestEmu(t, Options{Seed: 15, Orders: 1_000_000})
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("New with 1,000,000 orders grew the heap by %d bytes", grew)
	}
	r := get(t, e, DemoKey, "/api/v5/orders?limit=100&page=5000")
	m := r.json(t)
	orders := m["orders"].([]any)
	if len(orders) != 100 || id(orders[0].(map[string]any)) != 500_100 || id(orders[99].(map[string]any)) != 500_001 {
		t.Fatalf("page 5000: %d orders from %v", len(orders), orders[0].(map[string]any)["id"])
	}
	if p := m["pagination"].(map[string]any); p["totalCount"] != 1e6 || p["totalPageCount"] != 1e4 || e.OrderCount("") != 1e6 {
		t.Errorf("pagination %v", p)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v5/orders?limit=100&page=5000", nil)
	req.Header.Set("X-API-KEY", DemoKey)
	w := &discardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(5, func() { e.ServeHTTP(w, req) })
	if allocs > 60*100 {
		t.Errorf("%v allocations for one page of 100", allocs)
	}
	// a day window is found by binary search, not a scan
	day := time.Unix(e.gen.createdAt(700_000), 0).In(e.Location()).Format("2006-01-02")
	hreq := httptest.NewRequest(http.MethodGet, "/api/v5/orders?limit=20&filter[createdAtFrom]="+day+"&filter[createdAtTo]="+day, nil)
	hreq.Header.Set("X-API-KEY", DemoKey)
	if allocs := testing.AllocsPerRun(5, func() { e.ServeHTTP(w, hreq) }); allocs > 60*20 {
		t.Errorf("%v allocations for a day window", allocs)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d bytes after serving pages", grew)
	}
}
