package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
	"unicode/utf16"

	"orderimport/internal/crmfixture"
)

// BenchmarkMapOrder maps the richest fixture (demo order 53: five items,
// customer and contact with segments and tags, payments) with the default
// mapping, as a sync worker does for every order it fetches. The fixture
// file is pretty-printed (17.5 KB, half of it indentation); the API sends
// compact JSON, with Cyrillic as UTF-8 (9.3 KB) or, from PHP's default
// json_encode, as \uXXXX escapes (11.4 KB). All three are measured.
func BenchmarkMapOrder(b *testing.B) {
	pretty := crmfixture.Read(b, "order-object.demo-account.order-53.json")
	var compact bytes.Buffer
	if err := json.Compact(&compact, pretty); err != nil {
		b.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(pretty, &v); err != nil {
		b.Fatal(err)
	}
	escaped := asciiJSON(b, v)

	m, err := Compile(nil)
	if err != nil {
		b.Fatal(err)
	}
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		b.Fatal(err)
	}
	env := Env{AccountTZ: msk, CounterTZ: msk}
	for _, c := range []struct {
		name string
		raw  []byte
	}{{"fixture", pretty}, {"compact", compact.Bytes()}, {"escaped", escaped}} {
		b.Run(c.name, func(b *testing.B) {
			if res := m.Map(c.raw, env); res.Rejected || len(res.Issues) > 0 {
				b.Fatalf("maps with issues: %+v", res)
			}
			b.SetBytes(int64(len(c.raw)))
			b.ReportAllocs()
			for b.Loop() {
				m.Map(c.raw, env)
			}
		})
	}
}

// asciiJSON encodes v compactly with every non-ASCII character escaped, as
// PHP's json_encode does by default.
func asciiJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	for _, r := range string(raw) {
		switch {
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, "\\u%04x\\u%04x", r1, r2)
		default:
			fmt.Fprintf(&out, "\\u%04x", r)
		}
	}
	return out.Bytes()
}
