package mapping

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"

	"orderimport/internal/locale"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		// The shapes of one Russian mobile number.
		{in: "+7 (912) 345-67-89", want: "79123456789"},
		{in: "8 912 345 67 89", want: "79123456789"},
		{in: "89123456789", want: "79123456789"},
		{in: "9123456789", want: "79123456789"},
		{in: "79123456789", want: "79123456789"},
		{in: "+79123456789", want: "79123456789"},
		{in: "8(912)345-67-89", want: "79123456789"},
		{in: "  +7 912 345.67.89  ", want: "79123456789"},
		// Landlines, as in the fixtures.
		{in: "(495) 056-7970", want: "74950567970"},
		{in: "+7 495 056 79 70", want: "74950567970"},
		{in: "84950567970", want: "74950567970"},
		{in: "+79515151515", want: "79515151515"},
		{in: "9515120000", want: "79515120000"},
		// Foreign numbers keep their own country code.
		{in: "+44 20 7946 0958", want: "442079460958"},
		{in: "+380 44 123 4567", want: "380441234567"},
		{in: "+1 212 555 0123", want: "12125550123"},
		{in: "+7 701 123 4567", want: "77011234567"}, // Kazakhstan shares +7
		{in: "810 44 20 7946 0958", want: "442079460958"},
		// Extensions are dropped.
		{in: "8 912 345 67 89 доб. 12", want: "79123456789"},
		{in: "+7 912 345-67-89 ext 5", want: "79123456789"},
		{in: "+7 (495) 056-79-70 #123", want: "74950567970"},
		// Several numbers: the first valid one.
		{in: "79123456789, 89161234567", want: "79123456789"},
		{in: "89123456789; +7 916 123 45 67", want: "79123456789"},
		{in: "+7 495 056 79 70 / 8 912 345 67 89", want: "74950567970"},
		{in: "12345, 8 916 123 45 67", want: "79161234567"},
		{in: "89123456789 89161234567", want: "79123456789"},
		{in: "8 912 345 67 89 8 916 123 45 67", want: "79123456789"},
		{in: "тел. 8 (912) 345-67-89", want: "79123456789"},
		// Nothing to normalise.
		{in: "", want: ""},
		{in: "   ", want: ""},
		// Not phone numbers.
		{in: "7900000000", wantErr: true}, // the history fixture's placeholder
		{in: "12345", wantErr: true},
		{in: "not a phone", wantErr: true},
		{in: "+0 000 000", wantErr: true},
		{in: "12125550123", wantErr: true}, // foreign, but written without +
		{in: "1111111111111111111111", wantErr: true},
		{in: strings.Repeat("8 912 345 67 89 ", 20), wantErr: true}, // too long to be a phone field
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in)
		if msg, _ := locale.MessageOf(err); (err != nil) != tt.wantErr || got != tt.want || err != nil && msg.Code != "phone_invalid" {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestRussianNumberShortcut checks the shortcut against libphonenumber for
// every three-digit prefix in every accepted shape: where it applies, it gives
// what libphonenumber gives; it always applies to mobile numbers.
func TestRussianNumberShortcut(t *testing.T) {
	t.Parallel()
	shapes := []func(n string) string{
		func(n string) string { return "+7" + n },
		func(n string) string { return "8" + n },
		func(n string) string { return "7" + n },
		func(n string) string { return n },
		func(n string) string { return "+7 (" + n[:3] + ") " + n[3:6] + "-" + n[6:8] + "-" + n[8:] },
		func(n string) string { return "8 " + n[:3] + " " + n[3:6] + " " + n[6:8] + " " + n[8:] },
	}
	applied := map[byte]int{}
	for prefix := 0; prefix < 1000; prefix++ {
		for _, rest := range []string{"0000000", "3456789", "9999999", "1234567"} {
			n := fmt.Sprintf("%03d", prefix) + rest
			for _, shape := range shapes {
				in := shape(n)
				fast, ok := russianNumber(in)
				if prefix >= 900 && !ok {
					t.Fatalf("russianNumber(%q) did not apply to a mobile number", in)
				}
				if !ok {
					continue
				}
				applied[n[0]]++
				num, err := phonenumbers.Parse(in, phoneRegion)
				if err != nil || !phonenumbers.IsValidNumber(num) {
					t.Fatalf("libphonenumber rejects %q (%v) but the shortcut accepts it", in, err)
				}
				if slow, _ := parsePhone(in); slow != fast {
					t.Fatalf("%q: shortcut %q, libphonenumber %q", in, fast, slow)
				}
			}
		}
	}
	// Random tails behind every prefix: the validity rules look at more than the area code.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		n := fmt.Sprintf("%010d", rng.Uint64N(1e10))
		for _, shape := range shapes {
			in := shape(n)
			if fast, ok := russianNumber(in); ok {
				applied[n[0]]++
				if slow, _ := parsePhone(in); slow != fast {
					t.Fatalf("%q: shortcut %q, libphonenumber %q", in, fast, slow)
				}
			}
		}
	}
	// Landlines (Moscow 495, St Petersburg 812, Yekaterinburg 343), free calls (800) and
	// Kazakhstan's numbers under +7 (7XX) take the shortcut too.
	for _, first := range []byte{'3', '4', '7', '8'} {
		if applied[first] == 0 {
			t.Errorf("no number starting %c took the shortcut", first)
		}
	}
	for _, in := range []string{"+8 912 345 67 89", "+9123456789", "912345678", "+7 912 345 67 89 0", "8 10 375 29 123 45 67"} {
		if p, ok := russianNumber(in); ok {
			t.Errorf("russianNumber(%q) = %q, want no shortcut", in, p)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: " Andrey@Andrey.RU ", want: "andrey@andrey.ru"},
		{in: "flukina@molcanova.com", want: "flukina@molcanova.com"},
		{in: "user+tag@mail.ru", want: "user+tag@mail.ru"},
		{in: "first.last@sub.domain.co.uk", want: "first.last@sub.domain.co.uk"},
		{in: "o'brien_1@example.org", want: "o'brien_1@example.org"},
		{in: "Почта@Пример.РФ", want: "почта@пример.рф"},
		{in: "user@xn--e1afmkfd.xn--p1ai", want: "user@xn--e1afmkfd.xn--p1ai"},
		{in: "a@b-c.io", want: "a@b-c.io"},
		{in: "", want: ""},
		{in: "  ", want: ""},
		{in: "admin@mail", wantErr: true},
		{in: "user@@mail.ru", wantErr: true},
		{in: "user@mail..ru", wantErr: true},
		{in: ".user@mail.ru", wantErr: true},
		{in: "user.@mail.ru", wantErr: true},
		{in: "us..er@mail.ru", wantErr: true},
		{in: "user name@mail.ru", wantErr: true},
		{in: "Name <user@mail.ru>", wantErr: true},
		{in: "user@-mail.ru", wantErr: true},
		{in: "user@mail-.ru", wantErr: true},
		{in: "user@mail.ru.", wantErr: true},
		{in: "user@[1.2.3.4]", wantErr: true},
		{in: "user@mail.r", wantErr: true},
		{in: "user@mail.123", wantErr: true},
		{in: "@mail.ru", wantErr: true},
		{in: "user@", wantErr: true},
		{in: "a,b@mail.ru", wantErr: true},
		{in: "a@b.ru, c@d.ru", wantErr: true},
		{in: "\"quoted\"@mail.ru", wantErr: true},
		{in: strings.Repeat("a", 65) + "@mail.ru", wantErr: true},
		{in: "a@" + strings.Repeat("b", 64) + ".ru", wantErr: true},
		{in: "a@" + strings.Repeat("bbbbbbbbb.", 26) + "ru", wantErr: true}, // over 254
		{in: "user@mail.ru\x00", wantErr: true},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if msg, _ := locale.MessageOf(err); (err != nil) != tt.wantErr || got != tt.want || err != nil && msg.Code != "email_invalid" {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseOrderDate(t *testing.T) {
	t.Parallel()
	msk := mustZone(t, "Europe/Moscow")
	berlin := mustZone(t, "Europe/Berlin")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		in   any
		tz   *time.Location
		want string // UTC, time.DateTime
		err  string // the error's code
	}{
		{name: "RetailCRM format", in: "2021-02-25 09:37:48", tz: msk, want: "2021-02-25 06:37:48"},
		{name: "date only is midnight", in: "2021-02-25", tz: msk, want: "2021-02-24 21:00:00"},
		{name: "T separator", in: "2021-02-25T09:37:48", tz: msk, want: "2021-02-25 06:37:48"},
		{name: "no seconds", in: "2021-02-25 09:37", tz: msk, want: "2021-02-25 06:37:00"},
		{name: "fraction truncated", in: "2021-02-25 09:37:48.987654", tz: msk, want: "2021-02-25 06:37:48"},
		{name: "surrounding space", in: "  2021-02-25 09:37:48 ", tz: msk, want: "2021-02-25 06:37:48"},
		{name: "RFC 3339 Z ignores account zone", in: "2021-02-25T09:37:48Z", tz: msk, want: "2021-02-25 09:37:48"},
		{name: "RFC 3339 offset", in: "2021-02-25T09:37:48+03:00", tz: berlin, want: "2021-02-25 06:37:48"},
		{name: "offset without colon", in: "2021-02-25T09:37:48+0300", tz: nil, want: "2021-02-25 06:37:48"},
		{name: "offset hours only", in: "2021-02-25 09:37:48-05", tz: nil, want: "2021-02-25 14:37:48"},
		{name: "RFC 3339 nano", in: "2021-02-25T09:37:48.5-05:30", tz: nil, want: "2021-02-25 15:07:48"},
		{name: "nil zone is UTC", in: "2021-02-25 09:37:48", tz: nil, want: "2021-02-25 09:37:48"},
		{name: "time.Time keeps its instant", in: time.Date(2021, 2, 25, 9, 37, 48, 999, msk), tz: berlin, want: "2021-02-25 06:37:48"},

		// Europe/Berlin: spring gap 02:00→03:00 on 2021-03-28, autumn overlap
		// 03:00→02:00 on 2021-10-31.
		{name: "Berlin before gap", in: "2021-03-28 01:59:59", tz: berlin, want: "2021-03-28 00:59:59"},
		{name: "Berlin in gap moves forward", in: "2021-03-28 02:30:00", tz: berlin, want: "2021-03-28 01:30:00"},
		{name: "Berlin gap start", in: "2021-03-28 02:00:00", tz: berlin, want: "2021-03-28 01:00:00"},
		{name: "Berlin after gap", in: "2021-03-28 03:00:00", tz: berlin, want: "2021-03-28 01:00:00"},
		{name: "Berlin overlap takes earlier", in: "2021-10-31 02:30:00", tz: berlin, want: "2021-10-31 00:30:00"},
		{name: "Berlin before overlap", in: "2021-10-31 01:59:59", tz: berlin, want: "2021-10-30 23:59:59"},
		{name: "Berlin after overlap", in: "2021-10-31 03:00:00", tz: berlin, want: "2021-10-31 02:00:00"},
		{name: "Berlin summer", in: "2021-07-01 12:00:00", tz: berlin, want: "2021-07-01 10:00:00"},

		// Europe/Moscow: last move to summer time on 2011-03-27 (02:00 MSK+3
		// → 03:00 MSK+4, kept all year), back to +3 on 2014-10-26 (02:00 →
		// 01:00), and the last autumn overlap before that, 2010-10-31.
		{name: "Moscow 2010 overlap takes earlier", in: "2010-10-31 02:30:00", tz: msk, want: "2010-10-30 22:30:00"},
		{name: "Moscow 2011 before gap", in: "2011-03-27 01:59:59", tz: msk, want: "2011-03-26 22:59:59"},
		{name: "Moscow 2011 in gap moves forward", in: "2011-03-27 02:30:00", tz: msk, want: "2011-03-26 23:30:00"},
		{name: "Moscow 2011 after gap", in: "2011-03-27 03:00:00", tz: msk, want: "2011-03-26 23:00:00"},
		{name: "Moscow 2011 autumn stays +4", in: "2011-10-30 02:30:00", tz: msk, want: "2011-10-29 22:30:00"},
		{name: "Moscow 2012 winter +4", in: "2012-01-15 12:00:00", tz: msk, want: "2012-01-15 08:00:00"},
		{name: "Moscow 2014 before overlap", in: "2014-10-26 00:59:59", tz: msk, want: "2014-10-25 20:59:59"},
		{name: "Moscow 2014 overlap takes earlier", in: "2014-10-26 01:30:00", tz: msk, want: "2014-10-25 21:30:00"},
		{name: "Moscow 2014 after overlap", in: "2014-10-26 02:00:00", tz: msk, want: "2014-10-25 23:00:00"},
		{name: "Moscow 2015 +3", in: "2015-06-01 12:00:00", tz: msk, want: "2015-06-01 09:00:00"},

		{name: "month 13", in: "2021-13-01 00:00:00", tz: msk, err: "date_not_real"},
		{name: "Feb 30", in: "2021-02-30 10:00:00", tz: msk, err: "date_not_real"},
		{name: "hour 24", in: "2021-02-25 24:00:00", tz: msk, err: "date_not_real"},
		{name: "zero date", in: "0000-00-00 00:00:00", tz: msk, err: "date_not_real"},
		{name: "before 1970", in: "1969-12-31 23:59:59", tz: nil, err: "date_out_of_range"},
		{name: "2100", in: "2100-01-01 00:00:00", tz: nil, err: "date_out_of_range"},
		{name: "Russian order", in: "25.02.2021 09:37", tz: msk, err: "date_format"},
		{name: "trailing text", in: "2021-02-25 09:37:48 MSK", tz: msk, err: "date_format"},
		{name: "empty", in: "", tz: msk, err: "date_format"},
		{name: "bad offset", in: "2021-02-25T09:37:48+25:00", tz: msk, err: "date_format"},
		{name: "unix time is not a date", in: decimal.NewFromInt(1614245868), tz: msk, err: "date_expected"},
		{name: "bool", in: true, tz: msk, err: "date_expected"},
		{name: "nil", in: nil, tz: msk, err: "date_missing"},
	}
	for _, tt := range tests {
		got, err := ParseOrderDate(tt.in, tt.tz)
		if tt.err != "" {
			msg, _ := locale.MessageOf(err)
			if msg.Code != tt.err {
				t.Errorf("%s: ParseOrderDate(%v) = %v, %v; want %s", tt.name, tt.in, got, err, tt.err)
			}
			checkWords(t, msg)
			continue
		}
		if err != nil {
			t.Errorf("%s: ParseOrderDate(%v): %v", tt.name, tt.in, err)
			continue
		}
		if !got.Equal(utc(tt.want)) || got.Location() != time.UTC {
			t.Errorf("%s: ParseOrderDate(%v) = %v, want %s UTC", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
		err  string // the error's code
	}{
		{in: decimal.RequireFromString("1395.16"), want: "1395.16"},
		{in: 5, want: "5"},
		{in: int64(-7), want: "-7"},
		{in: uint8(200), want: "200"},
		{in: 0.1, want: "0.1"},
		{in: float32(2.5), want: "2.5"},
		{in: "1234.50", want: "1234.5"},
		{in: "1234,50", want: "1234.5"},
		{in: "1 234,50", want: "1234.5"},
		{in: "1\u00a0234\u00a0567,89", want: "1234567.89"},
		{in: "1\u202f234.5", want: "1234.5"},
		{in: " -12 ", want: "-12"},
		{in: "+12", want: "12"},
		{in: "−5", want: "-5"}, // U+2212 MINUS SIGN
		{in: "1e3", want: "1000"},
		{in: "2.5E-2", want: "0.025"},
		{in: "1,234", want: "1.234"}, // the comma is a decimal separator
		{in: "0,5", want: "0.5"},
		{in: "-394.66", want: "-394.66"}, // a loss is a profit too
		{in: "99999999999999999999999999.99", want: "99999999999999999999999999.99"},
		{in: "999999999999999999999999999999", want: "999999999999999999999999999999"},
		{in: "1e29", want: "100000000000000000000000000000"},
		{in: "0.00000000000000000001", want: "0.00000000000000000001"},

		{in: "1,234.50", err: "number_ambiguous"},
		{in: "1.234.567", err: "number_invalid"},
		{in: "12 34", err: "number_invalid"},
		{in: "1234 567", err: "number_invalid"},
		{in: "abc", err: "number_invalid"},
		{in: "", err: "number_invalid"},
		{in: "  ", err: "number_invalid"},
		{in: "5 руб.", err: "number_invalid"},
		{in: "$5", err: "number_invalid"},
		{in: "0x10", err: "number_invalid"},
		{in: "NaN", err: "number_invalid"},
		{in: "Infinity", err: "number_invalid"},
		{in: ".5", err: "number_invalid"},
		{in: "5.", err: "number_invalid"},
		{in: "1e", err: "number_invalid"},
		{in: "--5", err: "number_invalid"},
		{in: "1e30", err: "number_too_large"},
		{in: "-1000000000000000000000000000000", err: "number_too_large"},
		{in: decimal.New(1, 30), err: "number_too_large"},
		{in: "1e-1000", err: "number_out_of_range"},
		{in: math.NaN(), err: "number_invalid"},
		{in: math.Inf(1), err: "number_invalid"},
		{in: 1e300, err: "number_out_of_range"},
		{in: true, err: "number_expected"},
		{in: nil, err: "number_missing"},
		{in: []any{1}, err: "number_expected"},
	}
	for _, tt := range tests {
		got, err := ParseDecimal(tt.in)
		if tt.err != "" {
			msg, _ := locale.MessageOf(err)
			if msg.Code != tt.err {
				t.Errorf("ParseDecimal(%#v) = %s, %v; want %s", tt.in, got, err, tt.err)
			}
			checkWords(t, msg)
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseDecimal(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}

	a, _ := ParseDecimal("1395.16")
	b, _ := ParseDecimal("1000,5")
	if d := a.Sub(b); d.String() != "394.66" {
		t.Errorf("1395.16 - 1000,5 = %s, want exactly 394.66", d)
	}
}

func TestNormalizeTags(t *testing.T) {
	t.Parallel()
	many := make([]any, 60)
	for i := range many {
		many[i] = strings.Repeat("t", i+1)
	}
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{"list", []any{"a", " b ", "", "a", "c"}, []string{"a", "b", "c"}},
		{"typed list", []string{"x", "y", "x"}, []string{"x", "y"}},
		{"comma-separated", "a, b,,c , a", []string{"a", "b", "c"}},
		{"single value", "vip", []string{"vip"}},
		{"number", decimal.NewFromInt(5), []string{"5"}},
		{"nothing", nil, nil},
		{"empty text", "  ", nil},
		{"PHP empty", []any{}, nil},
		{"customer.tags objects", []any{
			map[string]any{"name": "сопровождение", "color": "#95d042", "attached": false},
			map[string]any{"name": "дистрибьютор", "color": "#898989", "attached": false},
		}, []string{"сопровождение", "дистрибьютор"}},
		{"case kept, exact dedupe", []any{"VIP", "vip", "VIP"}, []string{"VIP", "vip"}},
		{"commas inside elements split", []any{"a,b", "c"}, []string{"a", "b", "c"}},
		{"nested lists flattened", []any{"a", []any{"b", []any{"c"}}}, []string{"a", "b", "c"}},
		{"skipped kinds", []any{true, nil, map[string]any{"color": "red"}, "ok"}, []string{"ok"}},
		{"control characters", "a\x00b, c\td", []string{"ab", "cd"}},
		{"cut to 100", strings.Repeat("я", 150), []string{strings.Repeat("я", 100)}},
	}
	for _, tt := range tests {
		got := NormalizeTags(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("%s: NormalizeTags(%v) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}

	tags, cut, dropped := normalizeTags(many)
	if len(tags) != maxTags || tags[49] != strings.Repeat("t", 50) || !dropped || cut {
		t.Errorf("60 tags: got %d (last %q), cut %v, dropped %v; want the first 50, dropped", len(tags), tags[len(tags)-1], cut, dropped)
	}
	if _, cut, _ := normalizeTags(strings.Repeat("x", 101)); !cut {
		t.Error("a 101-character tag was not reported as cut")
	}
}

func TestNormalizeText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		max     int
		want    string
		wantCut bool
	}{
		{"  hello  ", 0, "hello", false},
		{"a\x00b\tc\r\nd\re\u0085f\x7f", 0, "abc\nd\nef", false},
		{"line 1\nline 2", 0, "line 1\nline 2", false},
		{"\n\n text \n", 0, "text", false},
		{"a\xffb", 0, "a\uFFFDb", false},
		{"Привет мир", 6, "Привет", true},
		{"Привет мир", 7, "Привет", true},
		{"Привет мир", 10, "Привет мир", false},
		{"Привет мир", 0, "Привет мир", false},
		{"  \x01 x \x02 ", 1, "x", false},
		{"", 5, "", false},
	}
	for _, tt := range tests {
		got, cut := NormalizeText(tt.in, tt.max)
		if got != tt.want || cut != tt.wantCut {
			t.Errorf("NormalizeText(%q, %d) = %q, %v; want %q, %v", tt.in, tt.max, got, cut, tt.want, tt.wantCut)
		}
	}
}
