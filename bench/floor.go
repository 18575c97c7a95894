package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// The floor of the own-cost benchmark: the requests an import made, replayed one after the
// other over one keep-alive connection, each answer read whole and decoded into a generic
// value tree — maps, lists, strings, exact decimals, booleans — which is the least any import
// must do, because a user's mapping may read any field of any order. Nothing is mapped or
// stored.
//
// The decoder is a plain single-pass one in the style of a hand-written scanner: one string
// conversion of the body, keys and escape-free strings as substrings of it, numbers parsed
// straight into decimals. That is the fastest generic decoding we know how to write here
// (encoding/json into `any` is about 3× slower on the same pages; the harness measures that too),
// so the ratio is taken against a floor that is hard to beat, not a slow one.

type floorClient struct {
	http *http.Client
	key  string
	buf  bytes.Buffer
}

func newFloorClient() *floorClient {
	return &floorClient{key: emuKey, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// fetch GETs one URI and returns the body (valid until the next fetch).
func (c *floorClient) fetch(ctx context.Context, base, uri string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-KEY", c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	c.buf.Reset()
	if _, err := io.Copy(&c.buf, resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", uri, resp.Status)
	}
	return c.buf.Bytes(), nil
}

// replay fetches every URI and decodes each answer with decode; it returns the bytes read and
// the number of orders in the answers.
func (c *floorClient) replay(ctx context.Context, base string, uris []string, decode func([]byte) (any, error)) (bytesRead, orders int64, err error) {
	for _, u := range uris {
		body, err := c.fetch(ctx, base, u)
		if err != nil {
			return 0, 0, err
		}
		bytesRead += int64(len(body))
		v, err := decode(body)
		if err != nil {
			return 0, 0, fmt.Errorf("decode %s: %w", u, err)
		}
		if m, ok := v.(map[string]any); ok {
			if list, ok := m["orders"].([]any); ok {
				orders += int64(len(list))
			}
		}
	}
	return bytesRead, orders, nil
}

// decodeGeneric parses one JSON value into map[string]any, []any, string, decimal.Decimal,
// bool and nil.
func decodeGeneric(body []byte) (any, error) {
	d := gdec{s: string(body)}
	d.space()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.s) {
		return nil, d.fail()
	}
	return v, nil
}

type gdec struct {
	s string
	i int
}

var errSyntax = errors.New("invalid JSON")

func (d *gdec) fail() error { return fmt.Errorf("%w at byte %d", errSyntax, d.i) }

func (d *gdec) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *gdec) lit(word string, v any) (any, error) {
	if len(d.s)-d.i < len(word) || d.s[d.i:d.i+len(word)] != word {
		return nil, d.fail()
	}
	d.i += len(word)
	return v, nil
}

func (d *gdec) value() (any, error) {
	if d.i >= len(d.s) {
		return nil, d.fail()
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == 't':
		return d.lit("true", true)
	case c == 'f':
		return d.lit("false", false)
	case c == 'n':
		return d.lit("null", nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, d.fail()
}

func (d *gdec) object() (any, error) {
	d.i++
	m := make(map[string]any)
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, d.fail()
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, d.fail()
		}
		d.i++
		d.space()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.i >= len(d.s) {
			return nil, d.fail()
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, nil
		default:
			return nil, d.fail()
		}
	}
}

func (d *gdec) array() (any, error) {
	d.i++
	var list []any
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return []any{}, nil
	}
	for {
		d.space()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		d.space()
		if d.i >= len(d.s) {
			return nil, d.fail()
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return list, nil
		default:
			return nil, d.fail()
		}
	}
}

func (d *gdec) str() (string, error) {
	d.i++
	start := d.i
	for d.i < len(d.s) {
		switch c := d.s[d.i]; {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s, nil
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", d.fail()
		default:
			d.i++
		}
	}
	return "", d.fail()
}

// escaped finishes a string that has escapes, decoding them (surrogate pairs included).
func (d *gdec) escaped(start int) (string, error) {
	b := []byte(d.s[start:d.i])
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b), nil
		case c < 0x20:
			return "", d.fail()
		case c != '\\':
			b = append(b, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.s) {
			return "", d.fail()
		}
		e := d.s[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.fail()
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if strings.HasPrefix(d.s[d.i:], "\\u") {
					d.i += 2
					if r2, ok = d.hex4(); !ok {
						return "", d.fail()
					}
				}
				r = utf16.DecodeRune(r, r2)
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", d.fail()
		}
	}
	return "", d.fail()
}

func (d *gdec) hex4() (rune, bool) {
	if len(d.s)-d.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}

func (d *gdec) number() (any, error) {
	start := d.i
	var coef int64
	digits, frac := 0, 0
	if d.s[d.i] == '-' {
		d.i++
	}
	for ; d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9'; d.i++ {
		coef = coef*10 + int64(d.s[d.i]-'0')
		digits++
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		for ; d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9'; d.i++ {
			coef = coef*10 + int64(d.s[d.i]-'0')
			digits++
			frac++
		}
	}
	exp := false
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		exp = true
		d.i++
		for d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-' || (d.s[d.i] >= '0' && d.s[d.i] <= '9')) {
			d.i++
		}
	}
	if digits == 0 {
		return nil, d.fail()
	}
	if !exp && digits <= 18 {
		if d.s[start] == '-' {
			coef = -coef
		}
		return decimal.New(coef, int32(-frac)), nil
	}
	v, err := decimal.NewFromString(d.s[start:d.i])
	if err != nil {
		return nil, d.fail()
	}
	return v, nil
}
