package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"orderimport/internal/crmemu"
	"orderimport/internal/pgtest"
	"orderimport/internal/servicetest"
	"orderimport/internal/store"
)

// newEnvOn is newEnv on a database of the test's choice (zero: SQLite).
func newEnvOn(t *testing.T, emuOpts crmemu.Options, db store.Location) (*env, *servicetest.Service) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := servicetest.Start(context.Background(), servicetest.Options{Emulator: emuOpts, Jobs: servicetest.Jobs(), Log: log,
		Dir: t.TempDir(), DB: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop the service: %v", err)
		}
	})
	return &env{t: t, app: s.App, base: s.URL, token: s.Token, emu: s.Emu, crm: s.CRM, acc: s.AccountID}, s
}

type fieldsError struct {
	Error struct {
		Code   string `json:"code"`
		Field  string `json:"field"`
		Fields []struct {
			Field, Code, Message string
		} `json:"fields"`
	} `json:"error"`
}

type money struct {
	Orders  int64  `json:"orders"`
	Revenue string `json:"revenue"`
	Profit  string `json:"profit"`
}

type summaryOut struct {
	Currency string `json:"currency"`
	Days     []struct {
		Date        string           `json:"date"`
		Orders      int64            `json:"orders"`
		Revenue     string           `json:"revenue"`
		Profit      string           `json:"profit"`
		Uncounted   int64            `json:"orders_uncounted"`
		WithSession int64            `json:"with_session_id"`
		ByCurrency  map[string]money `json:"by_currency"`
	} `json:"days"`
	Total struct {
		Orders      int64 `json:"orders"`
		Uncounted   int64 `json:"orders_uncounted"`
		WithSession int64 `json:"with_session_id"`
	} `json:"total"`
	ByCurrency map[string]money `json:"by_currency"`
	Uncounted  map[string]money `json:"uncounted_by_currency"`
}

// tallyCSV sums exported rows the way a summary must: counted rows per currency, the others
// apart, exactly.
func tallyCSV(rows [][]string) (counted, uncounted map[string]money, withSession int64) {
	counted, uncounted = map[string]money{}, map[string]money{}
	add := func(m map[string]money, cur, rev, prof string) {
		v := m[cur]
		v.Orders++
		v.Revenue = addDecimal(v.Revenue, rev)
		v.Profit = addDecimal(v.Profit, prof)
		m[cur] = v
	}
	for _, r := range rows {
		if r[14] == "true" { // deleted
			continue
		}
		if r[17] == "true" {
			add(counted, r[16], r[6], r[5])
			if r[2] != "" {
				withSession++
			}
		} else {
			add(uncounted, r[16], r[6], r[5])
		}
	}
	return counted, uncounted, withSession
}

func addDecimal(a, b string) string {
	x, _ := decimal.NewFromString(a)
	y, err := decimal.NewFromString(b)
	if err != nil {
		return x.String()
	}
	return x.Add(y).String()
}

func sameMoney(a, b map[string]money) bool {
	if len(a) != len(b) {
		return false
	}
	for c, v := range a {
		w := b[c]
		vr, _ := decimal.NewFromString(v.Revenue)
		wr, _ := decimal.NewFromString(w.Revenue)
		vp, _ := decimal.NewFromString(v.Profit)
		wp, _ := decimal.NewFromString(w.Profit)
		if v.Orders != w.Orders || !vr.Equal(wr) || !vp.Equal(wp) {
			return false
		}
	}
	return true
}

// What counts, end to end on both engines: an account with every status group, two stores in
// two currencies, one task per store into its own counter sharing the account's pace.
func TestWhatCounts(t *testing.T) {
	// One engine after the other: the test holds two tasks of one account to its rate limit
	// with no 503, and the pacer's margin is 30 ms of jitter between our send and the
	// emulator's count; two services importing at once in this process, on two cores, delay
	// the emulator's handlers by more than that now and then.
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			var db store.Location
			if engine == store.Postgres {
				db = store.Location{Engine: store.Postgres, URL: pgtest.Schema(t)}
			}
			whatCounts(t, db)
		})
	}
}

func whatCounts(t *testing.T, db store.Location) {
	e, svc := newEnvOn(t, crmemu.Options{Seed: 41, Orders: 700, OrderSize: "rich", RateLimit: 10,
		Currencies: map[string]string{crmemu.SiteOpt: "KZT"}}, db)
	ctx := context.Background()
	key := map[string]any{"url": e.crm, "api_key": crmemu.DemoKey}

	// The key check lists the status groups with their statuses, and the stores with theirs.
	var check struct {
		Sites []struct {
			Code, Name, Currency string
		} `json:"sites"`
		StatusGroups []struct {
			Code     string `json:"code"`
			Counted  bool   `json:"counted_by_default"`
			Statuses []struct{ Code, Name string }
		} `json:"status_groups"`
		DefaultCurrency string `json:"default_currency"`
	}
	if st := e.do("POST", "/api/v1/retailcrm/check", key, &check); st != 200 {
		t.Fatalf("check: %d", st)
	}
	if len(check.StatusGroups) != 6 || check.StatusGroups[5].Code != "cancel" || check.StatusGroups[5].Counted ||
		!check.StatusGroups[0].Counted || len(check.StatusGroups[1].Statuses) == 0 || check.DefaultCurrency != "RUB" {
		t.Errorf("status groups of the check: %+v", check)
	}
	if len(check.Sites) != 2 || check.Sites[1].Currency != "KZT" || check.Sites[0].Name != "Демо-магазин" {
		t.Errorf("stores of the check: %+v", check.Sites)
	}

	// The estimate: the count of what the first run reads, from at most three requests.
	from := time.Now().AddDate(0, 0, -90).Format("2006-01-02")
	want := 0
	for _, raw := range e.emu.Orders("") {
		o := decodeRaw(t, raw)
		if o.Site == crmemu.SiteMain && o.CreatedAt[:10] >= from {
			want++
		}
	}
	e.emu.ResetStats()
	var est struct {
		Orders, Requests, Seconds int64
		Text                      string
	}
	if st := e.do("POST", "/api/v1/imports/estimate", map[string]any{"retailcrm": key, "backfill_from": from,
		"sites": []string{crmemu.SiteMain}}, &est); st != 200 {
		t.Fatalf("estimate: %d", st)
	}
	if est.Orders != int64(want) || est.Requests < est.Orders/100 || est.Seconds < est.Requests/10 || est.Text == "" {
		t.Errorf("estimate %+v, %d orders of the store from %s", est, want, from)
	}
	if n := e.emu.Stats().Requests; n > 3 {
		t.Errorf("the estimate made %d requests", n)
	}
	var refused, checked fieldsError
	e.do("POST", "/api/v1/imports/estimate", map[string]any{"retailcrm": map[string]any{"url": e.crm, "api_key": "not-the-key"}}, &refused)
	e.do("POST", "/api/v1/retailcrm/check", map[string]any{"url": e.crm, "api_key": "not-the-key"}, &checked)
	if refused.Error.Code == "" || refused.Error.Code != checked.Error.Code {
		t.Errorf("a refused key: estimate %+v, check %+v", refused.Error, checked.Error)
	}

	// Bad input is named code by code.
	a := e.counter()
	var bad fieldsError
	if st := e.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", a), map[string]any{"name": "x", "retailcrm": key,
		"counting": map[string]any{"status_groups": []string{"complete", "paid"}, "exclude_statuses": []string{"nope"}},
		"sites":    []string{crmemu.SiteMain, "nowhere"}}, &bad); st != 422 {
		t.Fatalf("unknown codes: %d", st)
	}
	got := map[string]string{}
	for _, f := range bad.Error.Fields {
		got[f.Field] = f.Code + " " + f.Message
	}
	for field, code := range map[string]string{"counting.status_groups": "status_group_unknown paid", "counting.exclude_statuses": "status_unknown nope",
		"sites": "site_unknown nowhere"} {
		parts := strings.Fields(code)
		if !strings.HasPrefix(got[field], parts[0]) || !strings.Contains(got[field], parts[1]) {
			t.Errorf("%s: %q, want %s naming %s", field, got[field], parts[0], parts[1])
		}
	}
	bad = fieldsError{}
	if st := e.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", a), map[string]any{"name": "x", "retailcrm": key,
		"backfill_from": "2026-02-01", "backfill_to": "2026-01-31"}, &bad); st != 422 || bad.Error.Field != "backfill_to" ||
		bad.Error.Code != "backfill_to_before_from" {
		t.Errorf("a range ending before it starts: %d %+v", st, bad.Error)
	}

	// One task per store, each into its own counter; they share the account's pace.
	b := e.counter()
	mapping := map[string]any{"session_id": "customFields." + crmemu.FieldSessionID}
	ta := e.createTask(a, map[string]any{"name": "Демо", "retailcrm": key, "sites": []string{crmemu.SiteMain}, "mapping": mapping})
	tb := e.createTask(b, map[string]any{"name": "Опт", "retailcrm": key, "sites": []string{crmemu.SiteOpt}})
	for _, id := range []int64{ta.ID, tb.ID} {
		if r, err := svc.WaitRuns(ctx, id, time.Minute); err != nil || (r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings) {
			t.Fatalf("first run of task %d: %+v %v", id, r, err)
		}
	}
	if st := e.emu.Stats(); st.RateLimited != 0 {
		t.Errorf("two tasks of one account went past its rate limit: %d answered 503", st.RateLimited)
	}
	taskA := store.Task{Sites: []string{crmemu.SiteMain}, Mapping: map[string]string{"session_id": "customFields." + crmemu.FieldSessionID}}
	taskB := store.Task{Sites: []string{crmemu.SiteOpt}}
	assertRows(t, "store A", e.csv(a, "")[1:], e.expectedTask(t, taskA, "Europe/Moscow"))
	assertRows(t, "store B", e.csv(b, "")[1:], e.expectedTask(t, taskB, "Europe/Moscow"))
	rowsA := e.csv(a, "")[1:]
	seen := map[string]bool{}
	for _, r := range rowsA {
		seen[r[15]] = true
		if r[16] != "RUB" {
			t.Fatalf("an order of store A in %s", r[16])
		}
	}
	for _, g := range []string{"new", "approval", "assembling", "delivery", "complete", "cancel"} {
		if !seen[g] {
			t.Errorf("no order of store A in the group %s", g)
		}
	}
	for _, r := range e.csv(b, "")[1:] {
		if r[16] != "KZT" {
			t.Fatalf("an order of store B in %s", r[16])
		}
	}

	// A date range: only the orders created within it, in the account's zone.
	rangeFrom := time.Now().AddDate(0, 0, -60).Format("2006-01-02")
	rangeTo := time.Now().AddDate(0, 0, -20).Format("2006-01-02")
	rc := e.counter()
	tr := e.createTask(rc, map[string]any{"name": "Весна", "retailcrm": key, "backfill_from": rangeFrom, "backfill_to": rangeTo})
	if r, err := svc.WaitRuns(ctx, tr.ID, time.Minute); err != nil || (r.Status != store.RunSucceeded && r.Status != store.RunSucceededWithWarnings) {
		t.Fatalf("the range task's run: %+v %v", r, err)
	}
	ranged := e.csv(rc, "")[1:]
	if len(ranged) == 0 || len(ranged) >= len(e.emu.Orders("")) {
		t.Errorf("the range task stored %d of %d orders", len(ranged), len(e.emu.Orders("")))
	}
	assertRows(t, "a date range", ranged, e.expectedTask(t, store.Task{BackfillFrom: rangeFrom, BackfillTo: rangeTo}, "Europe/Moscow"))

	// Names come with the codes.
	var page struct {
		Orders []struct {
			OrderID         string `json:"order_id"`
			OrderNumber     string `json:"order_number"`
			Status          string `json:"status"`
			StatusName      string `json:"status_name"`
			StatusGroup     string `json:"status_group"`
			StatusGroupName string `json:"status_group_name"`
			SiteName        string `json:"site_name"`
			ContactPhone    string `json:"contact_phone"`
			ContactEmail    string `json:"contact_email"`
			Counted         bool   `json:"counted"`
		} `json:"orders"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders?limit=1000", a), nil, &page)
	for _, o := range page.Orders {
		if o.StatusName == "" || o.StatusGroupName == "" || o.SiteName != "Демо-магазин" {
			t.Fatalf("an order without names: %+v", o)
		}
	}

	// Summaries: exact, per currency, counted orders only, the others apart.
	checkSummary := func(when string, counter int64) {
		t.Helper()
		rows := e.csv(counter, "")[1:]
		counted, uncounted, withSession := tallyCSV(rows)
		var s summaryOut
		if st := e.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders/summary", counter), nil, &s); st != 200 {
			t.Fatalf("%s: summary %d", when, st)
		}
		if !sameMoney(s.ByCurrency, counted) || !sameMoney(s.Uncounted, uncounted) || s.Total.WithSession != withSession {
			t.Errorf("%s: summary %+v %+v (%d with a session id), the export sums to %+v %+v (%d)", when, s.ByCurrency, s.Uncounted,
				s.Total.WithSession, counted, uncounted, withSession)
		}
		var days, dayUncounted int64
		for _, d := range s.Days {
			days += d.Orders
			dayUncounted += d.Uncounted
		}
		if days != s.Total.Orders || dayUncounted != s.Total.Uncounted {
			t.Errorf("%s: the days add up to %d and %d, the total is %+v", when, days, dayUncounted, s.Total)
		}
		var only []string
		for _, r := range e.csv(counter, "&counted=true")[1:] {
			only = append(only, r[17])
		}
		if int64(len(only)) != s.Total.Orders || slices.Contains(only, "false") {
			t.Errorf("%s: counted=true exported %d orders (%v), the summary counts %d", when, len(only), slices.Compact(slices.Sorted(slices.Values(only))), s.Total.Orders)
		}
	}
	checkSummary("store A", a)
	checkSummary("store B", b)

	// The breakdown by traffic source adds up to the counted orders.
	var src struct {
		Currency string `json:"currency"`
		Orders   int64  `json:"orders"`
		Groups   []struct {
			Key     string `json:"key"`
			Orders  int64  `json:"orders"`
			Revenue string `json:"revenue"`
		} `json:"groups"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders/summary?group_by=utm_source", a), nil, &src)
	bySource := map[string]money{}
	for _, r := range rowsA {
		if r[17] == "true" && r[14] == "false" {
			v := bySource[r[18]]
			v.Orders++
			v.Revenue = addDecimal(v.Revenue, r[6])
			bySource[r[18]] = v
		}
	}
	if len(src.Groups) != len(bySource) || bySource[""].Orders == 0 {
		t.Errorf("sources: %+v, the export has %v", src.Groups, bySource)
	}
	for i, g := range src.Groups {
		w, _ := decimal.NewFromString(bySource[g.Key].Revenue)
		r, _ := decimal.NewFromString(g.Revenue)
		if g.Orders != bySource[g.Key].Orders || !w.Equal(r) {
			t.Errorf("source %q: %+v, the export has %+v", g.Key, g, bySource[g.Key])
		}
		if i > 0 {
			prev, _ := decimal.NewFromString(src.Groups[i-1].Revenue)
			if prev.LessThan(r) {
				t.Errorf("sources not sorted by revenue: %+v", src.Groups)
			}
		}
	}

	// Another counting: re-evaluated at once, without a request to RetailCRM.
	e.emu.ResetStats()
	var patched struct {
		Counting struct {
			StatusGroups []string `json:"status_groups"`
		} `json:"counting"`
		Names struct {
			StatusGroups map[string]string `json:"status_groups"`
		} `json:"names"`
	}
	if st := e.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", ta.ID), map[string]any{"counting": map[string]any{"status_groups": []string{"complete"},
		"exclude_statuses": []string{"3"}}}, &patched); st != 200 {
		t.Fatalf("patch counting: %d", st)
	}
	if n := e.emu.Stats().Requests; n != 0 {
		t.Errorf("a change of counting made %d requests to RetailCRM", n)
	}
	if !slices.Equal(patched.Counting.StatusGroups, []string{"complete"}) || patched.Names.StatusGroups["complete"] != "Выполнен" {
		t.Errorf("the task after the change: %+v", patched)
	}
	taskA.Counting = &store.Counting{StatusGroups: []string{"complete"}, ExcludeStatuses: []string{"3"}}
	assertRows(t, "after the counting changed", e.csv(a, "")[1:], e.expectedTask(t, taskA, "Europe/Moscow"))
	checkSummary("after the counting changed", a)

	// RetailCRM moves a status to another group: the next run re-evaluates without reading orders.
	if err := e.emu.MoveStatus("delivered", "complete"); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetStats()
	if r := e.runNow(ta.ID); !succeeded(r) || r.Updated != 0 {
		t.Fatalf("run after the move: %+v", r)
	}
	if n := e.emu.Stats().ByEndpoint["/api/v5/orders"]; n != 0 {
		t.Errorf("%d order requests after a status moved to another group", n)
	}
	assertRows(t, "after delivered moved to complete", e.csv(a, "")[1:], e.expectedTask(t, taskA, "Europe/Moscow"))
	checkSummary("after delivered moved to complete", a)

	// An order moves from store A to store B: it leaves counter A as if deleted, and arrives in B.
	var moved int64
	for _, raw := range e.emu.Orders("") {
		if o := decodeRaw(t, raw); o.Site == crmemu.SiteMain {
			moved = o.ID
			break
		}
	}
	if err := e.emu.UpdateOrder(moved, crmemu.Change{Field: "site", Value: crmemu.SiteOpt}); err != nil {
		t.Fatal(err)
	}
	e.runNow(ta.ID)
	e.runNow(tb.ID)
	assertRows(t, "store A after the move", e.csv(a, "")[1:], e.expectedTask(t, taskA, "Europe/Moscow"))
	assertRows(t, "store B after the move", e.csv(b, "")[1:], e.expectedTask(t, taskB, "Europe/Moscow"))
	id := strconv.FormatInt(moved, 10)
	gone := false
	for _, r := range e.csv(a, "&include_deleted=true")[1:] {
		gone = gone || (r[0] == id && r[14] == "true")
	}
	if !gone {
		t.Errorf("order %s is not flagged deleted in counter A", id)
	}

	// The search: by number in any case, by internal id, by phone in any common form, by email
	// in any case.
	e.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders?limit=1000", a), nil, &page)
	var probe = page.Orders[0]
	for _, o := range page.Orders {
		if o.ContactPhone != "" && o.ContactEmail != "" && strings.HasPrefix(o.ContactPhone, "79") {
			probe = o
			break
		}
	}
	p := probe.ContactPhone
	for _, q := range []string{strings.ToLower(probe.OrderNumber), probe.OrderID, "+7 (" + p[1:4] + ") " + p[4:7] + "-" + p[7:9] + "-" + p[9:],
		"8 " + p[1:4] + " " + p[4:7] + " " + p[7:9] + " " + p[9:], p[1:], strings.ToUpper(probe.ContactEmail)} {
		var found struct {
			Orders []struct {
				OrderID string `json:"order_id"`
			} `json:"orders"`
		}
		e.do("GET", fmt.Sprintf("/api/v1/counters/%d/orders?q=%s", a, url.QueryEscape(q)), nil, &found)
		if !slices.ContainsFunc(found.Orders, func(o struct {
			OrderID string `json:"order_id"`
		}) bool {
			return o.OrderID == probe.OrderID
		}) {
			t.Errorf("q=%q did not find order %s (%+v)", q, probe.OrderID, found.Orders)
		}
	}
}

type rawOrder struct {
	ID        int64  `json:"id"`
	Site      string `json:"site"`
	CreatedAt string `json:"createdAt"`
}

func decodeRaw(t *testing.T, raw []byte) rawOrder {
	t.Helper()
	var o rawOrder
	if err := jsonUnmarshal(string(raw), &o); err != nil {
		t.Fatal(err)
	}
	return o
}
