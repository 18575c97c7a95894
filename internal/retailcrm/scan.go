package retailcrm

import (
	"encoding/binary"
	"fmt"
	"io"
)

// scanner reads the tokens of one JSON text held in memory, for reader. It checks the syntax as
// strictly as RFC 8259 asks (what jsontext did before it, with duplicate names and invalid UTF-8
// allowed, as RetailCRM's PHP sends both), but it never builds or copies anything: a value is
// returned as the slice of the body it spans. It exists because the answer's decoder is on every
// order's path, and walking a page with a general-purpose tokenizer cost more than twice as much.
//
// Its methods mirror the tokenizer it replaced: PeekKind names the next token, skipping the
// separators the grammar requires; ReadToken consumes a '{', '[', '}' or ']'; ReadValue consumes
// a whole value (or, where an object member's name is due, the name) and returns its bytes.
type scanner struct {
	s   []byte
	pos int
	// open holds the containers entered, innermost last: '{' or '['.
	open []byte
	// state is where the innermost container (or the top level) stands.
	state scanState
	err   error
}

type scanState uint8

const (
	wantFirst     scanState = iota // after '{' or '[', or at the top level before its value
	wantNext                       // after ',' in a container: a name or value must follow
	wantColon                      // in an object, after a member's name
	wantValue                      // in an object, after the ':' that follows a name
	wantSeparator                  // after a value: ',' or the container's end (EOF at the top)
)

// maxScanDepth bounds nesting, as the tokenizer before did, so a hostile answer cannot grow
// the stack without end.
const maxScanDepth = 10000

func newScanner(body []byte) *scanner {
	return &scanner{s: body}
}

// InputOffset is the offset just past the last token or value read.
func (sc *scanner) InputOffset() int64 { return int64(sc.pos) }

func (sc *scanner) fail(format string, args ...any) byte {
	if sc.err == nil {
		sc.err = fmt.Errorf("invalid JSON at byte %d: %s", sc.pos, fmt.Sprintf(format, args...))
	}
	return 0
}

func (sc *scanner) eof() byte {
	if sc.err == nil {
		sc.err = fmt.Errorf("JSON at byte %d: %w", sc.pos, io.ErrUnexpectedEOF)
	}
	return 0
}

func (sc *scanner) blanks() {
	s, i := sc.s, sc.pos
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	sc.pos = i
}

// inObject says the innermost container is an object.
func (sc *scanner) inObject() bool { return len(sc.open) > 0 && sc.open[len(sc.open)-1] == '{' }

// PeekKind returns the kind of the next token ('{', '[', '"', '0' for a number, 't', 'f', 'n',
// '}', ']'), consuming the ',' or ':' before it; 0 at the end of the text or on a syntax error.
func (sc *scanner) PeekKind() byte {
	if sc.err != nil {
		return 0
	}
	sc.blanks()
	if len(sc.open) == 0 && sc.state == wantSeparator {
		if sc.pos < len(sc.s) {
			return sc.fail("%q after the top-level value", sc.s[sc.pos])
		}
		return 0
	}
	if sc.pos >= len(sc.s) {
		return sc.eof()
	}
	c := sc.s[sc.pos]
	switch sc.state {
	case wantSeparator:
		closer := byte(']')
		if sc.inObject() {
			closer = '}'
		}
		switch c {
		case closer:
			return c
		case ',':
			sc.pos++
			sc.state = wantNext
			sc.blanks()
			if sc.pos >= len(sc.s) {
				return sc.eof()
			}
			c = sc.s[sc.pos]
		default:
			return sc.fail("%q where ',' or %q belongs", c, closer)
		}
	case wantColon:
		if c != ':' {
			return sc.fail("%q where ':' belongs", c)
		}
		sc.pos++
		sc.state = wantValue
		sc.blanks()
		if sc.pos >= len(sc.s) {
			return sc.eof()
		}
		return sc.kind(sc.s[sc.pos])
	case wantValue:
		return sc.kind(c)
	case wantFirst:
		if len(sc.open) > 0 {
			if closer := sc.s[sc.pos]; (closer == '}' && sc.inObject()) || (closer == ']' && !sc.inObject()) {
				return closer
			}
		}
	}
	// wantFirst or wantNext: a member's name in an object, a value elsewhere.
	if sc.inObject() {
		if c != '"' {
			return sc.fail("%q where a member's name belongs", c)
		}
		return '"'
	}
	return sc.kind(c)
}

// kind classifies the first byte of a value.
func (sc *scanner) kind(c byte) byte {
	switch {
	case c == '{' || c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n':
		return c
	case c == '-' || (c >= '0' && c <= '9'):
		return '0'
	}
	return sc.fail("%q where a value belongs", c)
}

// ReadToken consumes the next '{', '[', '}' or ']'; anything else is consumed as ReadValue does.
// At the end of the text it returns io.EOF.
func (sc *scanner) ReadToken() error {
	k := sc.PeekKind()
	switch k {
	case 0:
		if sc.err != nil {
			return sc.err
		}
		return io.EOF
	case '{', '[':
		if len(sc.open) >= maxScanDepth {
			sc.fail("nested deeper than %d levels", maxScanDepth)
			return sc.err
		}
		sc.open = append(sc.open, k)
		sc.pos++
		sc.state = wantFirst
		return nil
	case '}', ']':
		sc.open = sc.open[:len(sc.open)-1]
		sc.pos++
		sc.state = wantSeparator
		return nil
	}
	_, err := sc.ReadValue()
	return err
}

// ReadValue consumes the next value, or the next member's name where one is due, and returns its
// bytes (a slice of the body).
func (sc *scanner) ReadValue() ([]byte, error) {
	k := sc.PeekKind()
	if k == 0 {
		if sc.err != nil {
			return nil, sc.err
		}
		return nil, io.EOF
	}
	if k == '}' || k == ']' {
		sc.fail("%q where a value belongs", k)
		return nil, sc.err
	}
	start := sc.pos
	name := sc.inObject() && (sc.state == wantFirst || sc.state == wantNext)
	if !sc.skip(len(sc.open)) {
		return nil, sc.err
	}
	if name {
		sc.state = wantColon
	} else {
		sc.state = wantSeparator
	}
	return sc.s[start:sc.pos], nil
}

// skip moves past one value that begins at pos, checking its syntax; depth is the nesting it
// sits at.
func (sc *scanner) skip(depth int) bool {
	if sc.pos >= len(sc.s) {
		sc.eof()
		return false
	}
	switch c := sc.s[sc.pos]; {
	case c == '"':
		return sc.skipString()
	case c == '{' || c == '[':
		if depth >= maxScanDepth {
			sc.fail("nested deeper than %d levels", maxScanDepth)
			return false
		}
		return sc.skipContainer(c, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.skipNumber()
	case c == 't':
		return sc.literal("true")
	case c == 'f':
		return sc.literal("false")
	case c == 'n':
		return sc.literal("null")
	default:
		sc.fail("%q where a value belongs", c)
		return false
	}
}

func (sc *scanner) literal(word string) bool {
	for i := 0; i < len(word); i++ {
		if sc.pos+i >= len(sc.s) {
			sc.pos += i
			sc.eof()
			return false
		}
		if sc.s[sc.pos+i] != word[i] {
			sc.pos += i
			sc.fail("invalid literal, %s expected", word)
			return false
		}
	}
	sc.pos += len(word)
	return true
}

// skipContainer moves past an object (open '{') or array (open '[') at pos.
func (sc *scanner) skipContainer(open byte, depth int) bool {
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	sc.pos++ // the opening bracket
	sc.blanks()
	if sc.pos < len(sc.s) && sc.s[sc.pos] == closer {
		sc.pos++
		return true
	}
	for {
		sc.blanks()
		if open == '{' {
			if sc.pos >= len(sc.s) {
				sc.eof()
				return false
			}
			if sc.s[sc.pos] != '"' {
				sc.fail("%q where a member's name belongs", sc.s[sc.pos])
				return false
			}
			if !sc.skipString() {
				return false
			}
			sc.blanks()
			if sc.pos >= len(sc.s) {
				sc.eof()
				return false
			}
			if sc.s[sc.pos] != ':' {
				sc.fail("%q where ':' belongs", sc.s[sc.pos])
				return false
			}
			sc.pos++
			sc.blanks()
		}
		if !sc.skip(depth) {
			return false
		}
		sc.blanks()
		if sc.pos >= len(sc.s) {
			sc.eof()
			return false
		}
		switch sc.s[sc.pos] {
		case ',':
			sc.pos++
		case closer:
			sc.pos++
			return true
		default:
			sc.fail("%q where ',' or %q belongs", sc.s[sc.pos], closer)
			return false
		}
	}
}

// skipString moves past a string literal at pos: escapes must be valid, control characters
// escaped; bytes that are not UTF-8 are let through (RetailCRM's PHP can send them).
func (sc *scanner) skipString() bool {
	s := sc.s
	for i := sc.pos + 1; i < len(s); i++ {
		// Most bytes are plain: eight at a time while no quote, backslash or control byte is
		// among them, then one table look-up each.
		for i+8 <= len(s) {
			x := binary.LittleEndian.Uint64(s[i:])
			q, b := x^(ones*'"'), x^(ones*'\\')
			if ((x-ones*0x20)&^x|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
				break
			}
			i += 8
		}
		for i < len(s) && plainInString[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '"':
			sc.pos = i + 1
			return true
		case c == '\\':
			i++
			if i >= len(s) {
				sc.pos = i
				sc.eof()
				return false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) {
					sc.pos = len(s)
					sc.eof()
					return false
				}
				for _, h := range s[i+1 : i+5] {
					if !isHexDigit(h) {
						sc.pos = i
						sc.fail("invalid \\u escape")
						return false
					}
				}
				i += 4
			default:
				sc.pos = i
				sc.fail("invalid escape \\%c", s[i])
				return false
			}
		case c < 0x20:
			sc.pos = i
			sc.fail("control character in a string")
			return false
		}
	}
	sc.pos = len(s)
	sc.eof()
	return false
}

// ones and highs are the SWAR constants: a one, and the high bit, in each of eight bytes.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainInString marks the bytes a string literal may hold as they are: all but the quote, the
// backslash and control characters.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber moves past a number at pos: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (sc *scanner) skipNumber() bool {
	s, i := sc.s, sc.pos
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	// refuse stops at i: the text ended inside the number, or a byte does not belong there.
	refuse := func() bool {
		sc.pos = i
		if i >= len(s) {
			sc.eof()
		} else {
			sc.fail("invalid number")
		}
		return false
	}
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		digits()
	default:
		return refuse()
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return refuse()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return refuse()
		}
	}
	sc.pos = i
	return true
}
