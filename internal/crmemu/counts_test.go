package crmemu

import (
	"fmt"
	"testing"
)

// An account with two currencies: each store has its own, orders carry their store's (when they
// carry one at all), the settings name the account's default.
func TestCurrenciesPerStore(t *testing.T) {
	e := newTestEmu(t, Options{Seed: 3, Orders: 300, Currencies: map[string]string{SiteOpt: "KZT"}})
	sites := get(t, e, DemoKey, "/api/v5/reference/sites").json(t)["sites"].(map[string]any)
	if c := sites[SiteMain].(map[string]any)["currency"]; c != "RUB" {
		t.Errorf("%s: currency %v", SiteMain, c)
	}
	if c := sites[SiteOpt].(map[string]any)["currency"]; c != "KZT" {
		t.Errorf("%s: currency %v", SiteOpt, c)
	}
	settings := get(t, e, DemoKey, "/api/v5/settings").json(t)["settings"].(map[string]any)
	if c := settings["default_currency"].(map[string]any)["value"]; c != "RUB" {
		t.Errorf("default currency %v", c)
	}
	seen := map[string]int{}
	for page := 1; page <= 3; page++ {
		body := get(t, e, DemoKey, fmt.Sprintf("/api/v5/orders?limit=100&page=%d", page)).json(t)
		for _, o := range body["orders"].([]any) {
			o := o.(map[string]any)
			cur, has := o["currency"]
			if !has {
				seen["none"]++
				continue
			}
			site, _ := o["site"].(string)
			if want := e.Currency(site); cur != want {
				t.Errorf("order %v of %q in %v, want %s", o["id"], site, cur, want)
			}
			seen[cur.(string)]++
		}
	}
	if seen["RUB"] == 0 || seen["KZT"] == 0 || seen["none"] == 0 {
		t.Errorf("currencies seen: %v", seen)
	}
	id := e.CreateOrder(OrderInput{Site: SiteOpt})
	if o := get(t, e, DemoKey, fmt.Sprintf("/api/v5/orders/%d?by=id", id)).json(t)["order"].(map[string]any); o["currency"] != nil && o["currency"] != "KZT" {
		t.Errorf("a new order of %s in %v", SiteOpt, o["currency"])
	}
	id = e.CreateOrder(OrderInput{Site: SiteMain, Currency: "USD"})
	if o := get(t, e, DemoKey, fmt.Sprintf("/api/v5/orders/%d?by=id", id)).json(t)["order"].(map[string]any); o["currency"] != "USD" {
		t.Errorf("an order created in USD is in %v", o["currency"])
	}
}

// A status moved to another group (or renamed) shows in the reference at once and writes no
// order history: RetailCRM records it as a change of its settings, not of orders.
func TestMoveAndRenameStatus(t *testing.T) {
	e := newTestEmu(t, Options{Seed: 1, Orders: 50})
	before := e.HistoryLastID()
	if err := e.MoveStatus("delivered", "complete"); err != nil {
		t.Fatal(err)
	}
	if err := e.RenameStatus("no-call", "Не дозвонились"); err != nil {
		t.Fatal(err)
	}
	if err := e.MoveStatus("delivered", "no-such-group"); err == nil {
		t.Error("a status moved to a group that does not exist")
	}
	if err := e.RenameStatus("no-such-status", "x"); err == nil {
		t.Error("a status that does not exist was renamed")
	}
	st := get(t, e, DemoKey, "/api/v5/reference/statuses").json(t)["statuses"].(map[string]any)
	if g := st["delivered"].(map[string]any)["group"]; g != "complete" {
		t.Errorf("delivered is in %v", g)
	}
	if n := st["no-call"].(map[string]any)["name"]; n != "Не дозвонились" {
		t.Errorf("no-call is named %v", n)
	}
	groups := get(t, e, DemoKey, "/api/v5/reference/status-groups").json(t)["statusGroups"].(map[string]any)
	inComplete := groups["complete"].(map[string]any)["statuses"].([]any)
	inDelivery := groups["delivery"].(map[string]any)["statuses"].([]any)
	if !containsAny(inComplete, "delivered") || containsAny(inDelivery, "delivered") {
		t.Errorf("groups after the move: complete %v, delivery %v", inComplete, inDelivery)
	}
	if e.HistoryLastID() != before {
		t.Errorf("the reference change wrote order history (%d → %d)", before, e.HistoryLastID())
	}
	if e.StatusGroupOf("delivered") != "complete" {
		t.Errorf("StatusGroupOf(delivered) = %q", e.StatusGroupOf("delivered"))
	}
}

// An order moved to another store gets the history entry RetailCRM writes: field "site", old
// and new store codes, and the order stub naming its new store.
func TestOrderMovesStore(t *testing.T) {
	e := newTestEmu(t, Options{Seed: 1, Orders: 0})
	id := e.CreateOrder(OrderInput{Site: SiteMain})
	last := e.HistoryLastID()
	if err := e.UpdateOrder(id, Change{Field: "site", Value: SiteOpt}); err != nil {
		t.Fatal(err)
	}
	h := get(t, e, DemoKey, fmt.Sprintf("/api/v5/orders/history?filter[sinceId]=%d&limit=100", last)).json(t)["history"].([]any)
	if len(h) != 1 {
		t.Fatalf("%d history entries", len(h))
	}
	entry := h[0].(map[string]any)
	if entry["field"] != "site" || entry["oldValue"].(map[string]any)["code"] != SiteMain || entry["newValue"].(map[string]any)["code"] != SiteOpt ||
		entry["order"].(map[string]any)["site"] != SiteOpt {
		t.Errorf("history entry %v", entry)
	}
	// A key of the old store no longer reads it.
	e.SetKey("main-only", KeyConfig{Scopes: DefaultScopes, SiteAccess: AccessSelective, Sites: []string{SiteMain}})
	if n := len(get(t, e, "main-only", fmt.Sprintf("/api/v5/orders?filter[ids][]=%d", id)).json(t)["orders"].([]any)); n != 0 {
		t.Errorf("the old store's key reads the moved order (%d)", n)
	}
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
