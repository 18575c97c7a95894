package mapping

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Bounds on values built inside expressions. They are far beyond any real
// order and exist so that hostile arithmetic (x*x in a loop) or string
// doubling stays cheap; the meter bounds how many such steps run.
const (
	maxNumberDigits = 100     // significant digits of any number an expression computes
	maxNumberExp    = 100     // |exponent| of any such number
	maxStringBytes  = 1 << 20 // bytes of any text an expression builds
	divPrecision    = 16      // decimal places kept by `/` and mean()
	maxCompareDepth = 64      // nesting compared by == before giving up
)

var errNumberRange = errors.New("number out of range (more than 100 digits)")

// checkNumber keeps the operands of decimal arithmetic bounded.
func checkNumber(d decimal.Decimal) (decimal.Decimal, error) {
	if e := d.Exponent(); e > maxNumberExp || e < -maxNumberExp || d.NumDigits() > maxNumberDigits {
		return decimal.Decimal{}, errNumberRange
	}
	return d, nil
}

// numberOf converts every Go numeric type an expression can hold to a
// decimal. ok is false for values that are not numbers.
func numberOf(v any) (d decimal.Decimal, ok bool, err error) {
	switch n := v.(type) {
	case decimal.Decimal:
		return n, true, nil
	case int:
		return decimal.NewFromInt(int64(n)), true, nil
	case int64:
		return decimal.NewFromInt(n), true, nil
	case int32:
		return decimal.NewFromInt(int64(n)), true, nil
	case int16:
		return decimal.NewFromInt(int64(n)), true, nil
	case int8:
		return decimal.NewFromInt(int64(n)), true, nil
	case uint:
		return decimal.NewFromUint64(uint64(n)), true, nil
	case uint64:
		return decimal.NewFromUint64(n), true, nil
	case uint32:
		return decimal.NewFromInt(int64(n)), true, nil
	case uint16:
		return decimal.NewFromInt(int64(n)), true, nil
	case uint8:
		return decimal.NewFromInt(int64(n)), true, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return decimal.Decimal{}, true, fmt.Errorf("%v is not a number", n)
		}
		// NewFromFloat uses the shortest representation that reads back as
		// the same float, so the literal 0.1 becomes exactly 0.1.
		d, err := checkNumber(decimal.NewFromFloat(n))
		return d, true, err
	case float32:
		if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
			return decimal.Decimal{}, true, fmt.Errorf("%v is not a number", n)
		}
		d, err := checkNumber(decimal.NewFromFloat32(n))
		return d, true, err
	case time.Duration:
		return decimal.Decimal{}, false, nil // a duration, not a number
	}
	// Named integer types, such as the time.Month that
	// date(createdAt).Month() returns.
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return decimal.NewFromInt(rv.Int()), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return decimal.NewFromUint64(rv.Uint()), true, nil
	}
	return decimal.Decimal{}, false, nil
}

// kindCode names a value's kind for a message: its words are the
// catalogues' "kind.<code>" ({arg:kind}).
func kindCode(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "text"
	case bool:
		return "bool"
	case time.Time:
		return "date"
	case time.Duration:
		return "duration"
	case map[string]any:
		return "object"
	}
	if _, ok, _ := numberOf(v); ok {
		return "number"
	}
	if _, ok := listLen(v); ok {
		return "list"
	}
	return "other"
}

// kindOf names a value's kind in an expression's runtime diagnostic, which
// is shown verbatim, like a compiler's output.
func kindOf(v any) string {
	switch kindCode(v) {
	case "nil":
		return "nothing (nil)"
	case "text":
		return "text"
	case "bool":
		return "true/false"
	case "date":
		return "a date"
	case "duration":
		return "a duration"
	case "object":
		return "an object"
	case "number":
		return "a number"
	case "list":
		return "a list"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// listLen reports the length of any list an expression can hold: decoded
// JSON arrays ([]any) and the typed slices builtins return.
func listLen(v any) (int, bool) {
	switch l := v.(type) {
	case []any:
		return len(l), true
	case []string:
		return len(l), true
	case []int:
		return len(l), true
	case []float64:
		return len(l), true
	case nil, string:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		return rv.Len(), true
	}
	return 0, false
}

// listAt returns element i of a value listLen accepted.
func listAt(v any, i int) any {
	switch l := v.(type) {
	case []any:
		return l[i]
	case []string:
		return l[i]
	case []int:
		return l[i]
	case []float64:
		return l[i]
	}
	return reflect.ValueOf(v).Index(i).Interface()
}

// asList returns v as []any without copying when it already is one.
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	n, ok := listLen(v)
	if !ok {
		return nil, false
	}
	out := make([]any, n)
	for i := range out {
		out[i] = listAt(v, i)
	}
	return out, true
}

// cost is what holding or scanning v costs in meter units: one per value,
// plus one per 256 bytes of text or 16 list/object entries.
func cost(v any) int {
	switch x := v.(type) {
	case string:
		return 1 + len(x)/256
	case map[string]any:
		return 1 + len(x)/16
	}
	if n, ok := listLen(v); ok {
		return 1 + n/16
	}
	return 1
}

// compare orders two values of the same kind: numbers, text, dates or
// durations. ok is false when either side is nil.
func compare(a, b any) (c int, ok bool, err error) {
	if a == nil || b == nil {
		return 0, false, nil
	}
	if x, ok := a.(decimal.Decimal); ok {
		if y, ok := b.(decimal.Decimal); ok {
			return x.Cmp(y), true, nil
		}
	}
	if x, ok := a.(int); ok {
		if y, ok := b.(int); ok {
			return cmpInt(int64(x), int64(y)), true, nil
		}
	}
	x, xNum, err := numberOf(a)
	if err != nil {
		return 0, false, err
	}
	y, yNum, err := numberOf(b)
	if err != nil {
		return 0, false, err
	}
	if xNum && yNum {
		return x.Cmp(y), true, nil
	}
	switch l := a.(type) {
	case string:
		if r, ok := b.(string); ok {
			return strings.Compare(l, r), true, nil
		}
	case time.Time:
		if r, ok := b.(time.Time); ok {
			return l.Compare(r), true, nil
		}
	case time.Duration:
		if r, ok := b.(time.Duration); ok {
			return cmpInt(int64(l), int64(r)), true, nil
		}
	}
	return 0, false, fmt.Errorf("cannot compare %s with %s", kindOf(a), kindOf(b))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// equal is == for expressions: numbers compare by value whatever their Go
// type (1 == 1.0), lists and objects element by element; values of
// different kinds are simply unequal. Lists can share parts (a list holding
// itself twice, nested thirty times, is small to build and huge to walk), so
// every element visited is charged to the run.
func (r *run) equal(a, b any, depth int) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	if depth > maxCompareDepth {
		return false, fmt.Errorf("values nested deeper than %d levels cannot be compared", maxCompareDepth)
	}
	if x, ok, err := numberOf(a); ok {
		y, ok2, err2 := numberOf(b)
		return err == nil && err2 == nil && ok2 && x.Equal(y), nil
	}
	switch l := a.(type) {
	case string:
		rs, ok := b.(string)
		return ok && l == rs, r.charge(len(l) / 256)
	case bool:
		rb, ok := b.(bool)
		return ok && l == rb, nil
	case time.Time:
		rt, ok := b.(time.Time)
		return ok && l.Equal(rt), nil
	case time.Duration:
		rd, ok := b.(time.Duration)
		return ok && l == rd, nil
	case map[string]any:
		rm, ok := b.(map[string]any)
		if !ok || len(l) != len(rm) {
			return emptyCollection(a) && emptyCollection(b), nil
		}
		if err := r.charge(1 + len(l)/16); err != nil {
			return false, err
		}
		for k, v := range l {
			w, ok := rm[k]
			if !ok {
				return false, nil
			}
			if eq, err := r.equal(v, w, depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	if n, ok := listLen(a); ok {
		m, ok := listLen(b)
		if !ok || n != m {
			return emptyCollection(a) && emptyCollection(b), nil
		}
		if err := r.charge(1 + n/16); err != nil {
			return false, err
		}
		for i := 0; i < n; i++ {
			if eq, err := r.equal(listAt(a, i), listAt(b, i), depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	if reflect.TypeOf(a).Comparable() && reflect.TypeOf(a) == reflect.TypeOf(b) {
		return a == b, nil
	}
	return false, nil
}

// emptyCollection is true for an empty list or object: RetailCRM sends `[]`
// for an empty object, so `customFields == {}` must hold for `[]` too.
func emptyCollection(v any) bool {
	if m, ok := v.(map[string]any); ok {
		return len(m) == 0
	}
	n, ok := listLen(v)
	return ok && n == 0
}

// truth is the condition of `and`, `or`, `not`, `?:`, `if` and predicates:
// nil counts as false (RetailCRM omits false flags such as isCanceled).
func truth(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	return false, fmt.Errorf("expected true or false, got %s", describe(v))
}

// describe names a value and shows it briefly, for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil, map[string]any:
		return kindOf(v)
	}
	if _, ok := listLen(v); ok {
		return kindOf(v)
	}
	return kindOf(v) + " " + render(v, 40)
}

// textOf converts a scalar to text for string functions and text fields.
// ok is false for values that have no text form (lists, objects).
func textOf(v any) (s string, ok bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case time.Time:
		return x.Format(time.DateTime), true
	case time.Duration:
		return x.String(), true
	}
	if d, ok, err := numberOf(v); ok && err == nil {
		return d.String(), true
	}
	return "", false
}

// render shows any value as compact JSON-like text of at most max runes,
// for issue values and error messages. Decimals appear exactly.
func render(v any, max int) string {
	var b strings.Builder
	renderTo(&b, v, 0, max*4)
	return truncateRunes(b.String(), max)
}

func renderTo(b *strings.Builder, v any, depth, limit int) {
	if b.Len() > limit {
		return
	}
	if depth > 8 {
		b.WriteString("…")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return
	case string:
		if depth == 0 {
			b.WriteString(x)
		} else {
			fmt.Fprintf(b, "%q", truncateRunes(x, limit))
		}
		return
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteByte(',')
			}
			if b.Len() > limit {
				b.WriteString("…")
				break
			}
			fmt.Fprintf(b, "%q:", k)
			renderTo(b, x[k], depth+1, limit)
		}
		b.WriteByte('}')
		return
	}
	if n, ok := listLen(v); ok {
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if b.Len() > limit {
				b.WriteString("…")
				break
			}
			renderTo(b, listAt(v, i), depth+1, limit)
		}
		b.WriteByte(']')
		return
	}
	if s, ok := textOf(v); ok {
		b.WriteString(s)
		return
	}
	fmt.Fprintf(b, "%v", v)
}

// truncateRunes cuts s to at most max runes, marking the cut with "…".
func truncateRunes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
