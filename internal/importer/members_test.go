package importer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/crmfixture"
	"orderimport/internal/mapping"
	"orderimport/internal/retailcrm"
)

// wholeOrderMapping reads parts of the order no projection can narrow: whole objects and lists
// handed to builtins, so the decoder builds them in full.
var wholeOrderMapping = map[string]string{
	mapping.FieldOrderID:      "string(id) + '-' + string(len(customer ?? {}))",
	mapping.FieldOrderDate:    "createdAt",
	mapping.FieldSessionID:    "string(len(customFields ?? []))",
	mapping.FieldItemCount:    "len(items ?? [])",
	mapping.FieldRevenue:      "totalSumm",
	mapping.FieldComment:      "string(len(delivery ?? {})) + string(len(payments ?? []))",
	mapping.FieldContactName:  "joinWords(lastName, firstName, patronymic)",
	mapping.FieldContactPhone: "phone",
	mapping.FieldContactEmail: "email",
	mapping.FieldTags:         "status",
}

// The mapping of an order the answer's decoder already walked (MapMembers: only the members the
// expressions read are parsed) gives exactly what the mapping of the whole object gives (Map),
// for the emulator's orders and every recorded RetailCRM order, under mappings that read little
// and much of an order.
func TestMembersMapAsTheWholeOrder(t *testing.T) {
	orders := emulatorOrders(t)
	for _, name := range crmfixture.Names() {
		orders = append(orders, fixtureOrders(t, crmfixture.Read(t, name))...)
	}
	if len(orders) < 300 {
		t.Fatalf("only %d orders to compare", len(orders))
	}
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []map[string]string{nil, otherMapping, wholeOrderMapping} {
		m, err := mapping.Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, pii := range []string{mapping.PIIKeep, mapping.PIIHash} {
			env := mapping.Env{AccountTZ: msk, CounterTZ: time.UTC, PII: pii}
			for _, o := range orders {
				compareMembersMap(t, m, &o, env)
			}
		}
	}
}

func compareMembersMap(t *testing.T, m *mapping.Mapping, o *retailcrm.Order, env mapping.Env) {
	t.Helper()
	members := o.Members()
	if members == nil {
		t.Fatalf("order %d was decoded without its members", o.ID)
	}
	whole, split := m.Map(o.Raw, env), m.MapMembers(o.Raw, members, env)
	if !reflect.DeepEqual(whole, split) {
		t.Fatalf("order %d under %v:\nwhole   %+v\nmembers %+v", o.ID, m.Spec(), whole, split)
	}
}

// FuzzMembersMapAsTheWholeOrder holds MapMembers to Map for any order object the decoder accepts.
func FuzzMembersMapAsTheWholeOrder(f *testing.F) {
	for _, name := range crmfixture.Names() {
		for _, o := range fixtureOrders(f, crmfixture.Read(f, name)) {
			f.Add([]byte(o.Raw))
		}
	}
	for _, s := range []string{`{"id":1,"createdAt":"2024-01-02 03:04:05","items":[{"quantity":2},{"quantity":"1.5","isCanceled":true}]}`,
		`{"id":1,"id":2,"createdAt":"2024-01-02 03:04:05","totalSumm":1e2}`, "{\"id\":1,\"createdAt\":\"2024-01-02 03:04:05\",\"\xff\":1,\"phone\":\"\\ud800\"}",
		`{"id" : 7 , "createdAt"	:"2024-01-02 03:04:05", "customer":{"id":3}}`} {
		f.Add([]byte(s))
	}
	var maps []*mapping.Mapping
	for _, spec := range []map[string]string{nil, otherMapping, wholeOrderMapping} {
		m, err := mapping.Compile(spec)
		if err != nil {
			f.Fatal(err)
		}
		maps = append(maps, m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := retailcrm.DecodeOrder(raw)
		if err != nil {
			return
		}
		for _, m := range maps {
			compareMembersMap(t, m, o, mapping.Env{})
		}
	})
}

// emulatorOrders reads three pages of the emulator's rich orders as the importer does.
func emulatorOrders(t testing.TB) []retailcrm.Order {
	t.Helper()
	srv := httptest.NewServer(crmemu.New(crmemu.Options{Seed: 7, Orders: 300}))
	t.Cleanup(srv.Close)
	c, err := retailcrm.New(retailcrm.Config{URL: srv.URL, APIKey: crmemu.DemoKey, RateLimit: 1000, HTTPClient: &http.Client{},
		Limiters: retailcrm.NewLimiters()})
	if err != nil {
		t.Fatal(err)
	}
	var orders []retailcrm.Order
	for page := 1; page <= 3; page++ {
		p, err := c.Orders(context.Background(), retailcrm.OrdersFilter{}, page, 100)
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, p.Orders...)
	}
	return orders
}

// fixtureOrders decodes the order objects of one recorded answer (a list, one order, a history
// page's orders, or an order object saved alone).
func fixtureOrders(tb testing.TB, body []byte) []retailcrm.Order {
	tb.Helper()
	var env struct {
		Orders  []json.RawMessage
		Order   json.RawMessage
		History []struct{ Order json.RawMessage }
		ID      json.RawMessage
	}
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	raws := env.Orders
	if env.Order != nil {
		raws = append(raws, env.Order)
	}
	for _, h := range env.History {
		if h.Order != nil {
			raws = append(raws, h.Order)
		}
	}
	if env.ID != nil {
		raws = append(raws, body)
	}
	var out []retailcrm.Order
	for _, raw := range raws {
		if o, err := retailcrm.DecodeOrder(raw); err == nil {
			out = append(out, *o)
		}
	}
	return out
}

// BenchmarkMapOrders maps the emulator's rich orders with the default mapping: whole (each order
// parsed again from its bytes) and by members (the answer's decoder walked it already).
func BenchmarkMapOrders(b *testing.B) {
	orders := emulatorOrders(b)
	m, err := mapping.Compile(nil)
	if err != nil {
		b.Fatal(err)
	}
	env := mapping.Env{AccountTZ: time.UTC, CounterTZ: time.UTC}
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			o := &orders[i%len(orders)]
			m.Map(o.Raw, env)
		}
	})
	b.Run("members", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			o := &orders[i%len(orders)]
			m.MapMembers(o.Raw, o.Members(), env)
		}
	})
}

// BenchmarkDecodeOrder reads the emulator's rich orders (compact JSON, 5.7 KB each) as a re-map
// reads a kept copy: typed fields and the members' places.
func BenchmarkDecodeOrder(b *testing.B) {
	orders := emulatorOrders(b)
	var n int64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw := orders[i%len(orders)].Raw
		n += int64(len(raw))
		if _, err := retailcrm.DecodeOrder(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(n / int64(b.N))
}
