package crmemu

import (
	"slices"
	"testing"
)

func init() {
	// reference answers are objects keyed by code, like payments by id
	for _, k := range []string{"sites", "statuses", "statusGroups"} {
		mapKeys[k] = true
	}
}

// Every endpoint's answer has the envelope of the recorded payload: the same
// top-level keys with the same JSON types, nested objects within the union of
// the fixture's shapes.
func TestEndpointShapesMatchFixtures(t *testing.T) {
	t.Parallel()
	e := newTestEmu(t, Options{Seed: 1, Orders: 50})
	e.CreateOrder(OrderInput{})
	if err := e.UpdateOrder(3, Change{Field: "status", Value: "complete"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, fixture string
		extra         []string // documented keys the fixture happens not to show
	}{
		{"/api/api-versions", "api-versions.php-sdk.testApiVersions.json", nil},
		{"/api/credentials", "credentials.php-sdk.testCredentials.json", []string{"sitesAvailable"}},
		{"/api/system-info", "system-info.php-sdk.testSystemInfo.json", nil},
		{"/api/v5/settings", "settings.php-sdk.testGet.json", nil},
		{"/api/v5/reference/sites", "reference-sites.php-sdk.testSites.json", nil},
		{"/api/v5/reference/statuses", "reference-statuses.php-sdk.testStatuses.json", nil},
		{"/api/v5/reference/status-groups", "reference-status-groups.php-sdk.testStatusGroups.json", nil},
		{"/api/v5/custom-fields?filter[entity]=order", "custom-fields-list.php-sdk.testList.json", nil},
		{"/api/v5/custom-fields/dictionaries", "custom-dictionaries-list.php-sdk.testDictionaries.json", nil},
		{"/api/v5/orders?filter[ids][]=7", "orders-list.php-sdk.testList.json", nil},
		{"/api/v5/orders/7?by=id", "order-get.php-sdk.testGet.json", nil},
		{"/api/v5/orders/history?filter[sinceId]=45&limit=20", "orders-history.php-sdk.testHistory.json", []string{"deleted", "combinedTo"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			r := get(t, e, DemoKey, c.path)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, truncate(r.body))
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			ours, fix := r.json(t), fixture(t, c.fixture)
			for _, k := range keysOf(fix) {
				if _, ok := ours[k]; !ok {
					t.Errorf("top-level key %q of the fixture is missing", k)
				}
			}
			s := newSchema()
			s.learn(fix, false)
			// orders inside an envelope are held to the union of all fixture orders
			for _, o := range fixtureOrders(t) {
				if f := s.fields["orders"]; f != nil {
					f.elem.learn(o, false)
				}
				if f := s.fields["order"]; f != nil {
					f.learn(o, false)
				}
				if f := s.fields["history"]; f != nil {
					f.elem.fields["order"].learn(o, false)
				}
			}
			allowed := map[string]bool{}
			for k := range documentedExtras {
				allowed[k] = true
			}
			for _, k := range c.extra {
				allowed[k] = true
			}
			var errs []string
			s.check(ours, "$", allowed, &errs)
			for _, err := range errs {
				t.Error(err)
			}
			for _, k := range keysOf(ours) {
				if _, ok := fix[k]; !ok && !allowed[k] {
					t.Errorf("top-level key %q not in the fixture", k)
				}
			}
		})
	}
}

// fixtureOrders are every full order in the fixtures: the two demo orders,
// the list and get payloads and the creation entries of the history.
func fixtureOrders(t *testing.T) []map[string]any {
	all := []map[string]any{
		fixture(t, "order-object.demo-account.order-53.json"),
		fixture(t, "order-object.demo-account.order-73.json"),
		fixture(t, "order-get.php-sdk.testGet.json")["order"].(map[string]any),
	}
	for _, o := range fixture(t, "orders-list.php-sdk.testList.json")["orders"].([]any) {
		all = append(all, o.(map[string]any))
	}
	for _, h := range fixture(t, "orders-history.php-sdk.testHistory.json")["history"].([]any) {
		if h.(map[string]any)["created"] == true {
			all = append(all, h.(map[string]any)["order"].(map[string]any))
		}
	}
	return all
}

// orderSchema is the union of the fixture orders and the keys all of them have.
func orderSchema(t *testing.T) (*schema, []string) {
	s := newSchema()
	all := fixtureOrders(t)
	for _, o := range all {
		s.learn(o, false)
	}
	var common []string
	for _, k := range keysOf(all[0]) {
		in := true
		for _, o := range all[1:] {
			if _, ok := o[k]; !ok {
				in = false
			}
		}
		if in {
			common = append(common, k)
		}
	}
	return s, common
}

// documentedExtras are order keys RetailCRM's API documentation lists for the
// order object that no fixture happens to carry.
var documentedExtras = map[string]bool{
	"additionalPhone": true, "customerComment": true, "managerComment": true, "clientId": true,
	"comment": true, "barcode": true, "date": true, "keyword": true, "content": true,
}

func TestOrdersMatchFixtureShapes(t *testing.T) {
	t.Parallel()
	s, common := orderSchema(t)
	if !slices.Contains(common, "items") || !slices.Contains(common, "createdAt") {
		t.Fatalf("fixture intersection looks wrong: %v", common)
	}
	e := newTestEmu(t, Options{Seed: 7, Orders: 400})
	orders, _ := walkOrders(t, e, DemoKey, "", 100)
	for _, o := range orders {
		var errs []string
		s.check(o, "order", documentedExtras, &errs)
		for _, err := range errs {
			t.Errorf("order %d: %s", id(o), err)
		}
		for _, k := range common {
			if _, ok := o[k]; !ok {
				t.Errorf("order %d: key %q that every fixture order has is missing", id(o), k)
			}
		}
		if t.Failed() {
			t.Fatalf("first failing order: %v", o)
		}
	}
}

func TestHistoryEntriesMatchFixtureShapes(t *testing.T) {
	t.Parallel()
	s := newSchema()
	for _, h := range fixture(t, "orders-history.php-sdk.testHistory.json")["history"].([]any) {
		s.learn(h, false)
	}
	for _, o := range fixtureOrders(t) {
		s.fields["order"].learn(o, false)
	}
	e := newTestEmu(t, Options{Seed: 3, Orders: 30})
	e.CreateOrder(OrderInput{})
	must(t, e.UpdateOrder(4, Change{Field: "status", Value: "send-to-delivery"}, Change{Field: "customer_comment", Value: "Позвонить"},
		Change{Field: "order_product.quantity", Value: 2.5}, Change{Field: "custom_k50_sid", Value: "abc"}, Change{Field: "manager", Value: 23}))
	must(t, e.DeleteOrder(5))
	must(t, e.MergeOrders(6, 8))
	r := get(t, e, DemoKey, "/api/v5/orders/history?filter[sinceId]=25&limit=100")
	// manager changes carry {"id": …} as their values (RetailCRM's documentation of the
	// history feed); the fixture only shows it as a newValue
	allowed := map[string]bool{"deleted": true, "combinedTo": true, "id": true}
	for k := range documentedExtras {
		allowed[k] = true
	}
	entries := r.json(t)["history"].([]any)
	if len(entries) < 10 {
		t.Fatalf("only %d entries", len(entries))
	}
	for _, h := range entries {
		var errs []string
		s.check(h, "entry", allowed, &errs)
		for _, err := range errs {
			t.Errorf("entry %v: %s", h.(map[string]any)["id"], err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
