package retailcrm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// reader walks one response body token by token. RetailCRM answers are PHP-generated and loose:
// any field may be missing, an empty object comes as [], numbers may be fractional or quoted. The
// reader therefore never fails on a type mismatch (the value is skipped and the field left zero);
// it fails only on broken JSON, which is what KindGarbled means.
//
// Orders are never materialised as maps: the walk picks the few typed fields and copies the
// order's bytes verbatim (offsets into body), which is what keeps a 1 MB page cheap.
type reader struct {
	dec  *scanner
	body []byte
	// layout collects the members of the order being read; names interns member names.
	layout []member
	names  map[string]string
	// share makes an order's Raw a slice of body rather than a copy (DecodeOrder).
	share bool
}

func newReader(body []byte) *reader {
	return &reader{dec: newScanner(body), body: body}
}

// skip discards the next value.
func (r *reader) skip() error {
	_, err := r.dec.ReadValue()
	return err
}

// name reads an object member name. The returned bytes are only valid until the next read.
func (r *reader) name() ([]byte, error) {
	v, err := r.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	return unquote(v)
}

func unquote(v []byte) ([]byte, error) {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	return jsontext.AppendUnquote(nil, v)
}

// members calls fn for each member of the object that comes next; fn must consume the member's
// value. Anything but an object (PHP's [] for an empty map, null, a scalar) is skipped.
func (r *reader) members(fn func(name []byte) error) error {
	if r.dec.PeekKind() != '{' {
		return r.skip()
	}
	if err := r.dec.ReadToken(); err != nil {
		return err
	}
	return r.rest(fn)
}

// rest iterates the remaining members of an object whose '{' was already read, and consumes '}'.
func (r *reader) rest(fn func(name []byte) error) error {
	for {
		switch r.dec.PeekKind() {
		case '}':
			return r.dec.ReadToken()
		case 0:
			return r.failure()
		}
		name, err := r.name()
		if err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
	}
}

// elements calls fn for each element of a collection: the elements of an array, or the member
// values of an object (RetailCRM sends lists keyed by code or id, and PHP turns sparse arrays into
// objects). key is the member name for objects and nil for arrays. Other values are skipped.
func (r *reader) elements(fn func(key []byte) error) error {
	switch r.dec.PeekKind() {
	case '[':
		if err := r.dec.ReadToken(); err != nil {
			return err
		}
		for {
			switch r.dec.PeekKind() {
			case ']':
				return r.dec.ReadToken()
			case 0:
				return r.failure()
			}
			if err := fn(nil); err != nil {
				return err
			}
		}
	case '{':
		if err := r.dec.ReadToken(); err != nil {
			return err
		}
		return r.rest(func(name []byte) error {
			// fn may read further tokens, which invalidates name.
			return fn(bytes.Clone(name))
		})
	default:
		return r.skip()
	}
}

// failure turns a PeekKind of 0 into the error that caused it.
func (r *reader) failure() error {
	err := r.dec.ReadToken()
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// scalar reads a string or number as text; other values are skipped and give ok=false.
func (r *reader) scalar() (text []byte, isString bool, err error) {
	switch r.dec.PeekKind() {
	case '"':
		v, err := r.dec.ReadValue()
		if err != nil {
			return nil, false, err
		}
		s, err := unquote(v)
		return s, true, err
	case '0', 't', 'f':
		v, err := r.dec.ReadValue()
		return v, false, err
	default:
		return nil, false, r.skip()
	}
}

func (r *reader) str() (string, error) {
	v, _, err := r.scalar()
	return string(v), err
}

// int accepts 12, 12.0, "12" and "12.0"; anything else gives 0.
func (r *reader) int() (int64, error) {
	v, _, err := r.scalar()
	if err != nil || len(v) == 0 {
		return 0, err
	}
	if n, perr := strconv.ParseInt(string(v), 10, 64); perr == nil {
		return n, nil
	}
	f, perr := strconv.ParseFloat(string(v), 64)
	if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, nil
	}
	return int64(f), nil
}

func (r *reader) intValue() (int, error) {
	n, err := r.int()
	return int(n), err
}

// bool accepts true/false, numbers (non-zero is true) and the strings "true"/"1"/"Y".
func (r *reader) bool() (bool, error) {
	v, isString, err := r.scalar()
	if err != nil || len(v) == 0 {
		return false, err
	}
	switch string(v) {
	case "true", "1", "Y", "y":
		return true, nil
	case "false", "0", "N", "n", "":
		return false, nil
	}
	if !isString {
		f, perr := strconv.ParseFloat(string(v), 64)
		return perr == nil && f != 0, nil
	}
	return false, nil
}

// raw copies the next value verbatim; the copy is owned by the caller.
func (r *reader) raw() (json.RawMessage, error) {
	v, err := r.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.Clone(v)), nil
}

// stringList reads a collection of scalars (array, or object values), skipping non-scalars.
func (r *reader) stringList() ([]string, error) {
	var out []string
	err := r.elements(func([]byte) error {
		v, _, err := r.scalar()
		if err == nil && v != nil {
			out = append(out, string(v))
		}
		return err
	})
	return out, err
}

// order reads an order object: typed fields for the sync plus the object's exact bytes, and where
// each top-level member's value lies in them (Order.Members), so that the mapping parses only the
// members its expressions read instead of the whole order a second time. It returns nil for
// anything that is not an object.
func (r *reader) order() (*Order, error) {
	if r.dec.PeekKind() != '{' {
		return nil, r.skip()
	}
	if err := r.dec.ReadToken(); err != nil {
		return nil, err
	}
	start := r.dec.InputOffset() - 1
	o := new(Order)
	r.layout = r.layout[:0]
	for {
		switch r.dec.PeekKind() {
		case '}':
			if err := r.dec.ReadToken(); err != nil {
				return nil, err
			}
			if end := r.dec.InputOffset(); r.share {
				o.Raw = json.RawMessage(r.body[start:end:end])
			} else {
				o.Raw = json.RawMessage(bytes.Clone(r.body[start:end]))
			}
			o.members, o.laidOut = slices.Clone(r.layout), true
			return o, nil
		case 0:
			return nil, r.failure()
		}
		nameBytes, err := r.name()
		if err != nil {
			return nil, err
		}
		name := r.intern(nameBytes)
		// The value begins after the name's closing quote, past the colon and any blanks,
		// which no JSON value starts with.
		from := r.dec.InputOffset()
		switch name {
		case "id":
			o.ID, err = r.int()
		case "number":
			o.Number, err = r.str()
		case "externalId":
			o.ExternalID, err = r.str()
		case "site":
			o.Site, err = r.str()
		case "status":
			o.Status, err = r.str()
		case "createdAt":
			o.CreatedAt, err = r.str()
		case "currency":
			o.Currency, err = r.str()
		case "purchaseSumm":
			var v []byte
			if v, _, err = r.scalar(); err == nil && v != nil {
				o.PurchaseSumm = string(v)
			}
		case "source":
			err = r.source(&o.Source)
		default:
			err = r.skip()
		}
		if err != nil {
			return nil, err
		}
		to := r.dec.InputOffset()
		for from < to && isBlankOrColon(r.body[from]) {
			from++
		}
		r.layout = append(r.layout, member{name: name, from: int32(from - start), to: int32(to - start)})
	}
}

func isBlankOrColon(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':'
}

// intern returns a member name as a string shared by every order of the answer: the hundred
// orders of a page repeat the same fifty names.
func (r *reader) intern(b []byte) string {
	if s, ok := orderMemberNames[string(b)]; ok {
		return s
	}
	if s, ok := r.names[string(b)]; ok {
		return s
	}
	if r.names == nil {
		r.names = make(map[string]string)
	}
	s := string(b)
	if !utf8.ValidString(s) {
		// As encoding/json (and the mapping's decoder) read such a name: each invalid byte
		// becomes U+FFFD.
		s = validUTF8(s)
	}
	if len(r.names) < maxInterned {
		r.names[s] = s
	}
	return s
}

func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += size
	}
	return b.String()
}

// orderMemberNames are the members of RetailCRM's order object, shared by every answer: a
// re-map reads each kept copy on its own, and would otherwise make each name anew.
var orderMemberNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"additionalPhone", "bonusesChargeTotal", "bonusesCreditTotal", "call", "clientId", "company",
		"contact", "contragent", "countryIso", "createdAt", "currency", "customFields", "customer", "customerComment",
		"delivery", "discountManualAmount", "discountManualPercent", "email", "expired", "externalId", "firstName",
		"fromApi", "fullPaidAt", "height", "id", "items", "lastName", "length", "links", "loyaltyLevel", "managerComment",
		"managerId", "mark", "markDatetime", "number", "orderMethod", "orderType", "patronymic", "payments", "phone",
		"prepaySum", "privilegeType", "purchaseSumm", "shipmentDate", "shipmentStore", "shipped", "site", "slug", "source",
		"status", "statusComment", "statusUpdatedAt", "summ", "totalSumm", "weight", "width"} {
		m[n] = n
	}
	return m
}()

// maxInterned bounds the names one answer interns: a hostile answer with a new name in every
// member costs an allocation each, not a map that grows with it.
const maxInterned = 512

// source reads an order's source object; anything else (a PHP-style empty []) is no source.
func (r *reader) source(s *OrderSource) error {
	if r.dec.PeekKind() != '{' {
		return r.skip()
	}
	return r.members(func(name []byte) (err error) {
		switch string(name) {
		case "source":
			s.Source, err = r.str()
		case "medium":
			s.Medium, err = r.str()
		case "campaign":
			s.Campaign, err = r.str()
		case "keyword":
			s.Keyword, err = r.str()
		case "content":
			s.Content, err = r.str()
		default:
			err = r.skip()
		}
		return err
	})
}

// pagination reads RetailCRM's pagination block.
func (r *reader) pagination(p *Pagination) error {
	return r.members(func(name []byte) (err error) {
		switch string(name) {
		case "limit":
			p.Limit, err = r.intValue()
		case "totalCount":
			p.TotalCount, err = r.intValue()
		case "currentPage":
			p.CurrentPage, err = r.intValue()
		case "totalPageCount":
			p.TotalPageCount, err = r.intValue()
		default:
			err = r.skip()
		}
		return err
	})
}

// envelope holds the members every RetailCRM answer may carry besides its payload.
type envelope struct {
	success    bool
	hasSuccess bool
	errorMsg   string
	errors     map[string]string
}

// decodeEnvelope walks the top-level object, handling success/errorMsg/errors itself and
// passing every other member to payload, which must consume the value.
func decodeEnvelope(body []byte, payload func(r *reader, name string) error) (envelope, error) {
	var env envelope
	r := newReader(body)
	if r.dec.PeekKind() != '{' {
		return env, errNotObject
	}
	err := r.members(func(name []byte) (err error) {
		switch string(name) {
		case "success":
			env.hasSuccess = true
			env.success, err = r.bool()
		case "errorMsg":
			env.errorMsg, err = r.str()
		case "errors":
			env.errors, err = r.errorList()
		default:
			if payload == nil {
				return r.skip()
			}
			return payload(r, string(name))
		}
		return err
	})
	return env, err
}

var errNotObject = errors.New("the answer is not a JSON object")

// errorList reads `errors`, which RetailCRM sends as an object keyed by field or as an array.
// Values that are not strings (nested objects) are kept as their JSON text.
func (r *reader) errorList() (map[string]string, error) {
	out := map[string]string{}
	i := 0
	err := r.elements(func(key []byte) error {
		k := string(key)
		if key == nil {
			k = strconv.Itoa(i)
		}
		i++
		switch r.dec.PeekKind() {
		case '{', '[':
			v, err := r.dec.ReadValue()
			if err != nil {
				return err
			}
			out[k] = string(v)
			return nil
		}
		v, _, err := r.scalar()
		if err == nil && v != nil {
			out[k] = string(v)
		}
		return err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// DecodeOrder reads one order object exactly as the list and history answers are read: what
// RetailCRM sent, with the fields an import uses typed (a kept copy, in a re-map; an emulator's
// orders, in tests). Unlike an answer's orders, the order's Raw is raw itself (its object, without
// the blanks around it), not a copy: raw must not change while the order is in use.
func DecodeOrder(raw []byte) (*Order, error) {
	r := newReader(raw)
	r.share = true
	o, err := r.order()
	if err == nil && o == nil {
		err = errNotObject
	}
	if err != nil {
		return nil, fmt.Errorf("retailcrm: decode an order: %w", err)
	}
	return o, nil
}
