package mapping

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// langOrder is a synthetic order with the shapes the language must handle:
// money that float64 gets wrong, fractional and canceled lines, PHP's `[]`
// for empty objects, payments keyed by id, absent and empty fields.
const langOrder = `{
	"id": 7141, "number": "7141C", "createdAt": "2021-02-25 09:37:48",
	"totalSumm": 1395.16, "purchaseSumm": 1000.5, "summ": 779,
	"delivery": {"cost": 616.16, "netCost": 100.25},
	"customFields": [], "customer": {"tags": [{"name": "vip"}], "phones": []},
	"items": [
		{"quantity": 1.5, "initialPrice": 100},
		{"quantity": 2, "isCanceled": true, "initialPrice": 50},
		{"quantity": 0.25, "initialPrice": 10}
	],
	"payments": {"4326": {"amount": 1395.16}},
	"firstName": "Иван", "lastName": " Иванов ", "comment": null, "email": "", "flag": true
}`

func evalExpr(t testing.TB, src, order string) (any, error) {
	t.Helper()
	prog, _, ferr := compileExpr(src)
	if ferr != nil {
		t.Fatalf("compile %q: %v", src, ferr)
	}
	obj, err := decodeJSON([]byte(order))
	if err != nil {
		t.Fatal(err)
	}
	r := &run{accountTZ: mustZone(t, "Europe/Moscow")}
	return eval(prog, map[string]any{envOrder: obj, envRun: r})
}

func TestExpressions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string // want: render() of the value
	}{
		// Exact decimal arithmetic.
		{"totalSumm - purchaseSumm", "394.66"},
		{"1395.16 - 1000.5", "394.66"},
		{"0.1 + 0.2", "0.3"},
		{"0.1 + 0.2 == 0.3", "true"},
		{"totalSumm * 3", "4185.48"},
		{"totalSumm / 4", "348.79"},
		{"1 / 3", "0.3333333333333333"},
		{"10 % 3", "1"},
		{"2 ** 10", "1024"},
		{"2 ^ -1", "0.5"},
		{"-totalSumm", "-1395.16"},
		{"-(-5)", "5"},
		{"+summ", "779"},
		{"(totalSumm ?? 0) - (purchaseSumm ?? 0) - (delivery.netCost ?? 0)", "294.41"},
		{"totalSumm - nothing", "null"}, // missing stays missing
		{"(totalSumm ?? 0) - (nothing ?? 0)", "1395.16"},
		// Comparisons.
		{"totalSumm > purchaseSumm", "true"},
		{"1.0 == 1", "true"},
		{"totalSumm >= 1395.16", "true"},
		{"'a' < 'b'", "true"},
		{"nothing > 0", "false"},
		{"nothing == nil", "true"},
		{"customFields == {}", "true"},
		{"[1, 'a'] == [1.0, 'a']", "true"},
		// Nil-safe paths, PHP [] as an empty object, indexes.
		{"customFields.k50_sid", "null"},
		{"customFields['multi-dictionary']", "null"},
		{"customFields.k50_sid ?? 'none'", "none"},
		{"delivery.netCost", "100.25"},
		{"nothing.deeper.still", "null"},
		{"customer.phones[0].number", "null"},
		{"items[0].quantity", "1.5"},
		{"items[-1].quantity", "0.25"},
		{"items[9]", "null"},
		{"payments[4326].amount", "1395.16"},
		{"payments['4326'].amount", "1395.16"},
		{"$env.number", "7141C"},
		{"$env['id']", "7141"},
		{"let x = totalSumm; x - 1000", "395.16"},
		// Loops and aggregates.
		{"sum(items, .quantity)", "3.75"},
		{"sum(filter(items, .isCanceled != true), .quantity)", "1.75"},
		{"sum(map(items, .quantity * .initialPrice))", "252.5"},
		{"sum(nothing, .quantity)", "0"},
		{"count(items, .isCanceled)", "1"},
		{"max(map(items, .initialPrice))", "100"},
		{"min(map(items, .initialPrice))", "10"},
		{"max(1, 2.5, nil)", "2.5"},
		{"mean(map(items, .initialPrice))", "53.3333333333333333"},
		{"median([3, 1, 2])", "2"},
		{"sortBy(items, .initialPrice)[0].initialPrice", "10"},
		{"sortBy(items, .initialPrice, 'desc')[0].initialPrice", "100"},
		{"len(groupBy(items, .isCanceled == true)['true'])", "1"},
		{"uniq([1, 1.0, '1', 2])", `[1,"1",2]`},
		{"sort([3, 1.5, 2])", "[1.5,2,3]"},
		{"flatten([[1, [2]], 3])", "[1,2,3]"},
		{"map(1..3, # * 0.5)", "[0.5,1,1.5]"},
		{"reduce(items, #acc + .quantity, 0)", "3.75"},
		{"'vip' in map(customer.tags, .name)", "true"},
		{"7141 in [7141.0]", "true"},
		{"'4326' in payments", "true"},
		{"1 in nothing", "false"},
		{"keys(payments)", `["4326"]`},
		{"keys(customFields)", "[]"},
		{"values({b: 2, a: 1})", "[1,2]"},
		{"toPairs({b: 2, a: 1})", `[["a",1],["b",2]]`},
		// Number helpers.
		{"abs(-2.5)", "2.5"},
		{"round(2.345, 2)", "2.35"},
		{"round(2.5)", "3"},
		{"round(-2.5)", "-3"},
		{"round(totalSumm / 3, 2)", "465.05"},
		{"ceil(1.2)", "2"},
		{"floor(-1.2)", "-2"},
		{"int(2.9)", "2"},
		{"int('2.9')", "2"},
		{"float('1 234,50')", "1234.5"},
		{"abs(nothing)", "null"},
		// Text.
		{"joinWords(lastName, firstName, patronymic)", "Иванов Иван"},
		{"lastName + firstName", " Иванов Иван"},
		{"firstName + nothing", "Иван"},
		{"string(totalSumm)", "1395.16"},
		{"string(nothing)", ""},
		{"len('Иван')", "4"},
		{"len(items)", "3"},
		{"len(nothing)", "0"},
		{"upper(firstName)", "ИВАН"},
		{"upper(nothing)", "null"},
		{"trim(lastName)", "Иванов"},
		{"split('a,b', ',')", `["a","b"]`},
		{"replace('aaa', 'a', 'b')", "bbb"},
		{"repeat('ab', 3)", "ababab"},
		{"join(['a', 1, nil], '-')", "a-1"},
		{"indexOf('Иван', 'ан')", "2"},
		{"hasPrefix(number, '71')", "true"},
		{"number startsWith '71'", "true"},
		{"id startsWith '71'", "true"},
		{"nothing contains 'x'", "false"},
		{"firstName matches '^И'", "true"},
		{"type(totalSumm)", "number"},
		{"fromJSON('{\"a\": 1.10}').a", "1.1"},
		{"fromJSON('[0.1]')[0] + 0.2", "0.3"},
		// Conditions: nothing is false.
		{"items[0].isCanceled ? 1 : 2", "2"},
		{"not items[1].isCanceled", "false"},
		{"!items[0].isCanceled", "true"},
		{"flag and nothing", "false"},
		{"nothing or flag", "true"},
		{"if email == '' { 'no email' } else { email }", "no email"},
		// Dates in the account's zone.
		{"date(createdAt).Year()", "2021"},
		{"date(createdAt).Hour()", "9"},
		{"date(createdAt).Month() == 2", "true"},
		{"date(createdAt).Weekday() + 1", "5"},
		{"date('2021-02-25T09:37:48Z').Hour()", "12"},
		{"date('25.02.2021', '02.01.2006').Day()", "25"},
		{"date(createdAt) + duration('1h') > date(createdAt)", "true"},
		{"(date(createdAt) - date('2021-02-24 09:37:48')).Hours()", "24"},
	}
	for _, tt := range tests {
		got, err := evalExpr(t, tt.expr, langOrder)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if s := render(got, 200); s != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, s, tt.want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string // want: part of the error
	}{
		{"totalSumm + number", "cannot add a number 1395.16 and text 7141C"},
		{"firstName * 2", "cannot multiply text"},
		{"-firstName", "cannot negate text"},
		{"totalSumm < firstName", "cannot compare a number with text"},
		{"items.quantity", `cannot read field "quantity" of a list`},
		{"firstName.x", `cannot read field "x" of text`},
		{"totalSumm.Shift(100)", "a number has no method Shift()"},
		{"1 / 0", "division by zero"},
		{"2 ** 0.5", "whole number"},
		{"10 ** 1000", "out of range"},
		{"totalSumm ? 1 : 2", "expected true or false, got a number"},
		{"filter(items, .quantity)", "expected true or false"},
		{"string(items)", "use join()"},
		{"sum(['a'])", "not a number"},
		{"sort([1, 'a'])", "cannot compare"},
		{"map(payments, #)", "cannot loop over an object"},
		{"float('12 руб')", "Not a number"},
		{"date('yesterday')", "Expected a date as YYYY-MM-DD"},
		{"date(createdAt, '2006', 'Mars/Olympus')", "unknown time zone"},
		{"repeat('x', -1)", "count must be"},
		{"'x' in 'xyz'", "use contains for text"},
		{"strings.Repeat('x', 2)", "cannot call Repeat() on nothing"},
	}
	for _, tt := range tests {
		got, err := evalExpr(t, tt.expr, langOrder)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s = %v, %v; want an error containing %q", tt.expr, render(got, 40), err, tt.want)
		}
	}
}

// TestHostileExpressionsStop runs expressions written to exhaust a worker:
// each must stop with an error.
func TestHostileExpressionsStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string
	}{
		{"map(1..100000000, #)", "memory budget exceeded"},
		{"let r = 1..1000; count(r, count(r, count(r, true) > 0) > 0)", "evaluation budget exceeded"},
		{"let r = 1..50000; map(r, map(r, #))", "budget exceeded"},
		{"reduce(1..99999, #acc + 1, 0)", "evaluation budget exceeded"},
		{"reduce(1..100, #acc + #acc, 'x')", "text would be longer"},
		{"repeat(repeat('x', 1000), 100000)", "text would be longer"},
		{"let s = repeat('x', 1000000); count(1..50000, upper(s) != '')", "evaluation budget exceeded"},
		{"let s = repeat('x', 1000000); count(1..50000, s == s)", "evaluation budget exceeded"},
		{"let s = repeat('x', 1000000); count(1..50000, s contains 'y')", "evaluation budget exceeded"},
		{"let s = repeat('x', 1000000); count(1..50000, len(split(s, '')) > 0)", "split: more than 100000 parts"},
		{"let s = repeat('x', 50000); count(1..50000, len(split(s, '')) > 0)", "evaluation budget exceeded"},
		{"flatten(reduce(1..40, [#acc, #acc], [1]))", "evaluation budget exceeded"},
		{"let x = reduce(1..40, [#acc, #acc], [1]); x == x", "evaluation budget exceeded"},
		{"reduce(1..30, #acc * #acc, 2)", "out of range"},
		{"sort(1..99999)", "evaluation budget exceeded"},
		{"let r = 1..99999; uniq(map(r, [#]))", "memory budget exceeded"},
		{"let r = 1..50000; count(r, # in r)", "evaluation budget exceeded"},
		{"fromJSON(repeat('[', 10000))", "nested deeper"},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := evalExpr(t, tt.expr, langOrder)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.expr, err, tt.want)
		}
		t.Logf("%-70s stopped after %v", tt.expr, time.Since(start))
	}
}

func TestCompileRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, want string
		line, col  int
	}{
		{"totalSumm -", "unexpected token EOF", 1, 11},
		{"totalSumm +\n  * 2", "unexpected token Operator(\"*\")", 2, 3},
		{"toJSON(items)", "unknown function toJSON", 1, 1},
		{"frobnicate(1)", "unknown function frobnicate", 1, 1},
		{"id + round()", "round: wrong number of arguments (0; expected 1 to 2)", 1, 6},
		{strings.Repeat("1+", 600) + "1", "exceeds maximum allowed nodes", 0, 0},
		{strings.Repeat("x", maxExprChars+1), "", 1, 1},
	}
	for _, tt := range tests {
		_, _, ferr := compileExpr(tt.expr)
		if ferr == nil {
			t.Errorf("%q compiled, want an error", truncateRunes(tt.expr, 40))
			continue
		}
		code := "expression_invalid"
		if tt.want == "" {
			code = "expression_too_long"
		}
		if ferr.Msg.Code != code || !strings.Contains(ferr.Msg.Detail, tt.want) {
			t.Errorf("%q: message %+v, want %s with %q", truncateRunes(tt.expr, 40), ferr.Msg, code, tt.want)
		}
		if code == "expression_invalid" && (ferr.Msg.Arg("line") != strconv.Itoa(ferr.Line) || ferr.Msg.Arg("column") != strconv.Itoa(ferr.Column)) {
			t.Errorf("%q: message %+v is not at %d:%d", truncateRunes(tt.expr, 40), ferr.Msg, ferr.Line, ferr.Column)
		}
		if tt.line > 0 && (ferr.Line != tt.line || (tt.col > 0 && ferr.Column != tt.col)) {
			t.Errorf("%q: at %d:%d, want %d:%d", truncateRunes(tt.expr, 40), ferr.Line, ferr.Column, tt.line, tt.col)
		}
	}
}
