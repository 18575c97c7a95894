package locale

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Every language has exactly the same keys, none empty, with the same fmt verbs (UI keys) or
// the same placeholders (message codes), and every plural family has all its forms.
func TestCataloguesAgree(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	base := For(Languages[0])
	for _, lang := range Languages[1:] {
		other := For(lang)
		for _, k := range base.Keys() {
			if !other.Has(k) {
				t.Errorf("%s has %q, %s does not", base.Lang(), k, lang)
			}
		}
		for _, k := range other.Keys() {
			if !base.Has(k) {
				t.Errorf("%s has %q, %s does not", lang, k, base.Lang())
			}
		}
	}
	verbs := regexp.MustCompile(`%[sdv]`)
	holes := regexp.MustCompile(`\{[a-z_]+(?::[a-z_]+)*\}`)
	for _, lang := range Languages {
		p := For(lang)
		for _, k := range p.Keys() {
			v := p.Raw(k)
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %q is empty", lang, k)
			}
			b := base.Raw(k)
			if strings.HasPrefix(k, "msg.") {
				if got, want := sortedAll(holes, v), sortedAll(holes, b); got != want {
					t.Errorf("%s: %q has placeholders %s, %s has %s", lang, k, got, base.Lang(), want)
				}
				if verbs.MatchString(v) {
					t.Errorf("%s: %q uses fmt verbs; messages take {named} placeholders", lang, k)
				}
				continue
			}
			if got, want := strings.Join(verbs.FindAllString(v, -1), ""), strings.Join(verbs.FindAllString(b, -1), ""); got != want {
				t.Errorf("%s: %q has verbs %q, %s has %q: the same arguments must fit both", lang, k, got, base.Lang(), want)
			}
		}
		for _, k := range p.Keys() {
			if fam, ok := strings.CutPrefix(k, "plural."); ok {
				fam = fam[:strings.LastIndexByte(fam, '.')]
				for _, form := range []string{"one", "few", "many"} {
					if !p.Has("plural." + fam + "." + form) {
						t.Errorf("%s: plural %q has no form %q", lang, fam, form)
					}
				}
			}
		}
	}
}

func sortedAll(re *regexp.Regexp, s string) string {
	all := re.FindAllString(s, -1)
	sort.Strings(all)
	return strings.Join(slices.Compact(all), "")
}

// Every message code the code names exists in the catalogues: a scan of the repository's Go
// files for locale.M("code") and locale.Err("code"). Codes are always written out where they
// are used (a switch, never a string built at run time), so that this scan sees them all.
func TestEveryCodeHasWords(t *testing.T) {
	root := filepath.Join("..", "..")
	re := regexp.MustCompile(`locale\.(?:M|Err)\(\s*"([a-z0-9_]+)"`)
	used := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 20 {
		t.Fatalf("found only %d codes in use: the scan is broken", len(used))
	}
	p := For(Default)
	for code, where := range used {
		if !p.Has("msg." + code) {
			t.Errorf("code %q (used in %s) has no words: add msg.%s to the catalogues", code, where, code)
		}
	}
}

func TestMsg(t *testing.T) {
	ru, en := For("ru"), For("en")
	m := M("text_truncated", "max", 500)
	if got := ru.Msg(m); !strings.Contains(got, "500") {
		t.Errorf("ru: %q", got)
	}
	nested := M("runs_failed_in_row", "n", 5, "last", M("crm_invalid_key"))
	if got := en.Msg(nested); !strings.Contains(got, en.Msg(M("crm_invalid_key"))) || !strings.Contains(got, "5") {
		t.Errorf("nested: %q", got)
	}
	// A stored message reads the same after a JSON round trip, nested ones included.
	back := Decode(Encode(nested))
	if ru.Msg(back) != ru.Msg(nested) {
		t.Errorf("round trip: %q, want %q", ru.Msg(back), ru.Msg(nested))
	}
	if got := Decode("an old English sentence"); got.Code != "legacy_text" || got.Detail != "an old English sentence" {
		t.Errorf("legacy: %+v", got)
	}
	if got := ru.Msg(M("no_such_code")); got != "[no_such_code]" {
		t.Errorf("unknown code: %q", got)
	}
}

func TestNumbers(t *testing.T) {
	ru, en := For("ru"), For("en")
	cases := []struct{ in, ru, en string }{
		{"1234567.5", "1\u00a0234\u00a0567,5", "1,234,567.5"},
		{"-84300", "−84\u00a0300", "−84,300"},
		{"12", "12", "12"},
		{"", "", ""},
		{"abc", "abc", "abc"},
	}
	for _, c := range cases {
		if got := ru.Number(c.in); got != c.ru {
			t.Errorf("ru %q: %q, want %q", c.in, got, c.ru)
		}
		if got := en.Number(c.in); got != c.en {
			t.Errorf("en %q: %q, want %q", c.in, got, c.en)
		}
	}
	money := []struct{ amount, cur, ru, en string }{
		{"84300", "RUB", "84\u00a0300,00\u00a0₽", "₽84,300.00"},
		{"84300.00", "RUB", "84\u00a0300,00\u00a0₽", "₽84,300.00"},
		{"1395.155", "RUB", "1\u00a0395,16\u00a0₽", "₽1,395.16"},
		{"0.999", "USD", "1,00\u00a0$", "$1.00"},
		{"-5.5", "EUR", "−5,50\u00a0€", "−€5.50"},
		{"10", "XYZ", "10,00\u00a0XYZ", "10.00\u00a0XYZ"},
		{"10", "", "10,00", "10.00"},
		{"-0.001", "", "0,00", "0.00"},
	}
	for _, c := range money {
		if got := ru.Money(c.amount, c.cur); got != c.ru {
			t.Errorf("ru money %s %s: %q, want %q", c.amount, c.cur, got, c.ru)
		}
		if got := en.Money(c.amount, c.cur); got != c.en {
			t.Errorf("en money %s %s: %q, want %q", c.amount, c.cur, got, c.en)
		}
	}
}

func TestPercentAndDate(t *testing.T) {
	ru, en := For("ru"), For("en")
	if got := ru.Percent(45); got != "45\u00a0%" {
		t.Errorf("ru percent: %q", got)
	}
	if got := en.Percent(1000); got != "1,000%" {
		t.Errorf("en percent: %q", got)
	}
	if got := ru.Date("2026-03-04"); got != "04.03.2026" {
		t.Errorf("ru date: %q", got)
	}
	if got := en.Date("2026-03-04"); got != "2026-03-04" {
		t.Errorf("en date: %q", got)
	}
	if got := ru.DateTime("2026-03-04 05:06:07"); got != "04.03.2026 05:06:07" {
		t.Errorf("ru date and time: %q", got)
	}
	if got := en.DateTime("2026-03-04 05:06:07"); got != "2026-03-04 05:06:07" {
		t.Errorf("en date and time: %q", got)
	}
	if got := ru.Date("yesterday"); got != "yesterday" {
		t.Errorf("not a day: %q", got)
	}
}

// MsgMarked tells the catalogue's words from the arguments shown as they are, nested messages
// included; Msg is the same text unmarked.
func TestMsgMarked(t *testing.T) {
	en := For("en")
	words := func(s string) string { return s }
	data := func(s string) string { return "[" + s + "]" }
	m := M("audit_unknown_email", "what", M("type_unsupported", "value", "ftp"))
	got := en.MsgMarked(m, words, data)
	if !strings.Contains(got, "[ftp]") || strings.Count(got, "[") != 1 {
		t.Errorf("marked: %q", got)
	}
	if plainText := strings.NewReplacer("[", "", "]", "").Replace(got); plainText != en.Msg(m) {
		t.Errorf("marked %q differs from Msg %q", got, en.Msg(m))
	}
	if got := en.MsgMarked(M("frequency_invalid", "max", 168), words, data); strings.Contains(got, "[") {
		t.Errorf("a number the catalogue formats is words: %q", got)
	}
	if got := en.MsgMarked(Decode(Encode(M("expression_invalid", "line", 1, "column", 12))), words, data); strings.Contains(got, "[") || !strings.Contains(got, "12") {
		t.Errorf("a position is words, also after a JSON round trip: %q", got)
	}
}

func TestPluralsAndPhrases(t *testing.T) {
	ru, en := For("ru"), For("en")
	for n, want := range map[int64]string{1: "1 заказ", 2: "2 заказа", 5: "5 заказов", 11: "11 заказов", 21: "21 заказ", 22: "22 заказа", 112: "112 заказов", 12000: "12\u00a0000 заказов"} {
		if got := ru.Plural("orders", n); got != want {
			t.Errorf("ru %d: %q, want %q", n, got, want)
		}
	}
	if got := en.Plural("orders", 1); got != "1 order" {
		t.Errorf("en 1: %q", got)
	}
	for h, want := range map[int]string{1: "каждый час", 3: "каждые 3 часа", 5: "каждые 5 часов", 21: "каждый 21 час", 24: "каждые 24 часа"} {
		if got := ru.Every(h); got != want {
			t.Errorf("every %d: %q, want %q", h, got, want)
		}
	}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if got := ru.Zone("Europe/Moscow", at); got != "Москва (UTC+3)" {
		t.Errorf("zone: %q", got)
	}
	if got := en.Zone("Asia/Kathmandu", at); got != "Asia/Kathmandu (UTC+5:45)" {
		t.Errorf("zone: %q", got)
	}
	if got := ru.Msg(M("audit_task_changed", "fields", "name,frequency_hours:1:3,active:false:true")); !strings.Contains(got, "частота импорта (каждый час → каждые 3 часа), активность (выключена → включена)") {
		t.Errorf("changed fields: %q", got)
	}
	if got := ru.Ago(3 * time.Minute); got != "3 мин назад" {
		t.Errorf("ago: %q", got)
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                           "en",
		"ru":                         "ru",
		"ru-RU,ru;q=0.9,en-US;q=0.8": "ru",
		"en-US,en;q=0.9,ru;q=0.8":    "en",
		"de-DE":                      "en",
		"uk, ru;q=0.5":               "ru",
		"garbage;;;":                 "en",
		"fr-FR,fr;q=0.9,ru-RU;q=0.7": "ru",
	} {
		if got := FromAcceptLanguage(h); got != want {
			t.Errorf("%q: %s, want %s", h, got, want)
		}
	}
}
