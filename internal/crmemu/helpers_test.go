package crmemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"orderimport/internal/crmfixture"
)

// fixedEnd keeps generated dates stable across runs of the tests.
var fixedEnd = time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return fixedEnd.Add(time.Hour) }

func newTestEmu(t testing.TB, opts Options) *Emulator {
	t.Helper()
	if opts.End.IsZero() {
		opts.End = fixedEnd
	}
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	return New(opts)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %q: %v", truncate(r.body), err)
	}
	return m
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// get calls the handler directly; key "" sends no key.
func get(t testing.TB, e *Emulator, key, target string) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func fixture(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(crmfixture.Read(t, name), &m); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return m
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// schema is the union of the shapes seen in fixture payloads.
type schema struct {
	kinds  map[string]bool
	fields map[string]*schema
	elem   *schema
	isMap  bool // keys are data (payment ids, field codes): values share one schema
}

// mapKeys name the objects RetailCRM keys by id or code; PHP sends them as [] when empty.
var mapKeys = map[string]bool{"payments": true, "customFields": true, "properties": true}

func newSchema() *schema { return &schema{kinds: map[string]bool{}, fields: map[string]*schema{}} }

func (s *schema) learn(v any, isMap bool) {
	s.isMap = s.isMap || isMap
	s.kinds[kindOf(v)] = true
	switch x := v.(type) {
	case map[string]any:
		for k, fv := range x {
			name := k
			if s.isMap {
				name = "*"
			}
			f := s.fields[name]
			if f == nil {
				f = newSchema()
				s.fields[name] = f
			}
			f.learn(fv, mapKeys[k] && !s.isMap)
		}
	case []any:
		for _, ev := range x {
			if s.elem == nil {
				s.elem = newSchema()
			}
			s.elem.learn(ev, false)
		}
	}
}

// check reports where v leaves the schema: an unknown key (not in allowed)
// or a JSON type the fixtures never show at that place.
func (s *schema) check(v any, path string, allowed map[string]bool, errs *[]string) {
	k := kindOf(v)
	empty := k == "array" && len(v.([]any)) == 0
	switch {
	case s.kinds[k]:
	case s.isMap && (k == "object" || empty):
	case k == "null":
	default:
		*errs = append(*errs, path+": "+k+" where fixtures have "+strings.Join(keysOfBool(s.kinds), "|"))
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for fk, fv := range x {
			name := fk
			if s.isMap {
				name = "*"
			}
			f := s.fields[name]
			if f == nil && s.isMap {
				continue // values of a map the fixtures only show empty
			}
			if f == nil {
				if !allowed[fk] {
					*errs = append(*errs, path+"."+fk+": key not in any fixture")
				}
				continue
			}
			f.check(fv, path+"."+fk, allowed, errs)
		}
	case []any:
		if s.elem == nil {
			return
		}
		for i, ev := range x {
			if i > 3 {
				break
			}
			s.elem.check(ev, path+"[]", allowed, errs)
		}
	}
}

func keysOfBool(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// walkOrders reads every page of /api/v5/orders with the query and returns the orders.
func walkOrders(t testing.TB, e *Emulator, key, query string, limit int) ([]map[string]any, int) {
	t.Helper()
	var out []map[string]any
	total := -1
	for page := 1; ; page++ {
		r := get(t, e, key, "/api/v5/orders?limit="+strconv.Itoa(limit)+"&page="+strconv.Itoa(page)+query)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", page, r.status, truncate(r.body))
		}
		m := r.json(t)
		p := m["pagination"].(map[string]any)
		if total == -1 {
			total = int(p["totalCount"].(float64))
		}
		for _, o := range m["orders"].([]any) {
			out = append(out, o.(map[string]any))
		}
		if int(p["currentPage"].(float64)) >= int(p["totalPageCount"].(float64)) {
			return out, total
		}
	}
}

func id(o map[string]any) int64 { return int64(o["id"].(float64)) }
