package mapping

import (
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// maxJSONDepth bounds nesting so a hostile payload cannot exhaust the stack.
// RetailCRM orders nest about six levels deep.
const maxJSONDepth = 256

// emptyList is shared by every empty JSON array. A zero-length slice cannot
// be modified in place, and sharing it saves an allocation per PHP-style `[]`,
// which RetailCRM sends for every empty collection.
var emptyList any = []any{}

// decodeJSON parses one JSON value into the shapes expressions work on:
// map[string]any, []any, string, decimal.Decimal, bool and nil.
func decodeJSON(raw []byte) (any, error) {
	return decodeProjected(raw, nil)
}

// decodeProjected is decodeJSON building only what proj asks for; the rest
// is checked for syntax and skipped.
//
// It exists instead of encoding/json because mapping is on the hot path:
// the whole payload becomes one Go string whose substrings serve as keys and
// plain string values, so most strings cost no copy; numbers become exact
// decimals directly instead of going through json.Number; and the parts of
// an order no expression reads (the customer and contact objects are most
// of a RetailCRM order) cost a scan but no allocation. Invalid UTF-8 is
// replaced with U+FFFD, as encoding/json does.
func decodeProjected(raw []byte, proj *projection) (any, error) {
	return decodeAt(raw, proj, 0)
}

// decodeMembers builds an order's root object from its top-level members as the decoder of
// RetailCRM's answer found them, parsing only the members proj reads. It gives what
// decodeProjected gives for the whole object, without scanning the members nobody reads a
// second time: for a typical order those are most of its bytes.
func decodeMembers(members iter.Seq2[string, []byte], proj *projection) (map[string]any, error) {
	root := make(map[string]any)
	for name, value := range members {
		var child *projection // nil: the whole value
		if proj != nil && proj.keys != nil {
			c, read := proj.keys[name]
			if !read {
				continue
			}
			child = c
		}
		// A member's value sits one level below the order object.
		v, err := decodeAt(value, child, 1)
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		root[name] = v
	}
	return root, nil
}

// decodeAt parses one value that sits depth levels deep.
func decodeAt(raw []byte, proj *projection, depth int) (any, error) {
	d := decoder{s: string(raw)}
	d.skipSpace()
	v, err := d.value(depth, proj)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.s) {
		return nil, d.errorf("unexpected %q after the value", d.s[d.pos])
	}
	return v, nil
}

type decoder struct {
	s   string
	pos int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) skipSpace() {
	s, i := d.s, d.pos
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	d.pos = i
}

func (d *decoder) value(depth int, proj *projection) (any, error) {
	if d.pos >= len(d.s) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.s[d.pos]; {
	case c == '{':
		if depth >= maxJSONDepth {
			return nil, d.errorf("nested deeper than %d levels", maxJSONDepth)
		}
		return d.object(depth+1, proj)
	case c == '[':
		if depth >= maxJSONDepth {
			return nil, d.errorf("nested deeper than %d levels", maxJSONDepth)
		}
		return d.array(depth+1, proj)
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case strings.HasPrefix(d.s[d.pos:], "true"):
		d.pos += 4
		return true, nil
	case strings.HasPrefix(d.s[d.pos:], "false"):
		d.pos += 5
		return false, nil
	case strings.HasPrefix(d.s[d.pos:], "null"):
		d.pos += 4
		return nil, nil
	default:
		return nil, d.errorf("unexpected %q", c)
	}
}

func (d *decoder) object(depth int, proj *projection) (any, error) {
	d.pos++ // {
	m := make(map[string]any)
	d.skipSpace()
	if d.pos < len(d.s) && d.s[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.s) || d.s[d.pos] != '"' {
			return nil, d.errorf("expected an object key")
		}
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.s) || d.s[d.pos] != ':' {
			return nil, d.errorf("expected ':' after an object key")
		}
		d.pos++
		d.skipSpace()
		if proj != nil && proj.keys != nil {
			child, ok := proj.keys[key]
			if !ok {
				if err := d.skip(depth); err != nil {
					return nil, err
				}
				goto next
			}
			v, err := d.value(depth, child)
			if err != nil {
				return nil, err
			}
			m[key] = v
		} else {
			v, err := d.value(depth, nil)
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
	next:
		d.skipSpace()
		if d.pos >= len(d.s) {
			return nil, d.errorf("unexpected end of input in an object")
		}
		switch d.s[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.errorf("expected ',' or '}' in an object")
		}
	}
}

func (d *decoder) array(depth int, proj *projection) (any, error) {
	var elem *projection // nil: whole elements
	if proj != nil && proj.elemRead {
		elem = proj.elem
	}
	d.pos++ // [
	d.skipSpace()
	if d.pos < len(d.s) && d.s[d.pos] == ']' {
		d.pos++
		return emptyList, nil
	}
	list := make([]any, 0, 4)
	for {
		d.skipSpace()
		v, err := d.value(depth, elem)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		d.skipSpace()
		if d.pos >= len(d.s) {
			return nil, d.errorf("unexpected end of input in an array")
		}
		switch d.s[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return list, nil
		default:
			return nil, d.errorf("expected ',' or ']' in an array")
		}
	}
}

// str reads a string literal. Literals without escapes or invalid UTF-8 are
// returned as substrings of the payload; UTF-8 is checked once per literal,
// not rune by rune.
func (d *decoder) str() (string, error) {
	s := d.s
	i := d.pos + 1 // past the opening quote
	start := i
	simple, high := true, false
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			body := s[start:i]
			if simple && (!high || utf8.ValidString(body)) {
				return body, nil
			}
			return unescape(body), nil
		case c == '\\':
			simple = false
			i++
			if i >= len(s) {
				d.pos = i
				return "", d.errorf("unexpected end of input in a string")
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(s) || !isHex4(s[i+1:i+5]) {
					d.pos = i
					return "", d.errorf("invalid \\u escape")
				}
				i += 5
			default:
				d.pos = i
				return "", d.errorf("invalid escape \\%c", s[i])
			}
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character in a string")
		case c >= utf8.RuneSelf:
			high = true
			i++
		default:
			i++
		}
	}
	d.pos = i
	return "", d.errorf("unexpected end of input in a string")
}

// skipString moves past a string literal, checking its escapes; the text
// is not kept, so UTF-8 is not checked.
func (d *decoder) skipString() error {
	s := d.s
	for i := d.pos + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return nil
		case c == '\\':
			i++
			if i >= len(s) {
				break
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+5 > len(s) || !isHex4(s[i+1:i+5]) {
					d.pos = i
					return d.errorf("invalid \\u escape")
				}
				i += 4
			default:
				d.pos = i
				return d.errorf("invalid escape \\%c", s[i])
			}
		case c < 0x20:
			d.pos = i
			return d.errorf("control character in a string")
		}
	}
	d.pos = len(s)
	return d.errorf("unexpected end of input in a string")
}

func isHex4(s string) bool {
	for i := 0; i < 4; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// unescape decodes the body of a string literal already checked by str.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			switch s[i] {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := hex4(s[i+1 : i+5])
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+7 <= len(s) && s[i+1] == '\\' && s[i+2] == 'u' && isHex4(s[i+3:i+7]) {
						r2 = hex4(s[i+3 : i+7])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b.WriteRune(r)
			default: // '"', '\\', '/'
				b.WriteByte(s[i])
			}
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r) // RuneError for invalid bytes
			i += size
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func hex4(s string) rune {
	n, _ := strconv.ParseUint(s, 16, 32)
	return rune(n)
}

var errNumberSyntax = errors.New("invalid number")

// number reads a JSON number literal into an exact decimal. Literals with up
// to 18 significant digits and no exponent take a fast path without parsing
// the text twice.
func (d *decoder) number() (any, error) {
	start := d.pos
	coef, digits, frac, fast, err := d.scanNumber()
	if err != nil {
		return nil, err
	}
	if fast && digits <= 18 {
		if d.s[start] == '-' {
			coef = -coef
		}
		return decimal.New(coef, int32(-frac)), nil
	}
	v, err := decimal.NewFromString(d.s[start:d.pos])
	if err != nil {
		return nil, d.errorf("%v", err)
	}
	return v, nil
}

// scanNumber checks the grammar of a number literal and moves past it,
// collecting its digits (coef, meaningful when digits ≤ 18), the count of
// digits after the point, and whether it has no exponent (fast).
func (d *decoder) scanNumber() (coef int64, digits, frac int, fast bool, err error) {
	fast = true
	if d.s[d.pos] == '-' {
		d.pos++
	}
	intStart := d.pos
	for d.pos < len(d.s) && d.s[d.pos] >= '0' && d.s[d.pos] <= '9' {
		coef = coef*10 + int64(d.s[d.pos]-'0')
		digits++
		d.pos++
	}
	if d.pos == intStart || (d.s[intStart] == '0' && d.pos-intStart > 1) {
		return 0, 0, 0, false, d.errorf("%v", errNumberSyntax)
	}
	if d.pos < len(d.s) && d.s[d.pos] == '.' {
		d.pos++
		fracStart := d.pos
		for d.pos < len(d.s) && d.s[d.pos] >= '0' && d.s[d.pos] <= '9' {
			coef = coef*10 + int64(d.s[d.pos]-'0')
			digits++
			d.pos++
		}
		if d.pos == fracStart {
			return 0, 0, 0, false, d.errorf("%v", errNumberSyntax)
		}
		frac = d.pos - fracStart
	}
	if d.pos < len(d.s) && (d.s[d.pos] == 'e' || d.s[d.pos] == 'E') {
		fast = false
		d.pos++
		if d.pos < len(d.s) && (d.s[d.pos] == '+' || d.s[d.pos] == '-') {
			d.pos++
		}
		expStart := d.pos
		for d.pos < len(d.s) && d.s[d.pos] >= '0' && d.s[d.pos] <= '9' {
			d.pos++
		}
		if d.pos == expStart {
			return 0, 0, 0, false, d.errorf("%v", errNumberSyntax)
		}
	}
	return coef, digits, frac, fast, nil
}

// skip checks one value's syntax and moves past it without building it,
// failing exactly where and how building it would.
func (d *decoder) skip(depth int) error {
	if d.pos >= len(d.s) {
		return d.errorf("unexpected end of input")
	}
	switch c := d.s[d.pos]; {
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return d.errorf("nested deeper than %d levels", maxJSONDepth)
		}
		closing, where := byte('}'), "an object"
		if c == '[' {
			closing, where = ']', "an array"
		}
		d.pos++
		d.skipSpace()
		if d.pos < len(d.s) && d.s[d.pos] == closing {
			d.pos++
			return nil
		}
		for {
			d.skipSpace()
			if c == '{' {
				if d.pos >= len(d.s) || d.s[d.pos] != '"' {
					return d.errorf("expected an object key")
				}
				if err := d.skipString(); err != nil {
					return err
				}
				d.skipSpace()
				if d.pos >= len(d.s) || d.s[d.pos] != ':' {
					return d.errorf("expected ':' after an object key")
				}
				d.pos++
				d.skipSpace()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos >= len(d.s) {
				return d.errorf("unexpected end of input in %s", where)
			}
			switch d.s[d.pos] {
			case ',':
				d.pos++
			case closing:
				d.pos++
				return nil
			default:
				return d.errorf("expected ',' or '%c' in %s", closing, where)
			}
		}
	case c == '"':
		return d.skipString()
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, _, _, err := d.scanNumber()
		return err
	}
	_, err := d.value(depth, nil) // true, false, null or an error
	return err
}
