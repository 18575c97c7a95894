package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"orderimport/internal/crmfixture"
	"orderimport/internal/locale"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type fixtureOrder struct {
	source string // file, and the order's place in it
	raw    []byte // the order object exactly as in the payload
}

// fixtureOrders extracts every order object from the real RetailCRM payloads
// of crmfixture: the two
// demo-account order objects, the order of GET /orders/{id}, the orders of
// GET /orders, and the full orders of orders/history entries with
// created: true.
func fixtureOrders(t testing.TB) []fixtureOrder {
	t.Helper()
	read := func(name string) []byte { return crmfixture.Read(t, name) }
	var out []fixtureOrder
	for _, name := range []string{"order-object.demo-account.order-53.json", "order-object.demo-account.order-73.json"} {
		out = append(out, fixtureOrder{name, read(name)})
	}
	var get struct{ Order json.RawMessage }
	if err := json.Unmarshal(read("order-get.php-sdk.testGet.json"), &get); err != nil {
		t.Fatal(err)
	}
	out = append(out, fixtureOrder{"order-get.php-sdk.testGet.json", get.Order})
	var list struct{ Orders []json.RawMessage }
	if err := json.Unmarshal(read("orders-list.php-sdk.testList.json"), &list); err != nil {
		t.Fatal(err)
	}
	for i, o := range list.Orders {
		out = append(out, fixtureOrder{fmt.Sprintf("orders-list.php-sdk.testList.json orders[%d]", i), o})
	}
	var history struct {
		History []struct {
			ID      int
			Created bool
			Order   json.RawMessage
		}
	}
	if err := json.Unmarshal(read("orders-history.php-sdk.testHistory.json"), &history); err != nil {
		t.Fatal(err)
	}
	for _, h := range history.History {
		if h.Created {
			out = append(out, fixtureOrder{fmt.Sprintf("orders-history.php-sdk.testHistory.json entry %d", h.ID), h.Order})
		}
	}
	if len(out) != 2+1+1+23 {
		t.Fatalf("found %d fixture orders, want 27", len(out))
	}
	return out
}

// golden is a Result as stored in testdata/golden-default.json.
type golden struct {
	Source       string   `json:"source"`
	Rejected     bool     `json:"rejected"`
	OrderID      string   `json:"order_id"`
	OrderDateUTC string   `json:"order_date_utc"`
	Date         string   `json:"date"`
	SessionID    string   `json:"session_id"`
	UserID       string   `json:"user_id"`
	ItemCount    string   `json:"item_count"`
	Profit       string   `json:"profit"`
	Revenue      string   `json:"revenue"`
	Comment      string   `json:"comment"`
	ContactName  string   `json:"contact_name"`
	ContactPhone string   `json:"contact_phone"`
	ContactEmail string   `json:"contact_email"`
	Tags         []string `json:"tags"`
	Status       string   `json:"status"`
	Site         string   `json:"site"`
	Issues       []Issue  `json:"issues"`
}

// toGolden is r as the golden file holds it; issues go through JSON, as
// they do when stored, so their arguments compare as stored.
func toGolden(t testing.TB, source string, r Result) golden {
	t.Helper()
	var issues []Issue
	if raw, err := json.Marshal(r.Issues); err != nil || json.Unmarshal(raw, &issues) != nil {
		t.Fatalf("issues %+v do not survive JSON: %v", r.Issues, err)
	}
	dec := func(d decimal.NullDecimal) string {
		if !d.Valid {
			return ""
		}
		return d.Decimal.String()
	}
	g := golden{
		Source: source, Rejected: r.Rejected, OrderID: r.Order.OrderID,
		Date: r.Date, SessionID: r.Order.SessionID, UserID: r.Order.UserID,
		ItemCount: dec(r.Order.ItemCount), Profit: dec(r.Order.Profit), Revenue: dec(r.Order.Revenue),
		Comment: r.Order.Comment, ContactName: r.Order.ContactName,
		ContactPhone: r.Order.ContactPhone, ContactEmail: r.Order.ContactEmail,
		Tags: r.Order.Tags, Status: r.Status, Site: r.Site, Issues: issues,
	}
	if !r.Order.OrderDate.IsZero() {
		g.OrderDateUTC = r.Order.OrderDate.Format(time.RFC3339)
	}
	return g
}

// TestGoldenDefaultMapping maps every fixture order with the default
// mapping (account and counter in Europe/Moscow, the settings fixture's
// zone) and checks every field against testdata/golden-default.json.
// Run with -update to rewrite it, then read the diff.
func TestGoldenDefaultMapping(t *testing.T) {
	t.Parallel()
	m, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	msk := mustZone(t, "Europe/Moscow")
	var got []golden
	for _, o := range fixtureOrders(t) {
		r := m.Map(o.raw, Env{AccountTZ: msk, CounterTZ: msk})
		for _, is := range r.Issues {
			checkWords(t, is.Msg)
		}
		got = append(got, toGolden(t, o.source, r))
	}
	file := filepath.Join("testdata", "golden-default.json")
	if *update {
		raw, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want []golden
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("golden has %d orders, mapped %d", len(want), len(got))
	}
	for i := range got {
		g, w := reflect.ValueOf(got[i]), reflect.ValueOf(want[i])
		for f := 0; f < g.NumField(); f++ {
			if !reflect.DeepEqual(g.Field(f).Interface(), w.Field(f).Interface()) &&
				!(g.Field(f).Len() == 0 && w.Field(f).Len() == 0) {
				t.Errorf("%s: %s = %#v, want %#v", want[i].Source, g.Type().Field(f).Name, g.Field(f).Interface(), w.Field(f).Interface())
			}
		}
	}
}

// mapOne compiles spec and maps one order given as JSON text.
func mapOne(t testing.TB, spec map[string]string, order string) Result {
	t.Helper()
	m, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m.Map([]byte(order), Env{AccountTZ: mustZone(t, "Europe/Moscow")})
}

func TestMapMoneyAndQuantities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                       string
		spec                       map[string]string
		order                      string
		itemCount, profit, revenue string
	}{
		{
			name:   "exact money, no float artefacts",
			spec:   map[string]string{FieldProfit: "totalSumm - purchaseSumm"},
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "totalSumm": 1395.16, "purchaseSumm": 1000.5}`,
			profit: "394.66", revenue: "1395.16", itemCount: "0",
		},
		{
			name:   "default profit subtracts delivery cost price",
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "totalSumm": 1395.16, "purchaseSumm": 1000.5, "delivery": {"netCost": 94.16}}`,
			profit: "300.5", revenue: "1395.16", itemCount: "0",
		},
		{
			name:   "missing terms count as 0",
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "totalSumm": 500}`,
			profit: "500", revenue: "500", itemCount: "0",
		},
		{
			name:   "negative profit",
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "totalSumm": 100, "purchaseSumm": 250.75, "delivery": {"netCost": 300}}`,
			profit: "-450.75", revenue: "100", itemCount: "0",
		},
		{
			name:   "fractional quantities; canceled lines do not count",
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "items": [{"quantity": 1.5}, {"quantity": 0.25}, {"quantity": 3, "isCanceled": true}, {"quantity": 0.001}]}`,
			profit: "0", itemCount: "1.751",
		},
		{
			name:   "huge values stay exact",
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "totalSumm": 123456789012345678901234567.89, "purchaseSumm": 0.01}`,
			profit: "123456789012345678901234567.88", revenue: "123456789012345678901234567.89", itemCount: "0",
		},
		{
			name:   "numeric text accepted",
			spec:   map[string]string{FieldRevenue: "customFields.revenue", FieldItemCount: "customFields.count"},
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00", "customFields": {"revenue": "1 234,50", "count": "2"}}`,
			profit: "0", revenue: "1234.5", itemCount: "2",
		},
		{
			name:   "division rounded to 20 places only at storage",
			spec:   map[string]string{FieldProfit: "(1 / 3) * (1 / 3)"},
			order:  `{"id": 1, "createdAt": "2021-01-01 00:00:00"}`,
			profit: "0.11111111111111108889", itemCount: "0",
		},
	}
	for _, tt := range tests {
		r := mapOne(t, tt.spec, tt.order)
		if r.Rejected || len(r.Issues) > 0 {
			t.Errorf("%s: rejected %v, issues %v", tt.name, r.Rejected, r.Issues)
		}
		for _, c := range []struct {
			field string
			got   string
			valid bool
			want  string
		}{
			{"item_count", r.Order.ItemCount.Decimal.String(), r.Order.ItemCount.Valid, tt.itemCount},
			{"profit", r.Order.Profit.Decimal.String(), r.Order.Profit.Valid, tt.profit},
			{"revenue", r.Order.Revenue.Decimal.String(), r.Order.Revenue.Valid, tt.revenue},
		} {
			if c.want == "" {
				if c.valid {
					t.Errorf("%s: %s = %s, want empty", tt.name, c.field, c.got)
				}
			} else if !c.valid || c.got != c.want {
				t.Errorf("%s: %s = %s (valid %v), want %s", tt.name, c.field, c.got, c.valid, c.want)
			}
		}
	}
}

func TestMapRejectsOrdersWithoutRequiredFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, order    string
		spec           map[string]string
		id, number     string // the issue's order_id and order_number
		field, value   string
		reason, detail string
		args           []any
	}{
		{name: "no id", order: `{"number": "53C", "createdAt": "2022-01-08 14:43:25"}`,
			number: "53C", field: "order_id", reason: "required_missing"},
		{name: "empty id", spec: map[string]string{FieldOrderID: "externalId"}, order: `{"id": 53, "number": "53C", "externalId": " ", "createdAt": "2022-01-08 14:43:25"}`,
			number: "53C", field: "order_id", reason: "required_missing"},
		{name: "id is a list", spec: map[string]string{FieldOrderID: "items"}, order: `{"id": 53, "number": "53C", "items": [1], "createdAt": "2022-01-08 14:43:25"}`,
			number: "53C", field: "order_id", value: "[1]", reason: "identifier_kind", args: []any{"kind", "list"}},
		{name: "id too long", spec: map[string]string{FieldOrderID: "externalId"}, order: `{"id": 53, "externalId": "` + strings.Repeat("x", 256) + `", "createdAt": "2022-01-08 14:43:25"}`,
			field: "order_id", value: strings.Repeat("x", 200) + "…", reason: "identifier_too_long", args: []any{"max", 255}},
		{name: "no date", order: `{"id": 53, "number": "53C"}`,
			id: "53", number: "53C", field: "order_date", reason: "required_missing"},
		{name: "zero date", order: `{"id": 53, "number": "53C", "createdAt": "0000-00-00 00:00:00"}`,
			id: "53", number: "53C", field: "order_date", value: "0000-00-00 00:00:00", reason: "date_not_real"},
		{name: "unreadable date", order: `{"id": 53, "number": "53", "createdAt": "вчера"}`,
			id: "53", number: "53", field: "order_date", value: "вчера", reason: "date_format"},
		{name: "date out of range", order: `{"id": 53, "number": 53, "createdAt": "2100-01-01 03:00:00"}`,
			id: "53", number: "53", field: "order_date", value: "2100-01-01 03:00:00", reason: "date_out_of_range",
			args: []any{"date", "2100-01-01 00:00:00", "first", 1970, "last", 2099}},
		{name: "expression fails", spec: map[string]string{FieldOrderID: "id + number"}, order: `{"id": 53, "number": "53C", "createdAt": "2022-01-08 14:43:25"}`,
			number: "53C", field: "order_id", reason: "expression_failed", args: []any{"line", 1, "column", 4},
			detail: "cannot add a number 53 and text 53C"},
	}
	for _, tt := range tests {
		r := mapOne(t, tt.spec, tt.order)
		if !r.Rejected || r.Date != "" {
			t.Errorf("%s: not rejected (date %q)", tt.name, r.Date)
		}
		want := Issue{OrderID: tt.id, OrderNumber: tt.number, Field: tt.field, Value: tt.value,
			Msg: locale.M("order_rejected", "reason", locale.M(tt.reason, tt.args...)).WithDetail(tt.detail)}
		if !slices.ContainsFunc(r.Issues, func(is Issue) bool { return reflect.DeepEqual(is, want) }) {
			t.Errorf("%s: issues %+v\nwant %+v", tt.name, r.Issues, want)
		}
		for _, is := range r.Issues {
			checkWords(t, is.Msg)
		}
	}
}

// checkWords renders msg in every language and fails on a gap: a code or a
// nested code without words, or a placeholder without its argument.
func checkWords(t testing.TB, msg locale.Message) {
	t.Helper()
	for _, lang := range locale.Languages {
		text := locale.For(lang).Msg(msg)
		if text == "" || strings.Contains(text, "[") || strings.Contains(text, "{") {
			t.Errorf("%s: %+v reads %q", lang, msg, text)
		}
	}
	if reason, ok := msg.Args["reason"].(locale.Message); ok {
		checkWords(t, reason)
	}
	for _, name := range []string{"kind", "max", "line", "column"} {
		if v, ok := msg.Args[name]; ok && fmt.Sprint(v) == "" {
			t.Errorf("%+v: empty %s", msg, name)
		}
	}
}

func TestMapOptionalFieldIssues(t *testing.T) {
	t.Parallel()
	spec := map[string]string{
		FieldSessionID: "customFields.sid",
		FieldUserID:    "customFields.uid",
		FieldTags:      "customFields.tags",
		FieldComment:   "customFields.comment",
		FieldRevenue:   "customFields.revenue",
	}
	order := `{"id": 53, "number": "53C", "createdAt": "2022-01-08 14:43:25",
		"phone": "звоните вечером", "email": "ivan@@mail.ru", "lastName": "Иванов",
		"totalSumm": "много", "purchaseSumm": 1,
		"customFields": {"sid": ["a", "b"], "uid": "` + strings.Repeat("u", 300) + `",
			"tags": "` + strings.Repeat("t", 120) + `, ok", "comment": "` + strings.Repeat("к", 10_005) + `", "revenue": 1e40}}`
	r := mapOne(t, spec, order)
	if r.Rejected {
		t.Fatalf("rejected: %+v", r.Issues)
	}
	o := r.Order
	if o.OrderID != "53" || o.ContactName != "Иванов" || o.ContactPhone != "" || o.ContactEmail != "" ||
		o.SessionID != "" || o.UserID != "" || o.Revenue.Valid || o.Profit.Valid ||
		len([]rune(o.Comment)) != maxCommentLen || !slices.Equal(o.Tags, []string{strings.Repeat("t", 100), "ok"}) {
		t.Errorf("order = %+v", o)
	}
	want := map[string]locale.Message{
		FieldContactPhone: locale.M("phone_invalid"),
		FieldContactEmail: locale.M("email_invalid"),
		FieldSessionID:    locale.M("identifier_kind", "kind", "list"),
		FieldUserID:       locale.M("identifier_too_long", "max", 255),
		FieldTags:         locale.M("tag_truncated", "max", 100),
		FieldComment:      locale.M("text_truncated", "max", 10000),
		FieldRevenue:      locale.M("number_too_large", "max", 30),
		FieldProfit:       locale.M("expression_failed", "line", 1, "column", 18).WithDetail("cannot subtract text много and a number 1"),
	}
	for _, is := range r.Issues {
		if is.OrderID != "53" || is.OrderNumber != "53C" {
			t.Errorf("issue %+v does not name the order", is)
		}
		if w, ok := want[is.Field]; !ok || !reflect.DeepEqual(is.Msg, w) {
			t.Errorf("unexpected issue %+v, want %+v", is, w)
		}
		checkWords(t, is.Msg)
		delete(want, is.Field)
	}
	for f, w := range want {
		t.Errorf("no issue for %s (%q)", f, w)
	}
	for _, is := range r.Issues {
		if is.Field == FieldContactPhone && is.Value != "звоните вечером" {
			t.Errorf("phone issue value %q", is.Value)
		}
	}
}

func TestMapNotAnObject(t *testing.T) {
	t.Parallel()
	m, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	for raw, kind := range map[string]string{`[]`: "list", `"53"`: "text", `null`: "nil", `{"id": 1,`: "", ``: "", "{\"id\": 1}\x00": ""} {
		r := m.Map([]byte(raw), Env{})
		want := locale.M("order_not_object", "kind", kind)
		if kind == "" {
			want = locale.M("order_invalid_json")
		}
		if !r.Rejected || len(r.Issues) != 1 || r.Issues[0].Msg.Code != want.Code || r.Issues[0].Msg.Arg("kind") != kind ||
			(kind == "") != (r.Issues[0].Msg.Detail != "") || r.Issues[0].OrderID != "" || r.Issues[0].Value != raw {
			t.Errorf("Map(%q) = %+v, want %+v", raw, r, want)
		}
		checkWords(t, r.Issues[0].Msg)
	}
}

func TestMapDatesAndZones(t *testing.T) {
	t.Parallel()
	m, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	order := []byte(`{"id": 1, "createdAt": "2021-03-28 02:30:00", "status": "new", "site": "shop"}`)
	berlin := mustZone(t, "Europe/Berlin")
	r := m.Map(order, Env{AccountTZ: berlin, CounterTZ: mustZone(t, "Asia/Vladivostok")})
	if got := r.Order.OrderDate.Format(time.DateTime); got != "2021-03-28 01:30:00" {
		t.Errorf("UTC date %s, want the gap time moved forward: 2021-03-28 01:30:00", got)
	}
	if r.Date != "2021-03-28 11:30:00" || r.Status != "new" || r.Site != "shop" {
		t.Errorf("Date %q, Status %q, Site %q", r.Date, r.Status, r.Site)
	}
	r = m.Map(order, Env{})
	if r.Order.DateIn(nil) != "2021-03-28 05:30:00" || r.Date != r.Order.DateIn(nil) {
		t.Errorf("defaults: UTC account, Moscow counter: got %q / %q", r.Order.DateIn(nil), r.Date)
	}
	if got := r.Order.DateIn(berlin); got != "2021-03-28 04:30:00" {
		t.Errorf("DateIn(Berlin) = %s", got)
	}
}

func TestCompileMergesOverDefault(t *testing.T) {
	t.Parallel()
	m, err := Compile(map[string]string{FieldSessionID: " customFields.k50_sid ", FieldComment: "", FieldContactPhone: "  "})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want[FieldSessionID] = "customFields.k50_sid"
	want[FieldComment] = ""
	want[FieldContactPhone] = ""
	if got := m.Spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("Spec() = %v\nwant %v", got, want)
	}
	m.Spec()[FieldOrderID] = "changed"
	if m.Spec()[FieldOrderID] != "id" {
		t.Error("Spec() exposes the mapping's own map")
	}
	r := m.Map([]byte(`{"id": 5, "createdAt": "2021-01-01", "customerComment": "hi", "phone": "89123456789", "customFields": {"k50_sid": 123}}`), Env{})
	if r.Order.Comment != "" || r.Order.ContactPhone != "" || r.Order.SessionID != "123" {
		t.Errorf("unmapped fields not empty or session id wrong: %+v", r.Order)
	}
	if len(Default()) != len(Fields) {
		t.Errorf("Default() has %d fields, want %d", len(Default()), len(Fields))
	}
}

func TestCompileErrorsNameFieldAndPosition(t *testing.T) {
	t.Parallel()
	_, err := Compile(map[string]string{
		FieldProfit:    "totalSumm -",
		FieldSessionID: "customFields.(",
		FieldComment:   "toJSON(customFields)",
		FieldOrderID:   "",
		"margin":       "totalSumm",
		FieldTags:      "split(customFields.tags,\n  ',' ,, )",
	})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *CompileError", err)
	}
	want := []FieldError{
		{Field: FieldOrderID, Msg: locale.M("mapping_required_unmapped")},
		{Field: FieldSessionID, Expr: "customFields.(", Line: 1, Column: 14, Msg: locale.M("expression_invalid", "line", 1, "column", 14)},
		{Field: FieldProfit, Expr: "totalSumm -", Line: 1, Column: 11, Msg: locale.M("expression_invalid", "line", 1, "column", 11)},
		{Field: FieldComment, Expr: "toJSON(customFields)", Line: 1, Column: 1, Msg: locale.M("expression_invalid", "line", 1, "column", 1).WithDetail("unknown function toJSON")},
		{Field: FieldTags, Expr: "split(customFields.tags,\n  ',' ,, )", Line: 2, Column: 8, Msg: locale.M("expression_invalid", "line", 2, "column", 8)},
		{Field: "margin", Expr: "totalSumm", Msg: locale.M("mapping_unknown_field", "name", "margin", "fields", fieldNames())},
	}
	if len(ce.Errors) != len(want) {
		t.Fatalf("errors %+v", ce.Errors)
	}
	for i, w := range want {
		g := ce.Errors[i]
		if w.Msg.Detail == "" && w.Msg.Code == "expression_invalid" {
			w.Msg.Detail = g.Msg.Detail // expr's own words, checked in TestCompileRefuses
		}
		if !reflect.DeepEqual(g, w) || (w.Msg.Code == "expression_invalid" && g.Msg.Detail == "") {
			t.Errorf("error %d = %+v, want %+v", i, g, w)
		}
		checkWords(t, g.Msg)
	}
	for _, s := range []string{"profit: Error in the expression (line 1, column 11): ", "session_id: Error in the expression (line 1, column 14): ",
		"comment: Error in the expression (line 1, column 1): unknown function toJSON", "tags: Error in the expression (line 2, column 8): ",
		"order_id: A required field", "margin: Unknown field"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not contain %q", err, s)
		}
	}
}

// TestMapConcurrent maps every fixture order from several goroutines at
// once with one Mapping; every result must equal the sequential one.
func TestMapConcurrent(t *testing.T) {
	t.Parallel()
	m, err := Compile(map[string]string{FieldTags: "map(customer.tags, .name)", FieldSessionID: "customFields.dictionary"})
	if err != nil {
		t.Fatal(err)
	}
	orders := fixtureOrders(t)
	env := Env{AccountTZ: mustZone(t, "Europe/Moscow")}
	want := make([]Result, len(orders))
	for i, o := range orders {
		want[i] = m.Map(o.raw, env)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(orders))
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for k := range orders {
				i := (k + g) % len(orders)
				if got := m.Map(orders[i].raw, env); !reflect.DeepEqual(got, want[i]) {
					errs <- orders[i].source
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("%s: concurrent result differs", s)
	}
}

// TestMapReadsOnlyWhatIsNeeded checks that building only the parts of an
// order the expressions read gives the same results as building it whole.
func TestMapReadsOnlyWhatIsNeeded(t *testing.T) {
	t.Parallel()
	specs := []map[string]string{
		nil,
		{FieldTags: "map(customer.tags, .name)", FieldUserID: "customer.externalId", FieldSessionID: "customFields.k50_sid"},
		{FieldItemCount: "sum(items, .prices[0].quantity ?? 0)", FieldComment: "join(map(filter(items, .isCanceled), .offer.name), ', ')"},
		{FieldComment: "find(items, .id > 0).offer.name", FieldTags: "keys(payments)"},
		{FieldComment: "string(len($env))", FieldTags: "values(customFields)"},
		{FieldComment: "let c = customer; c.firstName", FieldUserID: "contact.phones[0].number"},
		{FieldItemCount: "sum(items, sum(.prices, .price * .quantity))", FieldTags: "map(items, #)"},
		{FieldTags: "items | filter(.quantity >= 1) | map(.offer.name)", FieldComment: "first(items).offer.name"},
		{FieldRevenue: "reduce(items, #acc + .initialPrice, 0)", FieldUserID: "let x = items; x[0].offer.id"},
		{FieldComment: "any(items, .offer.name contains 'B') ? 'b' : 'n'", FieldItemCount: "count(filter(items, .isCanceled), .quantity > 0)"},
		{FieldTags: "sortBy(customer.segments, .id)", FieldComment: "groupBy(items, .status)['sold'][0].offer.name"},
		{FieldSessionID: "find(items, .offer.article startsWith 'EST').id", FieldUserID: "items[1:3][0].id"},
	}
	env := Env{AccountTZ: mustZone(t, "Europe/Moscow")}
	for _, spec := range specs {
		m, err := Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		whole := *m
		whole.reads = nil
		for _, o := range fixtureOrders(t) {
			if a, b := m.Map(o.raw, env), whole.Map(o.raw, env); !reflect.DeepEqual(a, b) {
				t.Errorf("%v on %s: projected %+v\nwhole %+v", spec, o.source, a, b)
			}
		}
	}
}

func TestMapPII(t *testing.T) {
	m, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	order := []byte(`{"id": 5, "number": "5A", "createdAt": "2021-01-01 10:00:00", "firstName": "Анна", "lastName": "Петрова",
		"phone": "+7 (912) 345-67-89", "email": "  Anna.Petrova@Example.RU "}`)
	keep := m.Map(order, Env{})
	if keep.Order.ContactPhone != "79123456789" || keep.Order.ContactEmail != "anna.petrova@example.ru" || keep.Order.ContactName == "" {
		t.Fatalf("keep: %+v", keep.Order)
	}
	hashed := m.Map(order, Env{PII: PIIHash})
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	if hashed.Order.ContactPhone != sum("79123456789") || hashed.Order.ContactEmail != sum("anna.petrova@example.ru") ||
		hashed.Order.ContactName != "" || hashed.Rejected {
		t.Fatalf("hash: %+v", hashed.Order)
	}
	dropped := m.Map(order, Env{PII: PIIDrop})
	if dropped.Order.ContactPhone != "" || dropped.Order.ContactEmail != "" || dropped.Order.ContactName != "" || dropped.Order.OrderID != "5" {
		t.Fatalf("drop: %+v", dropped.Order)
	}
	// An invalid phone or email is an issue that does not repeat it under hash and drop.
	bad := []byte(`{"id": 6, "number": "6A", "createdAt": "2021-01-01 10:00:00", "firstName": "Очень Секретное Имя",
		"phone": "secret-phone-12", "email": "secret@@mail"}`)
	for _, mode := range []string{PIIKeep, PIIHash, PIIDrop} {
		r := m.Map(bad, Env{PII: mode})
		leaked := false
		for _, is := range r.Issues {
			if strings.Contains(is.Value+is.Msg.Detail, "secret") {
				leaked = true
			}
		}
		if mode == PIIKeep && (len(r.Issues) != 2 || !leaked) {
			t.Errorf("keep: issues %+v, want both values shown", r.Issues)
		}
		if mode == PIIHash && (len(r.Issues) != 2 || leaked) {
			t.Errorf("hash: issues %+v, want two without the values", r.Issues)
		}
		if mode == PIIDrop && len(r.Issues) != 0 {
			t.Errorf("drop: issues %+v, want none", r.Issues)
		}
		if r.Order.ContactPhone != "" || r.Order.ContactEmail != "" {
			t.Errorf("%s: invalid contacts stored %+v", mode, r.Order)
		}
	}
	// An expression's diagnostic about a contact is not shown under hash either.
	m, err = Compile(map[string]string{"contact_phone": `order.phone + 1`})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Map(bad, Env{PII: PIIHash})
	for _, is := range r.Issues {
		if is.Field == FieldContactPhone && (is.Value != "" || is.Msg.Detail != "" || is.Msg.Code != "expression_failed") {
			t.Errorf("an expression failure under hash: %+v", is)
		}
	}
}

// A mapping restricted to some fields gives exactly what the whole mapping gives for those
// fields, leaves the others empty without an issue (the required ones too), and decodes only
// what they read.
func TestOnlyEvaluatesTheNamedFields(t *testing.T) {
	t.Parallel()
	env := Env{AccountTZ: mustZone(t, "Europe/Moscow")}
	m, err := Compile(map[string]string{FieldTags: "map(customer.tags, .name)", FieldComment: "first(items).offer.name ?? ''"})
	if err != nil {
		t.Fatal(err)
	}
	for _, fields := range [][]string{{FieldRevenue}, {FieldTags, FieldComment}, {FieldOrderDate, FieldContactPhone}, {FieldOrderID, "no_such_field"}} {
		only := m.Only(fields)
		for _, o := range fixtureOrders(t) {
			whole, part := m.Map(o.raw, env), only.Map(o.raw, env)
			required := slices.Contains(fields, FieldOrderID) || slices.Contains(fields, FieldOrderDate)
			if whole.Status != part.Status || whole.Site != part.Site || part.Rejected && (!whole.Rejected || !required) {
				t.Errorf("%v on %s: %+v, whole %+v", fields, o.source, part, whole)
			}
			want := Order{}
			for _, f := range fields {
				copyField(&want, &whole.Order, f)
			}
			if !reflect.DeepEqual(part.Order, want) {
				t.Errorf("%v on %s: %+v, want %+v", fields, o.source, part.Order, want)
			}
			for _, is := range part.Issues {
				if !slices.Contains(fields, is.Field) {
					t.Errorf("%v on %s: an issue of %s", fields, o.source, is.Field)
				}
			}
		}
	}
	if only := m.Only([]string{FieldRevenue}); only.reads.keys["items"] != nil || len(only.reads.keys) != len(alwaysRead)+1 {
		t.Errorf("revenue alone reads %v", only.reads.keys)
	}
}

// copyField copies one tracker field of a mapped order.
func copyField(dst, src *Order, field string) {
	switch field {
	case FieldOrderID:
		dst.OrderID = src.OrderID
	case FieldOrderDate:
		dst.OrderDate = src.OrderDate
	case FieldSessionID:
		dst.SessionID = src.SessionID
	case FieldUserID:
		dst.UserID = src.UserID
	case FieldItemCount:
		dst.ItemCount = src.ItemCount
	case FieldProfit:
		dst.Profit = src.Profit
	case FieldRevenue:
		dst.Revenue = src.Revenue
	case FieldComment:
		dst.Comment = src.Comment
	case FieldContactName:
		dst.ContactName = src.ContactName
	case FieldContactPhone:
		dst.ContactPhone = src.ContactPhone
	case FieldContactEmail:
		dst.ContactEmail = src.ContactEmail
	case FieldTags:
		dst.Tags = src.Tags
	}
}
