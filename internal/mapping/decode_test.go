package mapping

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"orderimport/internal/crmfixture"
)

// stdJSON decodes with encoding/json (numbers as decimals), the reference
// decodeJSON must agree with.
func stdJSON(t testing.TB, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			return decimal.RequireFromString(string(x))
		case []any:
			for i := range x {
				x[i] = conv(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = conv(x[k])
			}
		}
		return v
	}
	return conv(v)
}

// sameValue compares decoded values exactly: decimals by value and
// exponent-independent, everything else by kind and content.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Equal(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// Every real RetailCRM payload and the golden file of this package decode as encoding/json
// decodes them.
func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	inputs := map[string][]byte{}
	for _, name := range crmfixture.Names() {
		inputs[name] = crmfixture.Read(t, name)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "golden-default.json"))
	if err != nil {
		t.Fatal(err)
	}
	inputs["golden-default.json"] = golden
	for f, raw := range inputs {
		got, err := decodeJSON(raw)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if want := stdJSON(t, raw); !sameValue(got, want) {
			t.Errorf("%s: decodeJSON differs from encoding/json", f)
		}
	}
}

func TestDecodeJSONValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want any
	}{
		{`"\u0414\u043e\u0441\u0442"`, "Дост"},
		{`"\ud83d\ude00!"`, "😀!"},
		{`"\ud83d"`, "\uFFFD"},
		{`"\ude00x"`, "\uFFFDx"},
		{`"a\/b\\c\"d\n\t\r\b\f"`, "a/b\\c\"d\n\t\r\b\f"},
		{"\"a\xffb\"", "a\uFFFDb"},
		{`1395.16`, decimal.RequireFromString("1395.16")},
		{`-0.5`, decimal.RequireFromString("-0.5")},
		{`123456789012345678901234567890.123`, decimal.RequireFromString("123456789012345678901234567890.123")},
		{`1e3`, decimal.NewFromInt(1000)},
		{`-2.5E-2`, decimal.RequireFromString("-0.025")},
		{` [ ] `, []any{}},
		{`{}`, map[string]any{}},
		{`[true,false,null]`, []any{true, false, nil}},
	}
	for _, tt := range tests {
		got, err := decodeJSON([]byte(tt.in))
		if err != nil || !sameValue(got, tt.want) {
			t.Errorf("decodeJSON(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, `{`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{a:1}`, "\"\x01\"", `01`, `-`, `1.`, `1e`,
		`.5`, `+1`, `"\u12"`, `"\q"`, `nul`, `tru`, `{} x`, `[1 2]`, `"abc`, strings.Repeat("[", 300),
	} {
		if v, err := decodeJSON([]byte(in)); err == nil {
			t.Errorf("decodeJSON(%q) = %#v, want an error", in, v)
		}
		// Skipping checks the same syntax as building.
		proj := &projection{keys: map[string]*projection{"other": nil}}
		if _, err := decodeProjected([]byte(`{"skipped":`+in+`}`), proj); err == nil {
			t.Errorf("skipping %q: want an error", in)
		}
	}
}

func TestDecodeProjected(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"id": 1, "customer": {"email": "a@b.ru", "phones": [{"number": "1"}]},
		"items": [{"quantity": 2, "offer": {"name": "x"}}, {"quantity": 0.5}], "customFields": [], "skip": [1, {"a": "\u0414"}]}`)
	p := new(projection)
	for _, pt := range []path{
		{{key: "id"}},
		{{key: "customer"}, {key: "email"}},
		{{key: "items"}, {elem: true}, {key: "quantity"}},
		{{key: "customFields"}, {key: "k50_sid"}},
	} {
		p = p.need(pt)
	}
	got, err := decodeProjected(raw, p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id":           decimal.NewFromInt(1),
		"customer":     map[string]any{"email": "a@b.ru"},
		"items":        []any{map[string]any{"quantity": decimal.NewFromInt(2)}, map[string]any{"quantity": decimal.RequireFromString("0.5")}},
		"customFields": []any{},
	}
	if !sameValue(got, want) {
		t.Errorf("decodeProjected = %#v\nwant %#v", got, want)
	}
	if p.need(path{}) != nil {
		t.Error("the empty path must need the whole order")
	}
}
