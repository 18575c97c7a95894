package mapping

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"+7 (912) 345-67-89", "8 912 345 67 89", "89123456789", "9123456789", "(495) 056-7970",
		"+44 20 7946 0958", "8 912 345 67 89 доб. 12", "79123456789, 89161234567", "7900000000", "",
		"89123456789 89161234567", "+8 912 345 67 89", "тел. 8 (912) 345-67-89", "((79123456789))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizePhone(s)
		if err != nil {
			if out != "" {
				t.Fatalf("NormalizePhone(%q) = %q with error %v", s, out, err)
			}
			return
		}
		if out == "" {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("NormalizePhone(%q) = \"\" without an error", s)
			}
			return
		}
		if len(out) < 5 || len(out) > 17 || strings.Trim(out, "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q, not 5–17 digits", s, out)
		}
		if again, err := NormalizePhone("+" + out); again != out || err != nil {
			t.Fatalf("NormalizePhone(%q) = %q, but NormalizePhone(+%s) = %q, %v", s, out, out, again, err)
		}
		if fast, ok := russianNumber(strings.TrimSpace(s)); ok {
			if slow, _ := parsePhone(strings.TrimSpace(s)); slow != fast {
				t.Fatalf("%q: shortcut %q, libphonenumber %q", s, fast, slow)
			}
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		" Andrey@Andrey.RU ", "почта@пример.рф", "user+tag@mail.ru", "admin@mail", "a@b.ru, c@d.ru",
		"Name <user@mail.ru>", "user@xn--p1ai.xn--p1ai", "", "ǅ@ǅǅ.ǅǅ", "İ@x.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeEmail(s)
		if err != nil {
			if out != "" {
				t.Fatalf("NormalizeEmail(%q) = %q with error %v", s, out, err)
			}
			return
		}
		if out == "" {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("NormalizeEmail(%q) = \"\" without an error", s)
			}
			return
		}
		if !validEmail(out) || strings.Count(out, "@") != 1 || len(out) > maxEmailLen {
			t.Fatalf("NormalizeEmail(%q) = %q, not a valid address", s, out)
		}
		if again, err := NormalizeEmail(out); again != out || err != nil {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v", s, out, out, again, err)
		}
	})
}

// FuzzMap compiles an arbitrary expression into three fields of different
// kinds and maps an arbitrary order with it. Nothing may panic; a compile
// failure must be a *CompileError; results must keep the Result's
// promises; and building only the parts of the order the expressions read
// must give the same result as building all of it.
func FuzzMap(f *testing.F) {
	orders := fixtureOrders(f)
	exprs := []string{
		"", "id", "totalSumm - purchaseSumm", "customFields.k50_sid", "delivery.netCost ?? 0",
		"sum(filter(items, .isCanceled != true), .quantity)", "map(customer.tags, .name)",
		"joinWords(lastName, firstName, patronymic)", "find(items, .id > 0).offer.name",
		"sortBy(items, .initialPrice, 'desc')[0]", "keys($env)", "let r = 1..1000; count(r, count(r, true) > 0)",
		"reduce(1..100, #acc + #acc, 'x')", "groupBy(items, .quantity)", "date(createdAt).Hour()",
		"items | filter(.quantity >= 1) | map(.offer.name)", "sum(items, sum(.prices, .price * .quantity))",
		"let x = items; x[0].offer.id", "customer.phones[0].number + phone",
	}
	for i, e := range exprs {
		f.Add(e, []byte(orders[i%len(orders)].raw))
	}
	f.Add("number", []byte(`{"id": 1, "number": "x", "createdAt": "2021-01-01", "customFields": []}`))
	f.Add("a.b[0]", []byte(`[]`))
	env := Env{AccountTZ: moscow}
	f.Fuzz(func(t *testing.T, expr string, order []byte) {
		m, err := Compile(map[string]string{FieldComment: expr, FieldProfit: expr, FieldTags: expr})
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("Compile(%q): %v is not a *CompileError", expr, err)
			}
			for _, fe := range ce.Errors {
				if fe.Field == "" || fe.Msg.Code == "" {
					t.Fatalf("Compile(%q): %+v lacks the field or the message", expr, fe)
				}
			}
			if m, err = Compile(nil); err != nil {
				t.Fatal(err)
			}
		}
		res := m.Map(order, env)
		if !res.Rejected {
			if res.Order.OrderID == "" || res.Order.OrderDate.IsZero() || res.Date == "" {
				t.Fatalf("accepted without a required field: %+v", res.Order)
			}
		} else if len(res.Issues) == 0 {
			t.Fatal("rejected without an issue")
		}
		for _, is := range res.Issues {
			if utf8.RuneCountInString(is.Value) > maxIssueValue+1 || is.Msg.Code == "" || !utf8.ValidString(is.Value) ||
				is.OrderID != res.Order.OrderID {
				t.Fatalf("issue %+v", is)
			}
		}
		if len(res.Order.Tags) > maxTags || utf8.RuneCountInString(res.Order.Comment) > maxCommentLen {
			t.Fatalf("caps not applied: %d tags, comment of %d characters", len(res.Order.Tags), utf8.RuneCountInString(res.Order.Comment))
		}
		if strings.Contains(expr, "now") {
			return // not repeatable
		}
		whole := *m
		whole.reads = nil
		if other := whole.Map(order, env); !reflect.DeepEqual(res, other) {
			t.Fatalf("projected decoding differs:\n%+v\n%+v", res, other)
		}
	})
}
