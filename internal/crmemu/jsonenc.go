package crmemu

import (
	"strconv"
	"time"
)

// enc appends JSON by hand. A page of 100 rich orders is ~500 KB; building it
// with encoding/json over maps would cost more than everything else the
// emulator does, and benchmarks of the importer must measure the importer.
// The writer tracks whether a comma is due, so callers only name keys and values.
type enc struct {
	b     []byte
	comma bool
	loc   *time.Location
}

func (e *enc) sep() {
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.comma = true
}

func (e *enc) open(c byte) {
	e.sep()
	e.b = append(e.b, c)
	e.comma = false
}

func (e *enc) close(c byte) {
	e.b = append(e.b, c)
	e.comma = true
}

// key writes `"k":` and leaves the writer expecting a value.
func (e *enc) key(k string) {
	e.sep()
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
	e.comma = false
}

func (e *enc) obj(k string) { e.key(k); e.open('{') }
func (e *enc) arr(k string) { e.key(k); e.open('[') }

func (e *enc) str(s string) {
	e.sep()
	e.b = appendQuoted(e.b, s)
}

func (e *enc) int(n int64) {
	e.sep()
	e.b = strconv.AppendInt(e.b, n, 10)
}

func (e *enc) bool(v bool) {
	e.sep()
	e.b = strconv.AppendBool(e.b, v)
}

func (e *enc) null() {
	e.sep()
	e.b = append(e.b, "null"...)
}

func (e *enc) raw(r []byte) {
	e.sep()
	e.b = append(e.b, r...)
}

func (e *enc) money(m money) {
	e.sep()
	e.b = m.appendJSON(e.b)
}

func (e *enc) qty(q qty) {
	e.sep()
	e.b = q.appendJSON(e.b)
}

// ts writes a naive `Y-m-d H:i:s` in the account timezone, as RetailCRM does.
func (e *enc) ts(unix int64) {
	e.sep()
	e.b = append(e.b, '"')
	e.b = appendNaive(e.b, unix, e.loc)
	e.b = append(e.b, '"')
}

func (e *enc) kstr(k, v string) { e.key(k); e.str(v) }
func (e *enc) kint(k string, v int64) {
	e.key(k)
	e.int(v)
}
func (e *enc) kbool(k string, v bool)   { e.key(k); e.bool(v) }
func (e *enc) kmoney(k string, v money) { e.key(k); e.money(v) }
func (e *enc) kqty(k string, v qty)     { e.key(k); e.qty(v) }
func (e *enc) kts(k string, unix int64) { e.key(k); e.ts(unix) }
func (e *enc) kraw(k string, r []byte)  { e.key(k); e.raw(r) }

// optional variants leave the key out when the value is empty, following
// «Пустые поля без значений не возвращаются».
func (e *enc) ostr(k, v string) {
	if v != "" {
		e.kstr(k, v)
	}
}

func (e *enc) oint(k string, v int64) {
	if v != 0 {
		e.kint(k, v)
	}
}

func (e *enc) ots(k string, unix int64) {
	if unix != 0 {
		e.kts(k, unix)
	}
}

func appendNaive(b []byte, unix int64, loc *time.Location) []byte {
	t := time.Unix(unix, 0).In(loc)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, ' ')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	return append2(b, s)
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

const hexDigits = "0123456789abcdef"

// appendQuoted escapes like PHP's json_encode with JSON_UNESCAPED_UNICODE |
// JSON_UNESCAPED_SLASHES, which is what the recorded payloads show: Cyrillic
// and slashes raw, quotes, backslashes and control characters escaped. Every
// string reaching it is valid UTF-8 (inputs are sanitised on the way in), so
// multi-byte sequences are copied without decoding.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// money is an amount in kopecks: RetailCRM sends fractional money as JSON
// numbers (1395.16, 30470.4) and the emulator must never round them through a float.
type money int64

func (m money) appendJSON(b []byte) []byte {
	v := int64(m)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/100, 10)
	if f := v % 100; f != 0 {
		b = append(b, '.', byte('0'+f/10))
		if f%10 != 0 {
			b = append(b, byte('0'+f%10))
		}
	}
	return b
}

// qty is a quantity in thousandths: weighed goods come as 1.5 or 0.25 kg.
type qty int64

func (q qty) appendJSON(b []byte) []byte {
	v := int64(q)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/1000, 10)
	if f := v % 1000; f != 0 {
		digits := [3]byte{byte('0' + f/100), byte('0' + f/10%10), byte('0' + f%10)}
		n := 3
		for n > 0 && digits[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, digits[:n]...)
	}
	return b
}

// times multiplies money by a quantity, rounding half away from zero to kopecks.
func (m money) times(q qty) money {
	p := int64(m) * int64(q)
	if p >= 0 {
		return money((p + 500) / 1000)
	}
	return money((p - 500) / 1000)
}
