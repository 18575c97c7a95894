package importer_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/store"
)

// countsAccount is an account with every status group, two stores in two currencies and rich
// orders (with sources, currencies and purchase costs).
func countsAccount(seed int64, n int) crmemu.Options {
	o := spreadAccount(seed, n)
	o.OrderSize = "rich"
	o.Currencies = map[string]string{crmemu.SiteOpt: "KZT"}
	return o
}

// storedOrder is one stored order of the task by RetailCRM id (deleted ones too).
func storedOrder(t *testing.T, h *harness, crmID int64) store.OrderRow {
	t.Helper()
	var found store.OrderRow
	if err := h.st.TaskOrders(context.Background(), h.task.ID, true, func(o *store.OrderRow) error {
		if o.CRMID == crmID {
			found = *o
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// A status RetailCRM moves to another group re-evaluates the stored orders of that status at
// the next run, from the reference alone: no order is read again.
func TestStatusMovedToAnotherGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, countsAccount(31, 300), importer.Config{}, store.Task{})
	h.mustRun()
	h.verify("first run")
	groups := map[string]int{}
	if err := h.st.TaskOrders(context.Background(), h.task.ID, false, func(o *store.OrderRow) error {
		groups[o.StatusGroup]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"new", "approval", "assembling", "delivery", "complete", "cancel"} {
		if groups[g] == 0 {
			t.Errorf("no stored order in the status group %s: %v", g, groups)
		}
	}

	h.emu.ResetStats()
	if err := h.emu.MoveStatus("complete", "cancel"); err != nil {
		t.Fatal(err)
	}
	r := h.mustRun()
	if got := h.emu.Stats().ByEndpoint["/api/v5/orders"]; got != 0 {
		t.Errorf("%d order requests after a status moved to another group", got)
	}
	if r.Counts.Updated != 0 {
		t.Errorf("the run rewrote %d orders", r.Counts.Updated)
	}
	h.verify("after complete moved to cancel")
	n := 0
	if err := h.st.TaskOrders(context.Background(), h.task.ID, false, func(o *store.OrderRow) error {
		if o.Status == "complete" {
			n++
			if o.StatusGroup != "cancel" || o.Counted {
				t.Errorf("order %s: %s/%v", o.OrderID, o.StatusGroup, o.Counted)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no completed order to look at")
	}
}

// Two currencies: an order without a currency of its own takes its store's; the default profit
// of an order in the other store's currency (its purchase cost is in the base one) is left
// empty and named by a run issue.
func TestCurrenciesAndMixedProfit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, countsAccount(32, 200), importer.Config{}, store.Task{})
	r := h.mustRun()
	h.verify("first run")
	mixed := map[string]bool{}
	for _, is := range r.Issues {
		if is.Msg.Code == "profit_currency_mixed" {
			mixed[is.OrderID] = true
			if is.Field != "profit" || is.Msg.Arg("currency") != "KZT" || is.Msg.Arg("base") != "RUB" {
				t.Errorf("issue %+v", is)
			}
		}
	}
	if len(mixed) == 0 {
		t.Fatal("no order's profit mixed currencies")
	}
	seen := map[string]int{}
	if err := h.st.TaskOrders(context.Background(), h.task.ID, false, func(o *store.OrderRow) error {
		seen[o.Site+"/"+o.Currency]++
		if mixed[o.OrderID] && (o.Profit != "" || o.Currency != "KZT") {
			t.Errorf("order %s: profit %q in %s", o.OrderID, o.Profit, o.Currency)
		}
		if o.Currency == "RUB" && o.Site == crmemu.SiteMain && o.Profit == "" {
			t.Errorf("a rouble order without profit: %s", o.OrderID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen[crmemu.SiteMain+"/RUB"] == 0 || seen[crmemu.SiteOpt+"/KZT"] == 0 || seen["/RUB"] == 0 {
		t.Errorf("stores and currencies: %v", seen)
	}
}

// A task limited to one store imports only its orders; an order that moves to another store
// leaves the tracker as if deleted, and one that moves in arrives.
func TestStoreFilter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, countsAccount(33, 200), importer.Config{PageSize: 50}, store.Task{Sites: []string{crmemu.SiteMain}})
	h.mustRun()
	h.verify("first run")
	var out, in int64
	for _, raw := range h.emu.Orders("") {
		o := decodeSiteID(t, raw)
		if out == 0 && o.site == crmemu.SiteMain {
			out = o.id
		}
		if in == 0 && o.site == crmemu.SiteOpt {
			in = o.id
		}
	}
	if got := storedOrder(t, h, in); got.ID != 0 {
		t.Fatalf("an order of the other store was imported: %+v", got)
	}
	if err := h.emu.UpdateOrder(out, crmemu.Change{Field: "site", Value: crmemu.SiteOpt}); err != nil {
		t.Fatal(err)
	}
	if err := h.emu.UpdateOrder(in, crmemu.Change{Field: "site", Value: crmemu.SiteMain}); err != nil {
		t.Fatal(err)
	}
	r := h.mustRun()
	h.verify("after the moves")
	if o := storedOrder(t, h, out); !o.Deleted {
		t.Errorf("the order that left the store: %+v", o)
	}
	if o := storedOrder(t, h, in); o.ID == 0 || o.Deleted || o.Site != crmemu.SiteMain {
		t.Errorf("the order that came in: %+v", o)
	}
	if r.Counts.Deleted != 1 || r.Counts.Created != 1 {
		t.Errorf("run counts %+v", r.Counts)
	}
	// The task's stores change: its orders are read again, those of the store left go.
	h.task.Sites = []string{crmemu.SiteOpt}
	var err error
	if h.task, err = h.st.UpdateTask(context.Background(), h.task); err != nil {
		t.Fatal(err)
	}
	h.mustRun()
	h.verify("after the task switched stores")
}

// A date range: only orders created within it, also those the feed names later.
func TestDateRange(t *testing.T) {
	t.Parallel()
	opts := countsAccount(34, 300)
	now := opts.Now()
	from := now.Add(-15 * 24 * time.Hour).In(time.FixedZone("MSK", 3*3600)).Format("2006-01-02")
	to := now.Add(-5 * 24 * time.Hour).In(time.FixedZone("MSK", 3*3600)).Format("2006-01-02")
	h := newHarness(t, opts, importer.Config{PageSize: 20, WindowTarget: 40}, store.Task{BackfillFrom: from, BackfillTo: to})
	r := h.mustRun()
	h.verify("first run")
	if r.Counts.Created == 0 || int(r.Counts.Created) >= len(h.emu.Orders("")) {
		t.Errorf("created %d of %d orders", r.Counts.Created, len(h.emu.Orders("")))
	}
	inside := h.emu.CreateOrder(crmemu.OrderInput{CreatedAt: now.Add(-10 * 24 * time.Hour)})
	after := h.emu.CreateOrder(crmemu.OrderInput{})
	h.mustRun()
	h.verify("after new orders")
	if o := storedOrder(t, h, inside); o.ID == 0 {
		t.Error("an order created inside the range was not imported")
	}
	if o := storedOrder(t, h, after); o.ID != 0 {
		t.Errorf("an order created after the range was imported: %+v", o)
	}
}

// A key that may not read the reference still imports: every order counts (the default), and
// the run says once why names and groups are missing.
func TestReferenceUnreadable(t *testing.T) {
	t.Parallel()
	opts := countsAccount(35, 60)
	kc := crmemu.FullAccess()
	kc.Scopes = slices.DeleteFunc(kc.Scopes, func(s string) bool { return s == "reference_read" })
	opts.Keys = map[string]crmemu.KeyConfig{"no-ref": kc}
	h := newHarness(t, opts, importer.Config{}, store.Task{})
	r := h.mustRun()
	n := 0
	for _, is := range r.Issues {
		if is.Msg.Code == "reference_unreadable" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reference_unreadable issues: %+v", n, r.Issues)
	}
	if err := h.st.TaskOrders(context.Background(), h.task.ID, false, func(o *store.OrderRow) error {
		if !o.Counted || o.StatusGroup != "" {
			t.Errorf("order %s without a reference: %s/%v", o.OrderID, o.StatusGroup, o.Counted)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

type siteID struct {
	id   int64
	site string
}

func decodeSiteID(t *testing.T, raw []byte) siteID {
	t.Helper()
	var o struct {
		ID   int64  `json:"id"`
		Site string `json:"site"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	return siteID{o.ID, o.Site}
}
