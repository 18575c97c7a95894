package mapping

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"

	"orderimport/internal/locale"
)

// Caps on stored values. Text longer than its cap is cut (with an issue);
// identifiers longer than theirs are dropped (with an issue), because a cut
// identifier would silently name something else.
const (
	maxIDLen       = 255    // order_id (longer: the order is rejected), session_id, user_id
	maxNameLen     = 255    // contact_name
	maxCommentLen  = 10_000 // comment
	maxTagLen      = 100    // one tag
	maxTags        = 50     // tags per order
	maxTagVisits   = 10_000 // values looked at while collecting tags
	maxEmailLen    = 254    // RFC 5321 path limit
	maxPhoneInput  = 200    // characters of a phone field worth parsing
	maxPhoneTries  = 32     // numbers tried in one phone field
	maxIntDigits   = 30     // digits before the point of a stored number
	maxScale       = 20     // digits after the point of a stored number
	phoneRegion    = "RU"   // default region for numbers without a country code
	orderDateFirst = 1970   // order dates outside [1970, 2100) are invalid
	orderDateLast  = 2100
)

// NormalizeText trims s, turns CRLF and lone CR into LF, removes every other
// control character (C0, DEL, C1), replaces invalid UTF-8 with U+FFFD and
// cuts the result to max characters (runes; max ≤ 0 means no cap). The bool
// reports a cut.
func NormalizeText(s string, max int) (string, bool) {
	if clean(s) {
		s = strings.TrimSpace(s)
	} else {
		s = strings.ToValidUTF8(s, "\uFFFD")
		var b strings.Builder
		b.Grow(len(s))
		for i, r := range s {
			switch {
			case r == '\r':
				if i+1 >= len(s) || s[i+1] != '\n' {
					b.WriteByte('\n')
				}
			case r == '\n' || !unicode.IsControl(r):
				b.WriteRune(r)
			}
		}
		s = strings.TrimSpace(b.String())
	}
	if max <= 0 || len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s, false
	}
	n := 0
	for i := range s {
		if n == max {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace), true
		}
		n++
	}
	return s, false
}

// clean reports text with nothing to remove but surrounding space: the
// common case, which then costs no copy.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return cleanUnicode(s[i:])
		}
	}
	return true
}

func cleanUnicode(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r != '\n' && unicode.IsControl(r) {
			return false
		}
	}
	return true
}

var errNotPhone = locale.Err("phone_invalid")

// NormalizePhone returns a phone number as digits with the country code
// first (79123456789), following libphonenumber with Russia as the default
// region: "+7 (912) 345-67-89", "8 912 345 67 89", "89123456789" and
// "9123456789" are all 79123456789; foreign numbers written with + keep
// their own country code; extensions ("доб. 12", "ext 12") are dropped.
// A field holding several numbers yields the first valid one: parts are
// split at , ; / | and line breaks, and space-separated runs of digits are
// tried from the left. Empty input gives "" and no error; anything else that
// is not a valid number gives "" and a *locale.Error (phone_invalid).
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if utf8.RuneCountInString(s) > maxPhoneInput {
		return "", errNotPhone
	}
	if p, ok := russianNumber(s); ok {
		return p, nil
	}
	if p, ok := parsePhone(s); ok {
		return p, nil
	}
	// A field with several numbers: try its parts, then runs of words, from
	// the left. Each libphonenumber call costs tens of microseconds, so a
	// field of a hundred short words stops after maxPhoneTries of them.
	tries := maxPhoneTries
	parts := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == '/' || r == '|' || r == '\n' || r == '\\'
	})
	for _, part := range parts {
		if p, ok := tryPhone(part, &tries); ok {
			return p, nil
		}
	}
	for _, part := range parts {
		if p, ok := phoneInWords(strings.Fields(part), &tries); ok {
			return p, nil
		}
	}
	return "", errNotPhone
}

// phoneInWords finds the first valid number made of consecutive words with
// 7 to 15 digits, preferring the longest at each start
// ("8 912 345 67 89 8 916 …").
func phoneInWords(words []string, tries *int) (string, bool) {
	digits := make([]int, len(words))
	for i, w := range words {
		digits[i] = countDigits(w)
	}
	for i := range words {
		end, n := i, 0
		for end < len(words) && n+digits[end] <= 15 {
			n += digits[end]
			end++
		}
		for j := end; j > i && n >= 7; j-- {
			if p, ok := tryPhone(strings.Join(words[i:j], " "), tries); ok {
				return p, true
			}
			n -= digits[j-1]
		}
		if *tries <= 0 {
			return "", false
		}
	}
	return "", false
}

// tryPhone is parsePhone within a budget of attempts.
func tryPhone(s string, tries *int) (string, bool) {
	if *tries <= 0 || countDigits(s) < 5 {
		return "", false
	}
	*tries--
	// A part of a field of several numbers is most often a Russian number on its own.
	if p, ok := russianNumber(strings.TrimSpace(s)); ok {
		return p, true
	}
	return parsePhone(s)
}

// russianNumber is a shortcut for the most common shapes, a Russian number
// with only digits, spaces, ( ) - . and a leading +: +7 XXX…, 8 XXX…,
// 7 XXX… or a bare XXXXXXXXXX. libphonenumber's Parse takes about 20 µs for
// them, mostly in regular expressions, to arrive at country code 7 and the
// ten digits. A mobile number (9XX…) needs nothing more: its metadata makes
// every 9XXXXXXXXX valid in RU. Any other is checked by libphonenumber's
// validity rules alone; a number they refuse is left to the whole parse,
// which may read the digits another way. TestRussianNumberShortcut and
// FuzzNormalizePhone check the shortcut gives exactly what libphonenumber
// gives.
func russianNumber(s string) (string, bool) {
	var d [11]byte
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return "", false
			}
			d[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '(' || c == ')' || c == '-' || c == '.':
		default:
			return "", false
		}
	}
	var national []byte
	switch {
	case n == 11 && d[0] == '7':
		national = d[1:11]
	case n == 11 && d[0] == '8' && !plus:
		national = d[1:11]
	case n == 10 && !plus:
		national = d[:10]
	default:
		return "", false
	}
	if national[0] != '9' {
		nsn, err := strconv.ParseUint(string(national), 10, 64)
		if err != nil || national[0] == '0' {
			return "", false
		}
		cc := int32(7)
		num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nsn}
		if !phonenumbers.IsValidNumber(num) {
			return "", false
		}
	}
	return "7" + string(national), true
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func parsePhone(s string) (string, bool) {
	if countDigits(s) < 5 {
		return "", false
	}
	num, err := phonenumbers.Parse(s, phoneRegion)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return strconv.Itoa(int(num.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(num), true
}

var errNotEmail = locale.Err("email_invalid")

// NormalizeEmail trims and lower-cases an address and checks that it is a
// plain address: local@domain, the local part of letters, digits and
// !#$%&'*+/=?^_`{|}~.- (no leading, trailing or double dot, at most 64
// bytes), the domain of at least two dot-separated labels of letters, digits
// and inner hyphens, ending in an alphabetic or xn-- top-level label;
// letters may be non-Latin (почта@пример.рф). Display names, comments,
// quoted local parts and IP-literal domains are rejected. Empty input gives
// "" and no error; invalid input gives "" and a *locale.Error (email_invalid).
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	s = strings.ToLower(s)
	if !validEmail(s) {
		return "", errNotEmail
	}
	return s, nil
}

func validEmail(s string) bool {
	if len(s) > maxEmailLen || !utf8.ValidString(s) {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("!#$%&'*+/=?^_`{|}~.-", r) {
			return false
		}
	}
	labels := strings.Split(domain, ".")
	if len(domain) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(tld, "xn--") {
		return len(tld) > 4
	}
	n := 0
	for _, r := range tld {
		if !unicode.IsLetter(r) {
			return false
		}
		n++
	}
	return n >= 2
}

// ParseOrderDate reads an order date and returns it in UTC, to the second.
//
// Accepted: RetailCRM's "Y-m-d H:i:s" (also with "T" instead of the space,
// without seconds, or with a fraction of a second), a bare "Y-m-d"
// (midnight), all of them in accountTZ (nil = UTC); RFC 3339 text with "Z"
// or an offset (±hh:mm, ±hhmm, ±hh), which fixes the instant whatever
// accountTZ is; and time.Time values. Dates outside 1970–2099 are errors.
// Errors are *locale.Error: date_missing, date_expected, date_format,
// date_not_real, date_out_of_range.
//
// Wall times in accountTZ are resolved without relying on time.Date's
// unspecified choice at transitions:
//   - in a gap (a time skipped when clocks move forward, e.g. 02:30 on
//     2021-03-28 in Europe/Berlin), the offset in force before the change
//     applies, so the result is as much later as the gap is long (03:30
//     CEST = 01:30 UTC);
//   - in an overlap (a time that happens twice when clocks move back, e.g.
//     01:30 on 2014-10-26 in Europe/Moscow), the earlier instant is taken
//     (01:30 MSK+4 = 21:30 UTC the day before).
func ParseOrderDate(v any, accountTZ *time.Location) (time.Time, error) {
	if accountTZ == nil {
		accountTZ = time.UTC
	}
	var t time.Time
	switch x := v.(type) {
	case nil:
		return time.Time{}, locale.Err("date_missing")
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = parseDateText(strings.TrimSpace(x), accountTZ); err != nil {
			return time.Time{}, err
		}
	default:
		return time.Time{}, locale.Err("date_expected", "kind", kindCode(v))
	}
	t = t.UTC().Truncate(time.Second)
	if t.Year() < orderDateFirst || t.Year() >= orderDateLast {
		return time.Time{}, locale.Err("date_out_of_range", "date", t.Format(time.DateTime), "first", orderDateFirst, "last", orderDateLast-1)
	}
	return t, nil
}

var errDateFormat = locale.Err("date_format")

// parseDateText parses the formats ParseOrderDate accepts.
func parseDateText(s string, loc *time.Location) (time.Time, error) {
	p := dateScanner{s: s}
	year, ok1 := p.digits(4)
	ok2 := p.lit('-')
	month, ok3 := p.digits(2)
	ok4 := p.lit('-')
	day, ok5 := p.digits(2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return time.Time{}, errDateFormat
	}
	var hour, min, sec, nsec int
	if p.lit(' ') || p.lit('T') || p.lit('t') {
		var okH, okC, okM bool
		hour, okH = p.digits(2)
		okC = p.lit(':')
		min, okM = p.digits(2)
		if !(okH && okC && okM) {
			return time.Time{}, errDateFormat
		}
		if p.lit(':') {
			var ok bool
			if sec, ok = p.digits(2); !ok {
				return time.Time{}, errDateFormat
			}
			if p.lit('.') || p.lit(',') {
				frac, n := p.fraction()
				if n == 0 {
					return time.Time{}, errDateFormat
				}
				nsec = frac
			}
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, locale.Err("date_not_real")
	}
	offset, hasZone, ok := p.zone()
	if !ok || !p.done() {
		return time.Time{}, errDateFormat
	}
	if hasZone {
		return time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second), nil
	}
	return wallClock(year, time.Month(month), day, hour, min, sec, nsec, loc), nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// wallClock resolves a wall time in loc with the gap and overlap rules of
// ParseOrderDate.
func wallClock(year int, month time.Month, day, hour, min, sec, nsec int, loc *time.Location) time.Time {
	u := time.Date(year, month, day, hour, min, sec, nsec, time.UTC) // the wall time read as UTC
	var offsets []int
	for _, probe := range []time.Time{u.Add(-36 * time.Hour), u, u.Add(36 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		if !containsInt(offsets, off) {
			offsets = append(offsets, off)
		}
	}
	var best time.Time
	for _, off := range offsets {
		t := u.Add(-time.Duration(off) * time.Second)
		if _, actual := t.In(loc).Zone(); actual == off && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if !best.IsZero() {
		return best
	}
	// A gap: just before the change the offset was the one in force at the
	// wall time read with the larger (new) offset.
	largest := offsets[0]
	for _, off := range offsets[1:] {
		largest = max(largest, off)
	}
	_, before := u.Add(-time.Duration(largest) * time.Second).In(loc).Zone()
	return u.Add(-time.Duration(before) * time.Second)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

type dateScanner struct {
	s   string
	pos int
}

func (p *dateScanner) lit(c byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *dateScanner) digits(n int) (int, bool) {
	if p.pos+n > len(p.s) {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := p.s[p.pos+i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.pos += n
	return v, true
}

// fraction reads fractional seconds as nanoseconds (digits past nine are
// read and ignored).
func (p *dateScanner) fraction() (nsec, n int) {
	scale := 100_000_000
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		nsec += int(p.s[p.pos]-'0') * scale
		scale /= 10
		p.pos++
		n++
	}
	return nsec, n
}

// zone reads an optional "Z", "±hh:mm", "±hhmm" or "±hh", with an optional
// space before it.
func (p *dateScanner) zone() (offset int, present, ok bool) {
	save := p.pos
	p.lit(' ')
	if p.lit('Z') || p.lit('z') {
		return 0, true, true
	}
	sign := 1
	switch {
	case p.lit('+'):
	case p.lit('-'):
		sign = -1
	default:
		p.pos = save
		return 0, false, true
	}
	h, okH := p.digits(2)
	if !okH || h > 23 {
		return 0, false, false
	}
	m := 0
	if p.lit(':') {
		var okM bool
		if m, okM = p.digits(2); !okM {
			return 0, false, false
		}
	} else if p.pos < len(p.s) {
		var okM bool
		if m, okM = p.digits(2); !okM {
			return 0, false, false
		}
	}
	if m > 59 {
		return 0, false, false
	}
	return sign * (h*3600 + m*60), true, true
}

func (p *dateScanner) done() bool { return p.pos == len(p.s) }

var (
	errNotNumber  = locale.Err("number_invalid")
	errOutOfRange = locale.Err("number_out_of_range", "max", maxNumberDigits)
)

// ParseDecimal reads a money amount or quantity exactly.
//
// Accepted: any number value (decimals stay as they are, floats take their
// shortest decimal form) and numeric text: an optional sign (+, -, or the
// minus sign U+2212), digits, optionally grouped in threes by spaces
// (regular, no-break U+00A0, narrow no-break U+202F or thin U+2009), one
// decimal separator — point or comma — and an optional exponent (1e3).
// So "1 234,50", "1234.50" and "-12" are numbers. A comma is always the
// decimal separator, as Russian writes it: "1,234" is 1.234, and text with
// both a comma and a point ("1,234.50") is rejected as ambiguous, as are
// currency signs and words. Values of 10^30 or more in magnitude are
// rejected as too large; negative values are fine (a loss is a profit).
// Errors are *locale.Error: number_missing, number_expected, number_invalid,
// number_ambiguous, number_out_of_range, number_too_large.
func ParseDecimal(v any) (decimal.Decimal, error) {
	var d decimal.Decimal
	switch x := v.(type) {
	case nil:
		return d, locale.Err("number_missing")
	case string:
		var err error
		if d, err = parseDecimalText(x); err != nil {
			return decimal.Decimal{}, err
		}
	case bool:
		return d, locale.Err("number_expected", "kind", kindCode(v))
	default:
		var ok bool
		var err error
		switch d, ok, err = numberOf(v); {
		case errors.Is(err, errNumberRange):
			return decimal.Decimal{}, errOutOfRange
		case err != nil: // NaN or an infinity
			return decimal.Decimal{}, errNotNumber
		case !ok:
			return decimal.Decimal{}, locale.Err("number_expected", "kind", kindCode(v))
		}
	}
	if _, err := checkNumber(d); err != nil {
		return decimal.Decimal{}, errOutOfRange
	}
	if !d.IsZero() && d.NumDigits()+int(d.Exponent()) > maxIntDigits {
		return decimal.Decimal{}, locale.Err("number_too_large", "max", maxIntDigits)
	}
	return d, nil
}

func parseDecimalText(s string) (decimal.Decimal, error) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	b.Grow(len(s))
	rest := s
	switch {
	case strings.HasPrefix(rest, "-"):
		b.WriteByte('-')
		rest = rest[1:]
	case strings.HasPrefix(rest, "−"):
		b.WriteByte('-')
		rest = rest[len("−"):]
	case strings.HasPrefix(rest, "+"):
		rest = rest[1:]
	}
	intPart, frac, exp := rest, "", ""
	if i := strings.IndexAny(intPart, "eE"); i >= 0 {
		intPart, exp = intPart[:i], intPart[i+1:]
		if exp == "" {
			return decimal.Decimal{}, errNotNumber
		}
		if exp[0] == '+' || exp[0] == '-' {
			if !allDigits(exp[1:]) {
				return decimal.Decimal{}, errNotNumber
			}
		} else if !allDigits(exp) {
			return decimal.Decimal{}, errNotNumber
		}
	}
	if strings.Contains(intPart, ".") && strings.Contains(intPart, ",") {
		return decimal.Decimal{}, locale.Err("number_ambiguous")
	}
	if i := strings.IndexAny(intPart, ".,"); i >= 0 {
		intPart, frac = intPart[:i], intPart[i+1:]
		if !allDigits(frac) {
			return decimal.Decimal{}, errNotNumber
		}
	}
	groups := strings.FieldsFunc(intPart, func(r rune) bool {
		return r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\u2009'
	})
	if len(groups) == 0 {
		return decimal.Decimal{}, errNotNumber
	}
	for i, g := range groups {
		if !allDigits(g) || (i > 0 && len(g) != 3) || (i == 0 && len(groups) > 1 && len(g) > 3) {
			return decimal.Decimal{}, errNotNumber
		}
		b.WriteString(g)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	if exp != "" {
		b.WriteByte('e')
		b.WriteString(exp)
	}
	d, err := decimal.NewFromString(b.String())
	if err != nil {
		return decimal.Decimal{}, errNotNumber
	}
	return d, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeTags turns a tags value into a clean list: a list gives its
// elements, a text gives its comma-separated parts, a single number gives
// itself. Objects with a "name" (RetailCRM's customer.tags[] elements
// {name, color, attached}) give their name; nested lists are flattened;
// nothing, true/false and other objects are skipped. Every tag is split at
// commas (the CSV export joins tags with commas), cleaned by NormalizeText
// and cut to 100 characters; empty tags and repeats are dropped, the first
// occurrence keeping its place; at most 50 tags are kept.
func NormalizeTags(v any) []string {
	tags, _, _ := normalizeTags(v)
	return tags
}

// normalizeTags is NormalizeTags reporting whether a tag was cut or tags
// beyond the cap were dropped.
func normalizeTags(v any) (tags []string, cut, dropped bool) {
	seen := make(map[string]bool)
	visits := 0
	var add func(v any, depth int)
	add = func(v any, depth int) {
		// Lists built by an expression can share parts, so their leaves can
		// far outnumber the memory they take: stop after a fixed number.
		if visits++; visits > maxTagVisits {
			dropped = true
			return
		}
		switch x := v.(type) {
		case nil, bool:
			return
		case map[string]any:
			add(x["name"], depth+1)
			return
		case string:
			for _, part := range strings.Split(x, ",") {
				tag, c := NormalizeText(part, maxTagLen)
				if tag == "" || seen[tag] {
					continue
				}
				if len(tags) == maxTags {
					dropped = true
					return
				}
				cut = cut || c
				seen[tag] = true
				tags = append(tags, tag)
			}
			return
		}
		if n, ok := listLen(v); ok {
			if depth > 4 {
				return
			}
			for i := 0; i < n; i++ {
				add(listAt(v, i), depth+1)
			}
			return
		}
		if s, ok := textOf(v); ok {
			add(s, depth)
		}
	}
	add(v, 0)
	return tags, cut, dropped
}
