package retailcrm

import (
	"bytes"
	"encoding/json"
	"testing"

	"orderimport/internal/crmfixture"
)

// benchPage builds a 100-order list page from the four real order objects of crmfixture (the
// envelope is hand-built; the order bytes are verbatim).
func benchPage(tb testing.TB) []byte {
	tb.Helper()
	var objs []json.RawMessage
	for _, name := range []string{"orders-list.php-sdk.testList.json", "order-get.php-sdk.testGet.json"} {
		var env struct {
			Orders []json.RawMessage
			Order  json.RawMessage
		}
		if err := json.Unmarshal(crmfixture.Read(tb, name), &env); err != nil {
			tb.Fatal(err)
		}
		objs = append(objs, env.Orders...)
		if env.Order != nil {
			objs = append(objs, env.Order)
		}
	}
	for _, name := range []string{"order-object.demo-account.order-53.json", "order-object.demo-account.order-73.json"} {
		objs = append(objs, bytes.TrimSpace(crmfixture.Read(tb, name)))
	}
	var b bytes.Buffer
	b.WriteString(`{"success":true,"pagination":{"limit":100,"totalCount":1000,"currentPage":1,"totalPageCount":10},"orders":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(objs[i%len(objs)])
	}
	b.WriteString("]}")
	return b.Bytes()
}

func decodeOrdersPage(body []byte) (*OrdersPage, error) {
	p := new(OrdersPage)
	_, err := decodeEnvelope(body, func(r *reader, name string) error { return decodeOrdersMember(r, name, p) })
	return p, err
}

func TestDecodeBenchPage(t *testing.T) {
	t.Parallel()
	body := benchPage(t)
	p, err := decodeOrdersPage(body)
	if err != nil {
		t.Fatal(err)
	}
	oracle := rawOrders(t, body)
	if len(p.Orders) != 100 || p.Pagination.TotalPageCount != 10 {
		t.Fatalf("%d orders, pagination %+v", len(p.Orders), p.Pagination)
	}
	for i, o := range p.Orders {
		if !bytes.Equal(o.Raw, oracle[i]) {
			t.Fatalf("order %d: Raw differs", i)
		}
	}
	if ids := [4]int64{p.Orders[0].ID, p.Orders[1].ID, p.Orders[2].ID, p.Orders[3].ID}; ids != [4]int64{7141, 6722, 53, 73} {
		t.Errorf("first ids %v, want 7141 6722 53 73", ids)
	}
}

// TestDecodeTruncatedBodies cuts a real answer at every byte: each prefix must be reported as an
// error (KindGarbled upstream), never decoded as a shorter valid page, never panic.
func TestDecodeTruncatedBodies(t *testing.T) {
	t.Parallel()
	body := bytes.TrimSpace(crmfixture.Read(t, "orders-list.php-sdk.testList.json"))
	for n := range len(body) {
		if _, err := decodeOrdersPage(body[:n]); err == nil {
			t.Fatalf("prefix of %d bytes decoded without error", n)
		}
	}
	if _, err := decodeOrdersPage(body); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDecodeOrdersPage decodes a 100-order page (~1 MB) into typed fields plus Raw copies.
func BenchmarkDecodeOrdersPage(b *testing.B) {
	body := benchPage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodeOrdersPage(body)
		if err != nil || len(p.Orders) != 100 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeHistoryPage decodes the recorded 100-entry history page (163 KB).
func BenchmarkDecodeHistoryPage(b *testing.B) {
	body := crmfixture.Read(b, "orders-history.php-sdk.testHistory.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p := new(HistoryPage)
		if _, err := decodeEnvelope(body, func(r *reader, name string) error { return decodeHistoryMember(r, name, p) }); err != nil || len(p.History) != 100 {
			b.Fatal(err)
		}
	}
}

// DecodeOrder reads the typed fields of an order as the list does: the currency when there is
// one, the purchase cost as sent, the source by names; a PHP-style empty source is none.
func TestDecodeOrder(t *testing.T) {
	o, err := DecodeOrder([]byte(`{"id": 5, "number": "5C", "currency": "KZT", "purchaseSumm": 1000.50, "source": {"source": "yandex",
		"medium": "cpc", "campaign": "весна", "keyword": "обувь", "content": "баннер", "extra": 1}, "status": "new"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := OrderSource{Source: "yandex", Medium: "cpc", Campaign: "весна", Keyword: "обувь", Content: "баннер"}
	if o.ID != 5 || o.Currency != "KZT" || o.PurchaseSumm != "1000.50" || o.Source != want || o.Status != "new" {
		t.Errorf("order %+v", o)
	}
	o, err = DecodeOrder([]byte(`{"id": 6, "source": [], "purchaseSumm": null}`))
	if err != nil || o.Source != (OrderSource{}) || o.PurchaseSumm != "" {
		t.Errorf("an empty source and no purchase cost: %+v %v", o, err)
	}
	if _, err := DecodeOrder([]byte(`[1, 2]`)); err == nil {
		t.Error("a list decoded as an order")
	}
}
