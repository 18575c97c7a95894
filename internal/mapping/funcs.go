package mapping

import (
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// stepBudget is how many meter units one field's evaluation may use: one per
// function call or loop iteration, more for large text and lists (see cost).
// The default mapping uses about 30 on an order with five items; a mapping
// looping over 1,000 items with a dozen operations each stays far below.
const stepBudget = 100_000

var errBudget = fmt.Errorf("evaluation budget exceeded (%d steps): the expression does too much work for one order", stepBudget)

// run is the per-evaluation state the rewritten expressions receive as @r.
// One Map call owns one run; fields are evaluated one after another and the
// meter is reset for each.
type run struct {
	used      int
	accountTZ *time.Location
}

func (r *run) charge(n int) error {
	r.used += n
	if r.used > stepBudget {
		return errBudget
	}
	return nil
}

// langFunc is a function the rewritten expressions call. Public ones are
// callable by name from user expressions (and override expr builtins of the
// same name); the others are only inserted by the patcher.
type langFunc struct {
	public   bool
	min, max int // user-visible arity; max -1 means any number
	fn       func(r *run, args []any) (any, error)
}

func (f langFunc) arity() string {
	switch {
	case f.max < 0:
		return fmt.Sprintf("expected at least %d", f.min)
	case f.min == f.max:
		return fmt.Sprintf("expected %d", f.min)
	}
	return fmt.Sprintf("expected %d to %d", f.min, f.max)
}

// call adapts fn to expr's function signature. Every call costs one step.
func (f langFunc) call(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("internal error: function called without its run")
	}
	r, ok := args[0].(*run)
	if !ok {
		return nil, errors.New("internal error: function called without its run")
	}
	if err := r.charge(1); err != nil {
		return nil, err
	}
	return f.fn(r, args[1:])
}

func internal(fn func(r *run, args []any) (any, error)) langFunc {
	return langFunc{fn: fn}
}

func public(min, max int, fn func(r *run, args []any) (any, error)) langFunc {
	return langFunc{public: true, min: min, max: max, fn: fn}
}

// langFuncs is every function by the name the rewritten trees use.
var langFuncs = map[string]langFunc{
	"@get":     internal(func(r *run, a []any) (any, error) { return get(a[0], a[1]) }),
	"@method":  internal(fnMethod),
	"@add":     internal(fnAdd),
	"@sub":     internal(fnSub),
	"@mul":     internal(mulDecimals),
	"@div":     internal(fnDiv),
	"@mod":     internal(fnMod),
	"@pow":     internal(fnPow),
	"@neg":     internal(fnNeg),
	"@pos":     internal(fnPos),
	"@eq":      internal(func(r *run, a []any) (any, error) { return r.equal(a[0], a[1], 0) }),
	"@ne":      internal(func(r *run, a []any) (any, error) { eq, err := r.equal(a[0], a[1], 0); return !eq, err }),
	"@lt":      internal(ordered(func(c int) bool { return c < 0 })),
	"@gt":      internal(ordered(func(c int) bool { return c > 0 })),
	"@le":      internal(ordered(func(c int) bool { return c <= 0 })),
	"@ge":      internal(ordered(func(c int) bool { return c >= 0 })),
	"@in":      internal(fnIn),
	"@test":    internal(func(r *run, a []any) (any, error) { return truth(a[0]) }),
	"@step":    internal(func(r *run, a []any) (any, error) { return a[0], nil }),
	"@size":    internal(func(r *run, a []any) (any, error) { return a[0], r.charge(cost(a[0])) }),
	"@list":    internal(fnList),
	"@int":     internal(fnInt),
	"@text":    internal(fnText),
	"@sum":     internal(fnSum),
	"@sortBy":  internal(fnSortBy),
	"@groupBy": internal(fnGroupBy),

	"abs":        public(1, 1, numeric(func(d decimal.Decimal, _ []any) (any, error) { return d.Abs(), nil })),
	"ceil":       public(1, 1, numeric(func(d decimal.Decimal, _ []any) (any, error) { return d.Ceil(), nil })),
	"floor":      public(1, 1, numeric(func(d decimal.Decimal, _ []any) (any, error) { return d.Floor(), nil })),
	"round":      public(1, 2, numeric(fnRound)),
	"int":        public(1, 1, fnToInt),
	"float":      public(1, 1, fnToNumber),
	"string":     public(1, 1, fnString),
	"len":        public(1, 1, fnLen),
	"max":        public(1, -1, extreme(1)),
	"min":        public(1, -1, extreme(-1)),
	"mean":       public(1, -1, fnMean),
	"median":     public(1, -1, fnMedian),
	"keys":       public(1, 1, fnKeys),
	"values":     public(1, 1, fnValues),
	"toPairs":    public(1, 1, fnToPairs),
	"uniq":       public(1, 1, fnUniq),
	"sort":       public(1, 2, fnSort),
	"get":        public(2, 2, fnGet),
	"type":       public(1, 1, fnType),
	"fromJSON":   public(1, 1, fnFromJSON),
	"join":       public(1, 2, fnJoin),
	"joinWords":  public(1, -1, fnJoinWords),
	"repeat":     public(2, 2, fnRepeat),
	"replace":    public(3, 3, fnReplace),
	"split":      public(2, 3, splitter(strings.SplitN)),
	"splitAfter": public(2, 3, splitter(strings.SplitAfterN)),
	"trim":       public(1, 2, trimmer(strings.TrimSpace, strings.Trim)),
	"trimPrefix": public(2, 2, text2(func(s, t string) any { return strings.TrimPrefix(s, t) })),
	"trimSuffix": public(2, 2, text2(func(s, t string) any { return strings.TrimSuffix(s, t) })),
	"hasPrefix":  public(2, 2, text2(func(s, t string) any { return strings.HasPrefix(s, t) })),
	"hasSuffix":  public(2, 2, text2(func(s, t string) any { return strings.HasSuffix(s, t) })),
	"indexOf":    public(2, 2, text2(func(s, t string) any { return runeIndex(s, strings.Index(s, t)) })),
	"lastIndexOf": public(2, 2, text2(func(s, t string) any {
		return runeIndex(s, strings.LastIndex(s, t))
	})),
	"upper":   public(1, 1, text1(strings.ToUpper)),
	"lower":   public(1, 1, text1(strings.ToLower)),
	"date":    public(1, 3, fnDate),
	"flatten": public(1, 1, fnFlatten),
	"now":     public(0, 0, func(r *run, _ []any) (any, error) { return time.Now().In(r.accountTZ), nil }),
}

// get is member access: a.b, a["b"], list[0]. Paths through nothing are
// nothing; PHP's `[]` (an empty list) reads as an empty object; indexes out
// of range are nothing too, so `customer.phones[0].number` needs no guard.
func get(base, key any) (any, error) {
	switch b := base.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		switch k := key.(type) {
		case string:
			return b[k], nil
		case nil:
			return nil, nil
		}
		if s, ok := textOf(key); ok {
			if _, isBool := key.(bool); !isBool {
				return b[s], nil // payments[4326]: map keys are text
			}
		}
		return nil, fmt.Errorf("cannot use %s as a field name", describe(key))
	}
	if n, ok := listLen(base); ok {
		if name, isText := key.(string); isText {
			if n == 0 {
				return nil, nil
			}
			return nil, fmt.Errorf("cannot read field %q of a list; take one element (x[0].%s) or use map(x, .%s)", name, name, name)
		}
		if key == nil {
			return nil, nil
		}
		i, err := intOf(key)
		if err != nil {
			return nil, fmt.Errorf("list index: %w", err)
		}
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return nil, nil
		}
		return listAt(base, i), nil
	}
	if name, ok := key.(string); ok {
		return nil, fmt.Errorf("cannot read field %q of %s", name, describe(base))
	}
	return nil, fmt.Errorf("cannot index %s", describe(base))
}

// fnMethod resolves x.Method for dates and durations (date(createdAt).Year()).
// Other values have no methods: decimals' methods could build unbounded
// numbers (Shift, StringFixed), and maps and lists have none.
func fnMethod(_ *run, a []any) (any, error) {
	name, _ := a[1].(string)
	switch a[0].(type) {
	case time.Time, time.Duration:
		if m := reflect.ValueOf(a[0]).MethodByName(name); m.IsValid() {
			return m.Interface(), nil
		}
	case nil:
		return nil, fmt.Errorf("cannot call %s() on nothing (nil)", name)
	}
	return nil, fmt.Errorf("%s has no method %s()", kindOf(a[0]), name)
}

func fnAdd(r *run, a []any) (any, error) {
	x, y := a[0], a[1]
	xs, xText := x.(string)
	ys, yText := y.(string)
	if (xText || x == nil) && (yText || y == nil) && (xText || yText) {
		return concat(r, xs, ys)
	}
	switch l := x.(type) {
	case time.Time:
		if d, ok := y.(time.Duration); ok {
			return l.Add(d), nil
		}
	case time.Duration:
		switch rr := y.(type) {
		case time.Duration:
			return l + rr, nil
		case time.Time:
			return rr.Add(l), nil
		}
	}
	return addDecimals(r, a)
}

func concat(r *run, a, b string) (any, error) {
	n := len(a) + len(b)
	if n > maxStringBytes {
		return nil, fmt.Errorf("text would be longer than %d bytes", maxStringBytes)
	}
	if err := r.charge(n / 256); err != nil {
		return nil, err
	}
	return a + b, nil
}

func fnSub(r *run, a []any) (any, error) {
	switch l := a[0].(type) {
	case time.Time:
		switch rr := a[1].(type) {
		case time.Time:
			return l.Sub(rr), nil
		case time.Duration:
			return l.Add(-rr), nil
		}
	case time.Duration:
		if rr, ok := a[1].(time.Duration); ok {
			return l - rr, nil
		}
	}
	return subDecimals(r, a)
}

var (
	addDecimals = arith("add", decimal.Decimal.Add)
	subDecimals = arith("subtract", decimal.Decimal.Sub)
	mulDecimals = arith("multiply", decimal.Decimal.Mul)
)

// arith applies a decimal operation. A missing operand makes the result
// missing, as a missing field is: write `x ?? 0` to count it as zero.
func arith(verb string, op func(decimal.Decimal, decimal.Decimal) decimal.Decimal) func(*run, []any) (any, error) {
	return func(_ *run, a []any) (any, error) {
		x, y, missing, err := operands(verb, a[0], a[1])
		if missing || err != nil {
			return nil, err
		}
		return checkNumber(op(x, y))
	}
}

func operands(verb string, a, b any) (x, y decimal.Decimal, missing bool, err error) {
	x, xNum, err := numberOf(a)
	if err != nil {
		return x, y, false, err
	}
	y, yNum, err := numberOf(b)
	if err != nil {
		return x, y, false, err
	}
	switch {
	case xNum && yNum:
		if _, err := checkNumber(x); err != nil {
			return x, y, false, err
		}
		_, err := checkNumber(y)
		return x, y, false, err
	case (a == nil || xNum) && (b == nil || yNum):
		return x, y, true, nil
	}
	return x, y, false, fmt.Errorf("cannot %s %s and %s", verb, describe(a), describe(b))
}

func fnDiv(_ *run, a []any) (any, error) {
	x, y, missing, err := operands("divide", a[0], a[1])
	if missing || err != nil {
		return nil, err
	}
	if y.IsZero() {
		return nil, errors.New("division by zero")
	}
	return checkNumber(x.DivRound(y, divPrecision))
}

func fnMod(_ *run, a []any) (any, error) {
	x, y, missing, err := operands("take the remainder of", a[0], a[1])
	if missing || err != nil {
		return nil, err
	}
	if y.IsZero() {
		return nil, errors.New("division by zero")
	}
	return checkNumber(x.Mod(y))
}

// fnPow supports whole exponents only: a fractional power of a decimal is
// not exact, and money never needs one.
func fnPow(r *run, a []any) (any, error) {
	x, y, missing, err := operands("raise", a[0], a[1])
	if missing || err != nil {
		return nil, err
	}
	if !y.IsInteger() || y.Abs().GreaterThan(decimal.NewFromInt(1000)) {
		return nil, fmt.Errorf("exponent must be a whole number from -1000 to 1000, got %s", y)
	}
	n := y.IntPart()
	neg := n < 0
	if neg {
		n = -n
	}
	result, base := decimal.NewFromInt(1), x
	for n > 0 {
		if err := r.charge(1); err != nil {
			return nil, err
		}
		if n&1 == 1 {
			if result, err = checkNumber(result.Mul(base)); err != nil {
				return nil, err
			}
		}
		n >>= 1
		if n > 0 {
			if base, err = checkNumber(base.Mul(base)); err != nil {
				return nil, err
			}
		}
	}
	if neg {
		if result.IsZero() {
			return nil, errors.New("division by zero")
		}
		return checkNumber(decimal.NewFromInt(1).DivRound(result, divPrecision))
	}
	return result, nil
}

func fnNeg(_ *run, a []any) (any, error) {
	switch v := a[0].(type) {
	case nil:
		return nil, nil
	case time.Duration:
		return -v, nil
	}
	d, ok, err := numberOf(a[0])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("cannot negate %s", describe(a[0]))
	}
	return checkNumber(d.Neg())
}

func fnPos(_ *run, a []any) (any, error) {
	if a[0] == nil {
		return nil, nil
	}
	d, ok, err := numberOf(a[0])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("expected a number, got %s", describe(a[0]))
	}
	return checkNumber(d)
}

// ordered implements < > <= >=. Comparing with nothing is false, so a
// condition on a missing field simply does not hold.
func ordered(holds func(int) bool) func(*run, []any) (any, error) {
	return func(r *run, a []any) (any, error) {
		c, ok, err := compare(a[0], a[1])
		if err != nil || !ok {
			return false, err
		}
		return holds(c), nil
	}
}

func fnIn(r *run, a []any) (any, error) {
	needle, hay := a[0], a[1]
	switch h := hay.(type) {
	case nil:
		return false, nil
	case map[string]any:
		if needle == nil {
			return false, nil
		}
		key, ok := textOf(needle)
		if !ok {
			return nil, fmt.Errorf("cannot look up %s in an object", describe(needle))
		}
		_, found := h[key]
		return found, nil
	}
	n, ok := listLen(hay)
	if !ok {
		return nil, fmt.Errorf("`in` needs a list or an object on the right, got %s (use contains for text)", describe(hay))
	}
	if err := r.charge(n / 16); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		if eq, err := r.equal(needle, listAt(hay, i), 0); err != nil || eq {
			return eq, err
		}
	}
	return false, nil
}

// fnList is what loops (map, filter, sum, …) iterate: nothing iterates as
// an empty list.
func fnList(r *run, a []any) (any, error) {
	v := a[0]
	if v == nil {
		return emptyList, nil
	}
	if _, ok := listLen(v); ok {
		return v, nil
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return emptyList, nil
	}
	return nil, fmt.Errorf("cannot loop over %s; use keys(x) or values(x) for an object", describe(v))
}

// intOf converts a whole number to int, for indexes and ranges.
func intOf(v any) (int, error) {
	if i, ok := v.(int); ok {
		return i, nil
	}
	d, ok, err := numberOf(v)
	if err != nil {
		return 0, err
	}
	if !ok || !d.IsInteger() || d.Abs().GreaterThan(decimal.NewFromInt(1_000_000_000)) {
		return 0, fmt.Errorf("expected a whole number, got %s", describe(v))
	}
	return int(d.IntPart()), nil
}

func fnInt(_ *run, a []any) (any, error) { return intOf(a[0]) }

// fnText feeds contains/startsWith/endsWith/matches: numbers become their
// text, nothing stays nothing (the operators are false for it).
func fnText(r *run, a []any) (any, error) {
	switch v := a[0].(type) {
	case nil:
		return nil, nil
	case string:
		return v, r.charge(len(v) / 256)
	}
	if _, ok, _ := numberOf(a[0]); ok {
		s, _ := textOf(a[0])
		return s, nil
	}
	return nil, fmt.Errorf("expected text, got %s", describe(a[0]))
}

// fnSum adds the elements of a list exactly; missing elements are skipped,
// as SQL's SUM skips NULL.
func fnSum(r *run, a []any) (any, error) {
	n, _ := listLen(a[0])
	total := decimal.Zero
	for i := 0; i < n; i++ {
		v := listAt(a[0], i)
		if v == nil {
			continue
		}
		d, ok, err := numberOf(v)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("sum: element %d is %s, not a number", i, describe(v))
		}
		if total, err = checkNumber(total.Add(d)); err != nil {
			return nil, err
		}
	}
	return total, r.charge(n / 16)
}

// sortValues sorts in place with compare; nothing sorts last.
func sortValues(r *run, vals []any, keyOf func(any) any, desc bool) error {
	if err := r.charge(len(vals) * bits.Len(uint(len(vals))) / 16); err != nil {
		return err
	}
	var failed error
	sort.SliceStable(vals, func(i, j int) bool {
		a, b := keyOf(vals[i]), keyOf(vals[j])
		if a == nil || b == nil {
			return a != nil
		}
		c, _, err := compare(a, b)
		if err != nil && failed == nil {
			failed = err
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	return failed
}

func sortOrder(a []any, i int) (bool, error) {
	if len(a) <= i || a[i] == nil {
		return false, nil
	}
	switch a[i] {
	case "asc":
		return false, nil
	case "desc":
		return true, nil
	}
	return false, fmt.Errorf("sort order must be \"asc\" or \"desc\", got %s", describe(a[i]))
}

// fnSortBy receives map(list, [#, key]) and returns the elements ordered by
// key.
func fnSortBy(r *run, a []any) (any, error) {
	desc, err := sortOrder(a, 1)
	if err != nil {
		return nil, err
	}
	pairs, _ := asList(a[0])
	pairs = slices.Clone(pairs)
	key := func(p any) any { return p.([]any)[1] }
	if err := sortValues(r, pairs, key, desc); err != nil {
		return nil, err
	}
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = p.([]any)[0]
	}
	return out, nil
}

// fnGroupBy receives map(list, [#, key]). Keys become text so that 1 and 1.0
// land in the same group and the groups read back with obj[key].
func fnGroupBy(r *run, a []any) (any, error) {
	pairs, _ := asList(a[0])
	out := make(map[string]any)
	for _, p := range pairs {
		kv := p.([]any)
		key, ok := textOf(kv[1])
		if !ok && kv[1] != nil {
			return nil, fmt.Errorf("groupBy: cannot group by %s", describe(kv[1]))
		}
		group, _ := out[key].([]any)
		out[key] = append(group, kv[0])
	}
	return out, r.charge(len(pairs) / 16)
}

func numeric(f func(decimal.Decimal, []any) (any, error)) func(*run, []any) (any, error) {
	return func(_ *run, a []any) (any, error) {
		if a[0] == nil {
			return nil, nil
		}
		d, ok, err := numberOf(a[0])
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("expected a number, got %s", describe(a[0]))
		}
		return f(d, a[1:])
	}
}

// fnRound rounds half away from zero: round(x) to a whole number,
// round(x, 2) to kopecks.
func fnRound(d decimal.Decimal, rest []any) (any, error) {
	places := 0
	if len(rest) > 0 {
		p, err := intOf(rest[0])
		if err != nil || p < -maxNumberExp || p > maxNumberExp {
			return nil, fmt.Errorf("round: places must be a whole number from -%d to %d", maxNumberExp, maxNumberExp)
		}
		places = p
	}
	return d.Round(int32(places)), nil
}

// fnToInt truncates toward zero; text is parsed like a field value.
func fnToInt(r *run, a []any) (any, error) {
	v, err := fnToNumber(r, a)
	if err != nil || v == nil {
		return v, err
	}
	return v.(decimal.Decimal).Truncate(0), nil
}

// fnToNumber is float(x): numbers stay exact decimals, text is parsed with
// ParseDecimal.
func fnToNumber(_ *run, a []any) (any, error) {
	if a[0] == nil {
		return nil, nil
	}
	d, err := ParseDecimal(a[0])
	if err != nil {
		return nil, err
	}
	return d, nil
}

func fnString(r *run, a []any) (any, error) {
	if a[0] == nil {
		return "", nil
	}
	s, ok := textOf(a[0])
	if !ok {
		return nil, fmt.Errorf("string() needs a single value, got %s; use join() for a list", kindOf(a[0]))
	}
	return s, nil
}

// fnLen counts characters of text (not bytes) and entries of lists and
// objects; nothing has length 0.
func fnLen(r *run, a []any) (any, error) {
	switch v := a[0].(type) {
	case nil:
		return 0, nil
	case string:
		return utf8.RuneCountInString(v), r.charge(len(v) / 256)
	case map[string]any:
		return len(v), nil
	}
	if n, ok := listLen(a[0]); ok {
		return n, nil
	}
	return nil, fmt.Errorf("len: expected text, a list or an object, got %s", describe(a[0]))
}

// spread turns f(list) and f(a, b, c) into one list of values.
func spread(a []any) []any {
	if len(a) == 1 {
		if l, ok := asList(a[0]); ok {
			return l
		}
	}
	return a
}

// extreme is max (sign 1) and min (sign -1) over numbers, text or dates;
// nothing is skipped, and an empty input gives nothing.
func extreme(sign int) func(*run, []any) (any, error) {
	return func(r *run, a []any) (any, error) {
		vals := spread(a)
		if err := r.charge(len(vals) / 16); err != nil {
			return nil, err
		}
		var best any
		for _, v := range vals {
			if v == nil {
				continue
			}
			if best == nil {
				if _, _, err := compare(v, v); err != nil {
					return nil, err
				}
				best = v
				continue
			}
			c, _, err := compare(v, best)
			if err != nil {
				return nil, err
			}
			if c*sign > 0 {
				best = v
			}
		}
		return best, nil
	}
}

func numbers(r *run, a []any) ([]decimal.Decimal, error) {
	vals := spread(a)
	if err := r.charge(len(vals) / 16); err != nil {
		return nil, err
	}
	out := make([]decimal.Decimal, 0, len(vals))
	for _, v := range vals {
		if v == nil {
			continue
		}
		d, ok, err := numberOf(v)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("expected numbers, got %s", describe(v))
		}
		out = append(out, d)
	}
	return out, nil
}

func fnMean(r *run, a []any) (any, error) {
	ds, err := numbers(r, a)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	total := decimal.Zero
	for _, d := range ds {
		if total, err = checkNumber(total.Add(d)); err != nil {
			return nil, err
		}
	}
	return total.DivRound(decimal.NewFromInt(int64(len(ds))), divPrecision), nil
}

func fnMedian(r *run, a []any) (any, error) {
	ds, err := numbers(r, a)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	slices.SortFunc(ds, decimal.Decimal.Cmp)
	mid := len(ds) / 2
	if len(ds)%2 == 1 {
		return ds[mid], nil
	}
	return ds[mid-1].Add(ds[mid]).DivRound(decimal.NewFromInt(2), divPrecision), nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// object reads an object argument; `[]` and nothing are empty objects.
func object(r *run, v any, fn string) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, r.charge(len(m) / 16)
	}
	if v == nil || emptyCollection(v) {
		return nil, nil
	}
	return nil, fmt.Errorf("%s: expected an object, got %s", fn, describe(v))
}

// fnKeys, fnValues and fnToPairs go in key order: Go's map order is random,
// and a mapping must give the same tags on every import.
func fnKeys(r *run, a []any) (any, error) {
	m, err := object(r, a[0], "keys")
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, k)
	}
	return out, nil
}

func fnValues(r *run, a []any) (any, error) {
	m, err := object(r, a[0], "values")
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out, nil
}

func fnToPairs(r *run, a []any) (any, error) {
	m, err := object(r, a[0], "toPairs")
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, []any{k, m[k]})
	}
	return out, nil
}

// uniqKey is a canonical key for scalars, so 1 and 1.0 are one value.
func uniqKey(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "z", true
	case string:
		return "s" + x, true
	case bool:
		return "b" + strconv.FormatBool(x), true
	}
	if d, ok, err := numberOf(v); ok && err == nil {
		return "n" + d.String(), true
	}
	return "", false
}

func fnUniq(r *run, a []any) (any, error) {
	vals, ok := asList(a[0])
	if !ok {
		if a[0] == nil {
			return emptyList, nil
		}
		return nil, fmt.Errorf("uniq: expected a list, got %s", describe(a[0]))
	}
	if err := r.charge(len(vals) / 16); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(vals))
	var others []any
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		if k, ok := uniqKey(v); ok {
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
			continue
		}
		dup := false
		for _, o := range others {
			eq, err := r.equal(o, v, 0)
			if err != nil {
				return nil, err
			}
			if dup = eq; dup {
				break
			}
		}
		if !dup {
			others = append(others, v)
			out = append(out, v)
		}
	}
	return out, nil
}

func fnSort(r *run, a []any) (any, error) {
	desc, err := sortOrder(a, 1)
	if err != nil {
		return nil, err
	}
	vals, ok := asList(a[0])
	if !ok {
		if a[0] == nil {
			return emptyList, nil
		}
		return nil, fmt.Errorf("sort: expected a list, got %s", describe(a[0]))
	}
	vals = slices.Clone(vals)
	if err := sortValues(r, vals, func(v any) any { return v }, desc); err != nil {
		return nil, err
	}
	return vals, nil
}

// fnGet is get(x, key): like x[key], but never an error.
func fnGet(_ *run, a []any) (any, error) {
	v, err := get(a[0], a[1])
	if err != nil {
		return nil, nil
	}
	return v, nil
}

func fnType(_ *run, a []any) (any, error) {
	switch a[0].(type) {
	case nil:
		return "nil", nil
	case string:
		return "string", nil
	case bool:
		return "bool", nil
	case map[string]any:
		return "map", nil
	case time.Time:
		return "time", nil
	case time.Duration:
		return "duration", nil
	}
	if _, ok, _ := numberOf(a[0]); ok {
		return "number", nil
	}
	if _, ok := listLen(a[0]); ok {
		return "array", nil
	}
	return fmt.Sprintf("%T", a[0]), nil
}

// fnFromJSON parses JSON text with the order decoder, so its numbers are
// exact decimals too.
func fnFromJSON(r *run, a []any) (any, error) {
	if a[0] == nil {
		return nil, nil
	}
	s, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("fromJSON: expected text, got %s", describe(a[0]))
	}
	if err := r.charge(len(s) / 64); err != nil {
		return nil, err
	}
	return decodeJSON([]byte(s))
}

// textArg reads a text argument: numbers become their text, nothing is
// reported with ok=false so callers can return nothing.
func textArg(v any, fn string) (s string, ok bool, err error) {
	if v == nil {
		return "", false, nil
	}
	s, ok = textOf(v)
	if !ok {
		return "", false, fmt.Errorf("%s: expected text, got %s", fn, describe(v))
	}
	return s, true, nil
}

func fnJoin(r *run, a []any) (any, error) {
	if a[0] == nil {
		return "", nil
	}
	vals, ok := asList(a[0])
	if !ok {
		return nil, fmt.Errorf("join: expected a list, got %s", describe(a[0]))
	}
	sep := ""
	if len(a) > 1 && a[1] != nil {
		if sep, ok = a[1].(string); !ok {
			return nil, fmt.Errorf("join: the separator must be text, got %s", describe(a[1]))
		}
	}
	parts := make([]string, 0, len(vals))
	size := 0
	for _, v := range vals {
		if v == nil {
			continue
		}
		s, ok := textOf(v)
		if !ok {
			return nil, fmt.Errorf("join: cannot join %s", describe(v))
		}
		size += len(s) + len(sep)
		if size > maxStringBytes {
			return nil, fmt.Errorf("join: text would be longer than %d bytes", maxStringBytes)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, sep), r.charge(size/256 + len(vals)/16)
}

// fnJoinWords joins the non-empty values, each trimmed, with one space:
// joinWords(lastName, firstName, patronymic).
func fnJoinWords(r *run, a []any) (any, error) {
	parts := make([]string, 0, len(a))
	size := 0
	for _, v := range a {
		s, ok, err := textArg(v, "joinWords")
		if err != nil {
			return nil, err
		}
		if s = strings.TrimSpace(s); ok && s != "" {
			size += len(s) + 1
			parts = append(parts, s)
		}
	}
	if size > maxStringBytes {
		return nil, fmt.Errorf("joinWords: text would be longer than %d bytes", maxStringBytes)
	}
	return strings.Join(parts, " "), r.charge(size / 256)
}

func fnRepeat(r *run, a []any) (any, error) {
	s, ok, err := textArg(a[0], "repeat")
	if err != nil || !ok {
		return nil, err
	}
	n, err := intOf(a[1])
	if err != nil || n < 0 {
		return nil, fmt.Errorf("repeat: count must be a whole number ≥ 0, got %s", describe(a[1]))
	}
	if n > 0 && len(s) > maxStringBytes/n {
		return nil, fmt.Errorf("repeat: text would be longer than %d bytes", maxStringBytes)
	}
	return strings.Repeat(s, n), r.charge(len(s) * n / 256)
}

func fnReplace(r *run, a []any) (any, error) {
	s, ok, err := textArg(a[0], "replace")
	if err != nil || !ok {
		return nil, err
	}
	old, _, err := textArg(a[1], "replace")
	if err != nil {
		return nil, err
	}
	repl, _, err := textArg(a[2], "replace")
	if err != nil {
		return nil, err
	}
	count := strings.Count(s, old)
	if size := len(s) + count*(len(repl)-len(old)); size > maxStringBytes {
		return nil, fmt.Errorf("replace: text would be longer than %d bytes", maxStringBytes)
	}
	out := strings.ReplaceAll(s, old, repl)
	return out, r.charge((len(s) + len(out)) / 256)
}

func splitter(split func(s, sep string, n int) []string) func(*run, []any) (any, error) {
	return func(r *run, a []any) (any, error) {
		s, ok, err := textArg(a[0], "split")
		if err != nil || !ok {
			return nil, err
		}
		sep, ok := a[1].(string)
		if !ok {
			return nil, fmt.Errorf("split: the separator must be text, got %s", describe(a[1]))
		}
		n := -1
		if len(a) > 2 {
			if n, err = intOf(a[2]); err != nil {
				return nil, fmt.Errorf("split: %w", err)
			}
		}
		// Count before splitting: split(s, "") of a long text would make a
		// string per character before the meter could object.
		count := strings.Count(s, sep) + 1
		if n > 0 {
			count = min(count, n)
		}
		if count > vmMemoryBudget {
			return nil, fmt.Errorf("split: more than %d parts", vmMemoryBudget)
		}
		if err := r.charge(len(s)/256 + count/4); err != nil {
			return nil, err
		}
		parts := split(s, sep, n)
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	}
}

func trimmer(space func(string) string, cut func(string, string) string) func(*run, []any) (any, error) {
	return func(r *run, a []any) (any, error) {
		s, ok, err := textArg(a[0], "trim")
		if err != nil || !ok {
			return nil, err
		}
		if err := r.charge(len(s) / 256); err != nil {
			return nil, err
		}
		if len(a) < 2 || a[1] == nil {
			return space(s), nil
		}
		set, ok := a[1].(string)
		if !ok {
			return nil, fmt.Errorf("trim: the characters to cut must be text, got %s", describe(a[1]))
		}
		return cut(s, set), nil
	}
}

func text1(f func(string) string) func(*run, []any) (any, error) {
	return func(r *run, a []any) (any, error) {
		s, ok, err := textArg(a[0], "text function")
		if err != nil || !ok {
			return nil, err
		}
		return f(s), r.charge(len(s) / 128)
	}
}

// text2 is a function of two texts; with nothing in either it gives nothing.
func text2(f func(s, t string) any) func(*run, []any) (any, error) {
	return func(r *run, a []any) (any, error) {
		s, ok, err := textArg(a[0], "text function")
		if err != nil || !ok {
			return nil, err
		}
		t, ok, err := textArg(a[1], "text function")
		if err != nil || !ok {
			return nil, err
		}
		return f(s, t), r.charge(len(s) / 256)
	}
}

// runeIndex converts a byte index to a character index, as indexOf promises.
func runeIndex(s string, i int) int {
	if i < 0 {
		return i
	}
	return utf8.RuneCountInString(s[:i])
}

// fnDate is date(value[, layout[, zone]]). Without a layout it reads the
// formats an order date may have (see ParseOrderDate); text without an
// offset is in the zone given, else in the RetailCRM account's zone.
func fnDate(r *run, a []any) (any, error) {
	loc := r.accountTZ
	if len(a) > 2 && a[2] != nil {
		name, ok := a[2].(string)
		if !ok {
			return nil, fmt.Errorf("date: the zone must be text, got %s", describe(a[2]))
		}
		var err error
		if loc, err = loadZone(name); err != nil {
			return nil, fmt.Errorf("date: %w", err)
		}
	}
	if len(a) > 1 && a[1] != nil {
		layout, ok := a[1].(string)
		if !ok {
			return nil, fmt.Errorf("date: the layout must be text, got %s", describe(a[1]))
		}
		s, ok := a[0].(string)
		if !ok {
			return nil, fmt.Errorf("date: expected text to parse, got %s", describe(a[0]))
		}
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return nil, fmt.Errorf("date: %w", err)
		}
		return t, nil
	}
	if a[0] == nil {
		return nil, nil
	}
	t, err := ParseOrderDate(a[0], loc)
	if err != nil {
		return nil, fmt.Errorf("date: %w", err)
	}
	return t.In(loc), nil
}

// zones caches time.LoadLocation, which reads the zone database on every
// call. Names come from expressions, so the cache stays small; it is capped
// in case it does not.
var zones struct {
	sync.Mutex
	m map[string]*time.Location
}

func loadZone(name string) (*time.Location, error) {
	zones.Lock()
	defer zones.Unlock()
	if loc, ok := zones.m[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	if zones.m == nil || len(zones.m) > 256 {
		zones.m = make(map[string]*time.Location)
	}
	zones.m[name] = loc
	return loc, nil
}

// fnFlatten is expr's flatten with every element visited charged to the
// run: a list that holds itself twice, nested thirty times, is cheap to
// build and has a billion leaves.
func fnFlatten(r *run, a []any) (any, error) {
	if a[0] == nil {
		return emptyList, nil
	}
	if _, ok := listLen(a[0]); !ok {
		return nil, fmt.Errorf("flatten: expected a list, got %s", describe(a[0]))
	}
	var out []any
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		n, ok := listLen(v)
		if !ok {
			out = append(out, v)
			return nil
		}
		if depth > maxCompareDepth {
			return fmt.Errorf("flatten: lists nested deeper than %d levels", maxCompareDepth)
		}
		if err := r.charge(1 + n/16); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := walk(listAt(v, i), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(a[0], 0); err != nil {
		return nil, err
	}
	if out == nil {
		return emptyList, nil
	}
	return out, nil
}
