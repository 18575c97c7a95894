package retailcrm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/retailcrm"
)

// Client against the RetailCRM emulator (internal/crmemu): the same behaviour the unit tests
// check against hand-written handlers, now against the team's faithful emulator.

const emuKey = "emu-key-7Hq2vB9xKc4LmN0p"

// emuSetup serves an emulator and returns it with a client for it. Every request the emulator
// sees is checked for the key in its URL.
func emuSetup(t *testing.T, opts crmemu.Options, mods ...func(*retailcrm.Config)) (*crmemu.Emulator, *retailcrm.Client) {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = map[string]crmemu.KeyConfig{emuKey: crmemu.FullAccess()}
	}
	emu := crmemu.New(opts)
	var mu sync.Mutex
	var leaks []string
	emu.OnRequest(func(r *http.Request) {
		raw, _ := url.QueryUnescape(r.URL.String())
		key := r.Header.Get("X-API-KEY")
		if key == "" || strings.Contains(raw, key) || strings.Contains(raw, emuKey) || r.URL.Query().Has("apiKey") {
			mu.Lock()
			leaks = append(leaks, r.URL.String())
			mu.Unlock()
		}
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range leaks {
			t.Errorf("request with the key in its URL or not in X-API-KEY: %s", l)
		}
	})
	cfg := retailcrm.Config{URL: srv.URL, APIKey: emuKey, RateLimit: 1000, Limiters: retailcrm.NewLimiters(),
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := retailcrm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func TestEmulatorAccountAndReference(t *testing.T) {
	t.Parallel()
	_, c := emuSetup(t, crmemu.Options{Seed: 1, Orders: 10, Timezone: "Asia/Novosibirsk"})
	ctx := context.Background()
	cr, err := c.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cr.Can("order_read") || cr.Require("order_read", "reference_read", "custom_fields_read") != nil || cr.SiteAccess != "access_full" {
		t.Errorf("credentials = %+v", cr)
	}
	if s, err := c.Settings(ctx); err != nil || s.Timezone != "Asia/Novosibirsk" {
		t.Errorf("settings %+v, %v", s, err)
	}
	sites, err := c.Sites(ctx)
	if err != nil || len(sites) != 2 {
		t.Fatalf("sites %+v, %v", sites, err)
	}
	for _, s := range sites {
		if s.Code == "" || s.Name == "" || s.Currency == "" {
			t.Errorf("site %+v", s)
		}
	}
	statuses, err := c.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := c.StatusGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inGroup := map[string]string{}
	for _, g := range groups {
		for _, s := range g.Statuses {
			inGroup[s] = g.Code
		}
	}
	for _, s := range statuses {
		if s.Group == "" || inGroup[s.Code] != s.Group {
			t.Errorf("status %s in group %q, groups say %q", s.Code, s.Group, inGroup[s.Code])
		}
	}
	fields, err := c.CustomFields(ctx, "order")
	if err != nil || len(fields) == 0 {
		t.Fatalf("custom fields %+v, %v", fields, err)
	}
	types := map[string]bool{}
	for _, f := range fields {
		types[f.Type] = true
		if f.Entity != "order" {
			t.Errorf("field %s of entity %q", f.Code, f.Entity)
		}
	}
	for _, want := range []string{"string", "integer", "boolean", "date", "dictionary", "multiselect_dictionary"} {
		if !types[want] {
			t.Errorf("no custom field of type %s among %v", want, types)
		}
	}
}

func TestEmulatorOrdersWalkToTheEnd(t *testing.T) {
	t.Parallel()
	emu, c := emuSetup(t, crmemu.Options{Seed: 2, Orders: 345})
	ctx := context.Background()
	seen := map[int64]bool{}
	pages := 0
	err := c.EachOrdersPage(ctx, retailcrm.OrdersFilter{}, 100, func(p *retailcrm.OrdersPage) error {
		pages++
		for _, o := range p.Orders {
			if seen[o.ID] {
				t.Errorf("order %d twice", o.ID)
			}
			seen[o.ID] = true
			if o.Number == "" || o.Status == "" || o.CreatedAt == "" || !json.Valid(o.Raw) {
				t.Errorf("order %+v", o)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 4 || len(seen) != emu.OrderCount(emuKey) || len(seen) != 345 {
		t.Errorf("%d pages, %d orders; emulator has %d", pages, len(seen), emu.OrderCount(emuKey))
	}
	if n := emu.Stats().ByEndpoint["/api/v5/orders"]; n != 4 {
		t.Errorf("emulator counted %d list calls, want 4", n)
	}

	// The same orders by id, in calls of ≤ 100, plus ids that do not exist.
	ids := emu.OrderIDs(emuKey)
	got, err := c.OrdersByIDs(ctx, append(ids, 999_999, 1_000_000), nil)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("OrdersByIDs: %d orders, %v; want %d", len(got), err, len(ids))
	}
}

func TestEmulatorHistoryWalkWithCursor(t *testing.T) {
	t.Parallel()
	emu, c := emuSetup(t, crmemu.Options{Seed: 3, Orders: 130})
	ctx := context.Background()
	var cursor int64
	created := 0
	err := walkHistory(ctx, c, 0, 50, func(p *retailcrm.HistoryPage) error {
		for _, e := range p.History {
			if e.ID <= cursor {
				t.Fatalf("entry %d after %d", e.ID, cursor)
			}
			cursor = e.ID
			if e.Created {
				created++
				if e.Order == nil || e.Order.Number == "" || !strings.Contains(string(e.Order.Raw), `"items"`) {
					t.Errorf("creation entry %d without a full order", e.ID)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cursor != emu.HistoryLastID() || created == 0 {
		t.Fatalf("walked to %d (%d creations), feed ends at %d", cursor, created, emu.HistoryLastID())
	}

	ids := emu.OrderIDs(emuKey)
	if err := emu.UpdateOrder(ids[0], crmemu.Change{Field: "status", Value: "complete"}); err != nil {
		t.Fatal(err)
	}
	if err := emu.DeleteOrder(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := emu.MergeOrders(ids[2], ids[3]); err != nil {
		t.Fatal(err)
	}
	newID := emu.CreateOrder(crmemu.OrderInput{})

	var status, deleted, merged, createdNew bool
	err = walkHistory(ctx, c, cursor, 20, func(p *retailcrm.HistoryPage) error {
		for _, e := range p.History {
			switch {
			case e.Order.ID == ids[0] && e.Field == "status" && string(e.NewValue) == `{"code":"complete"}`:
				status = true
			case e.Order.ID == ids[1] && e.Deleted:
				deleted = true
			case e.Order.ID == ids[2] && e.Deleted && e.CombinedTo != nil && e.CombinedTo.ID == ids[3]:
				merged = true
			case e.Order.ID == newID && e.Created:
				createdNew = true
			}
			cursor = e.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !status || !deleted || !merged || !createdNew || cursor != emu.HistoryLastID() {
		t.Errorf("status %v deleted %v merged %v created %v; cursor %d of %d", status, deleted, merged, createdNew, cursor, emu.HistoryLastID())
	}
	got, err := c.OrdersByIDs(ctx, []int64{ids[0], ids[1], ids[2], ids[3], newID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var present []int64
	for _, o := range got {
		present = append(present, o.ID)
		if o.ID == ids[0] && o.Status != "complete" {
			t.Errorf("updated order status %q", o.Status)
		}
	}
	slices.Sort(present)
	want := []int64{ids[0], ids[3], newID}
	slices.Sort(want)
	if !slices.Equal(present, want) {
		t.Errorf("orders after delete and merge %v, want %v", present, want)
	}
}

// walkHistory reads the change feed after entry sinceID to its end as the importer does:
// sinceId moves to the last entry of every page, no page parameter (RetailCRM refuses it
// with sinceId).
func walkHistory(ctx context.Context, c *retailcrm.Client, sinceID int64, limit int, fn func(*retailcrm.HistoryPage) error) error {
	for {
		p, err := c.History(ctx, retailcrm.HistoryFilter{SinceID: sinceID}, limit)
		if err != nil || len(p.History) == 0 {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		last := p.History[len(p.History)-1].ID
		if last <= sinceID {
			return fmt.Errorf("the feed did not move past entry %d", sinceID)
		}
		if p.Pagination.TotalPageCount <= 1 {
			return nil
		}
		sinceID = last
	}
}

func TestEmulatorErrorKinds(t *testing.T) {
	t.Parallel()
	keys := map[string]crmemu.KeyConfig{
		emuKey:         crmemu.FullAccess(),
		"no-order-key": {Scopes: []string{"reference_read"}, SiteAccess: crmemu.AccessFull},
	}
	_, c := emuSetup(t, crmemu.Options{Seed: 4, Orders: 5, Keys: keys})
	ctx := context.Background()
	if _, err := c.Orders(ctx, retailcrm.OrdersFilter{}, 1, 20); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		call func(*retailcrm.Client) error
		kind retailcrm.ErrorKind
	}{
		{"wrong-key", func(c *retailcrm.Client) error { _, err := c.Credentials(ctx); return err }, retailcrm.KindInvalidKey},
		{"no-order-key", func(c *retailcrm.Client) error { _, err := c.Orders(ctx, retailcrm.OrdersFilter{}, 1, 20); return err }, retailcrm.KindAccessDenied},
	} {
		other, err := retailcrm.New(retailcrm.Config{URL: c.BaseURL(), APIKey: tc.key, Limiters: retailcrm.NewLimiters()})
		if err != nil {
			t.Fatal(err)
		}
		err = tc.call(other)
		if !retailcrm.IsKind(err, tc.kind) || !tc.kind.Permanent() || other.Requests() != 1 {
			t.Errorf("key %s: err = %v after %d requests, want %s once", tc.key, err, other.Requests(), tc.kind)
		}
	}
	noScope, err := retailcrm.New(retailcrm.Config{URL: c.BaseURL(), APIKey: "no-order-key", Limiters: retailcrm.NewLimiters()})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := noScope.Credentials(ctx)
	if err != nil || !retailcrm.IsKind(cr.Require("order_read"), retailcrm.KindAccessDenied) {
		t.Errorf("credentials of a key without order_read: %+v, %v", cr, err)
	}
}

// TestEmulatorRetriesRecoverFromFaults injects each fault twice before an order page and expects
// the page anyway. Each fault gets its own emulator and client (the rate-limit faults slow their
// account down), and they run at once: the retries mostly wait.
func TestEmulatorRetriesRecoverFromFaults(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for _, f := range []crmemu.Fault{crmemu.Fault503, crmemu.Fault503JSON, crmemu.Fault429, crmemu.Fault500,
		crmemu.FaultHTMLError, crmemu.FaultTruncated, crmemu.FaultReset, crmemu.FaultSlow, crmemu.FaultGarbage} {
		emu, c := emuSetup(t, crmemu.Options{Seed: 5, Orders: 30, Faults: crmemu.FaultConfig{Slow: 3 * time.Second}},
			func(cfg *retailcrm.Config) { cfg.RequestTimeout = 300 * time.Millisecond })
		emu.InjectFault(f, 2, "/api/v5/orders")
		wg.Go(func() {
			p, err := c.Orders(context.Background(), retailcrm.OrdersFilter{}, 1, 20)
			if err != nil || len(p.Orders) != 20 {
				t.Errorf("fault %s: %v", f, err)
				return
			}
			if st := emu.Stats(); st.FaultsByKind[f] != 2 || c.Requests() < 2 {
				t.Errorf("fault %s: emulator served %d faults, client sent %d requests", f, st.FaultsByKind[f], c.Requests())
			}
		})
	}
	wg.Wait()
}

// TestEmulatorPacing is the acceptance test for the limiter: 50 pages against a 10 rps emulator
// provoke no 503 and reach ≥ 95% of the allowed pace; against an emulator limited to 5 rps
// while the client is configured for 10, the client converges after at most two 503s. Both run
// at once.
func TestEmulatorPacing(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for _, real := range []int{10, 5} {
		emu, c := emuSetup(t, crmemu.Options{Seed: 6, Orders: 1000, OrderSize: "small", RateLimit: real},
			func(cfg *retailcrm.Config) {
				cfg.RateLimit = 10
				cfg.RetryBaseDelay, cfg.RetryMaxDelay = 0, 0 // production backoff
			})
		var mu sync.Mutex
		var arrivals []time.Time
		emu.OnRequest(func(*http.Request) {
			mu.Lock()
			arrivals = append(arrivals, time.Now())
			mu.Unlock()
		})
		wg.Go(func() {
			pages := 0
			err := c.EachOrdersPage(context.Background(), retailcrm.OrdersFilter{}, 20, func(*retailcrm.OrdersPage) error {
				pages++
				return nil
			})
			if err != nil || pages != 50 {
				t.Errorf("limit %d: walked %d pages: %v", real, pages, err)
				return
			}
			st := emu.Stats()
			mu.Lock()
			defer mu.Unlock()
			switch real {
			case 10:
				pace := float64(len(arrivals)-1) / arrivals[len(arrivals)-1].Sub(arrivals[0]).Seconds()
				if st.RateLimited != 0 || st.MaxInWindow[emuKey] > 10 || pace < 9.5 {
					t.Errorf("limit 10: %d 503s, %d requests in one second, pace %.2f/s", st.RateLimited, st.MaxInWindow[emuKey], pace)
				}
				t.Logf("limit 10: pace %.2f requests/s, busiest second %d", pace, st.MaxInWindow[emuKey])
			case 5:
				if st.RateLimited > 2 {
					t.Errorf("limit 5: %d 503s, want at most 2", st.RateLimited)
				}
				tail := arrivals[len(arrivals)-30:]
				pace := float64(len(tail)-1) / tail[len(tail)-1].Sub(tail[0]).Seconds()
				t.Logf("limit 5: %d 503s, converged pace %.2f requests/s", st.RateLimited, pace)
			}
		})
	}
	wg.Wait()
}
