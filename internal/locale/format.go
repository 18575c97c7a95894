package locale

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Number formats a plain decimal text as stored ("-1234567.5") for reading: "−1 234 567,5" in
// Russian (no-break spaces between thousands, a decimal comma), "−1,234,567.5" in English. Text
// that is not a plain decimal is returned as it is.
func (p *Printer) Number(s string) string {
	if s == "" || !plainDecimal(s) {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	sep, dec := p.Separators()
	var b strings.Builder
	if neg {
		b.WriteString(Minus)
	}
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString(dec)
		b.WriteString(frac)
	}
	return b.String()
}

// Minus is the sign of a negative number as shown (a real minus, not a hyphen).
const Minus = "−"

// Separators are the language's thousands separator and decimal mark: Russian groups with
// no-break spaces and writes a decimal comma. The page's script formats live numbers with the
// same two, so that a number reads the same whether the server or the browser wrote it.
func (p *Printer) Separators() (group, decimal string) {
	if p.lang == "en" {
		return ",", "."
	}
	return "\u00a0", ","
}

// Percent is a whole percentage for reading: "45 %" in Russian, "45%" in English.
func (p *Printer) Percent(n int64) string { return p.T("number.percent", p.Int(n)) }

func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	dot := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
		case r == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return true
}

// Int formats a whole number for reading.
func (p *Printer) Int(n int64) string { return p.Number(strconv.FormatInt(n, 10)) }

// Decimal formats a decimal amount with exactly places decimals (rounded half away from zero,
// on the text, never through binary floating point).
func (p *Printer) Decimal(s string, places int) string {
	return p.Number(roundText(s, places))
}

// currencySymbols are the signs readers expect instead of the code.
var currencySymbols = map[string]string{
	"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "UAH": "₴", "BYN": "Br", "GBP": "£", "CNY": "¥",
	"UZS": "сум", "AMD": "֏", "GEL": "₾", "AZN": "₼", "KGS": "сом", "TRY": "₺",
}

// CurrencySign is the sign readers expect for a currency code (the code itself when it has none).
func CurrencySign(code string) string {
	if sym, ok := currencySymbols[code]; ok {
		return sym
	}
	return code
}

// Money formats an amount (plain decimal text) in a currency (ISO code; "" for none): always
// two decimals, so that sums line up in a column, and the currency's sign: "84 300,00 ₽",
// "1 395,16 ₽" in Russian, "₽84,300.00" in English.
func (p *Printer) Money(amount, currency string) string {
	if amount == "" {
		return ""
	}
	num := p.Decimal(amount, 2)
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency
	}
	if sym == "" {
		return num
	}
	if p.lang == "en" && ok && len([]rune(sym)) == 1 {
		if strings.HasPrefix(num, Minus) {
			return Minus + sym + strings.TrimPrefix(num, Minus)
		}
		return sym + num
	}
	return num + "\u00a0" + sym
}

// roundText rounds a plain decimal text to places decimals, half away from zero, and pads it
// with zeros to exactly that many.
func roundText(s string, places int) string {
	if !plainDecimal(s) {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	for len(frac) < places+1 {
		frac += "0"
	}
	keep, next := frac[:places], frac[places]
	digits := []byte(intPart + keep)
	if next >= '5' {
		i := len(digits) - 1
		for ; i >= 0; i-- {
			if digits[i] == '9' {
				digits[i] = '0'
				continue
			}
			digits[i]++
			break
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		}
	}
	out := string(digits[:len(digits)-places])
	if places > 0 {
		out += "." + string(digits[len(digits)-places:])
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out
}

// Time shows a moment in loc (nil: UTC) in the language's usual order: "02.01.2006 15:04" in
// Russian, "2006-01-02 15:04" in English.
func (p *Printer) Time(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if loc != nil {
		t = t.In(loc)
	}
	if p.lang == "en" {
		return t.Format("2006-01-02 15:04")
	}
	return t.Format("02.01.2006 15:04")
}

// Date shows a calendar day (time.DateOnly text, as stored and as the filters take it) in the
// language's usual order: "04.03.2026" in Russian, "2026-03-04" in English. Text that is not a
// day is returned as it is.
func (p *Printer) Date(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	if p.lang == "en" {
		return t.Format(time.DateOnly)
	}
	return t.Format("02.01.2006")
}

// DateTime shows a local date and time as orders store and export it ("2006-01-02 15:04:05")
// in the language's usual order: "07.12.2026 01:44:51" in Russian, as stored in English. Other
// text is returned as it is.
func (p *Printer) DateTime(s string) string {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		return s
	}
	if p.lang == "en" {
		return t.Format(time.DateTime)
	}
	return t.Format("02.01.2006 15:04:05")
}

// Clock is the time of day of t in loc: "14:05".
func (p *Printer) Clock(t time.Time, loc *time.Location) string {
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format("15:04")
}

// Ago says how long ago something happened, roughly: "только что", "3 мин назад", "2 ч назад",
// "5 дней назад".
func (p *Printer) Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return p.T("ago.now")
	case d < time.Hour:
		return p.T("ago.minutes", p.Int(int64(d/time.Minute)))
	case d < 48*time.Hour:
		return p.T("ago.hours", p.Int(int64(d/time.Hour)))
	}
	return p.T("ago.days", p.Plural("days", int64(d/(24*time.Hour))))
}

// Every says how often a task runs: "каждый час", "каждые 3 часа", "каждые 24 часа".
func (p *Printer) Every(hours int) string {
	if hours == 1 {
		return p.T("every.hour")
	}
	return p.T("every.hours."+p.pluralForm(int64(hours)), p.Int(int64(hours)))
}

// Zone labels an IANA time zone for people: its name in the language when the catalogue has
// one ("zone.Europe/Moscow": "Москва"), else the IANA name, with the UTC offset it has at at:
// "Москва (UTC+3)", "Asia/Kathmandu (UTC+5:45)".
func (p *Printer) Zone(name string, at time.Time) string {
	label := name
	if k := "zone." + name; p.Has(k) {
		label = p.T(k)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return label
	}
	_, off := at.In(loc).Zone()
	sign := "+"
	if off < 0 {
		sign, off = "−", -off
	}
	offset := fmt.Sprintf("UTC%s%d", sign, off/3600)
	if m := off % 3600 / 60; m != 0 {
		offset += fmt.Sprintf(":%02d", m)
	}
	if off == 0 {
		offset = "UTC"
	}
	return label + " (" + offset + ")"
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.Russian})

// FromAcceptLanguage picks the API's language from an Accept-Language header: Russian when the
// client prefers it, English otherwise (the API's default, for scripts).
func FromAcceptLanguage(header string) string {
	if strings.TrimSpace(header) == "" {
		return "en"
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(tags...)
	if i == 1 && conf != language.No {
		return "ru"
	}
	return "en"
}
