package rawcopy

import (
	"errors"
	"slices"
)

// personal are the members of a RetailCRM order (at any depth: the order, its customer, its
// contact, its delivery address) that name, reach or locate a person. Under pii=hash or
// pii=drop a kept raw order has none of them: what the mapping still needs of them was
// derived (hashed or dropped) before they were removed.
var personal = []string{
	"firstName", "lastName", "patronymic", "fullName",
	"phone", "additionalPhone", "phones",
	"email",
	"birthday",
	"street", "building", "house", "flat", "block", "floor", "housing", "text", "notes",
}

func isPersonal(key []byte) bool {
	return slices.ContainsFunc(personal, func(p string) bool { return p == string(key) })
}

// ErrNotJSON is returned by Strip for text that is not one JSON object.
var ErrNotJSON = errors.New("rawcopy: not a JSON object")

// Strip returns a copy of the order object raw without its personal members (and their values,
// whatever they are), the rest byte for byte as sent. It scans the text once and builds nothing
// but the copy.
func Strip(raw []byte) ([]byte, error) {
	s := stripper{in: raw, out: make([]byte, 0, len(raw))}
	s.space()
	if s.i >= len(s.in) || s.in[s.i] != '{' {
		return nil, ErrNotJSON
	}
	if err := s.value(0); err != nil {
		return nil, err
	}
	s.space()
	if s.i != len(s.in) {
		return nil, ErrNotJSON
	}
	return s.out, nil
}

// maxDepth bounds nesting, as the order decoders do.
const maxDepth = 64

type stripper struct {
	in  []byte
	i   int
	out []byte
}

func (s *stripper) space() {
	for s.i < len(s.in) {
		switch s.in[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value copies one value, stripping personal members of the objects within it.
func (s *stripper) value(depth int) error {
	if depth > maxDepth {
		return ErrNotJSON
	}
	s.space()
	if s.i >= len(s.in) {
		return ErrNotJSON
	}
	switch s.in[s.i] {
	case '{':
		return s.object(depth)
	case '[':
		return s.array(depth)
	case '"':
		start := s.i
		if err := s.skipString(); err != nil {
			return err
		}
		s.out = append(s.out, s.in[start:s.i]...)
		return nil
	default:
		start := s.i
		for s.i < len(s.in) {
			c := s.in[s.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			s.i++
		}
		if s.i == start {
			return ErrNotJSON
		}
		s.out = append(s.out, s.in[start:s.i]...)
		return nil
	}
}

func (s *stripper) object(depth int) error {
	s.i++ // '{'
	s.out = append(s.out, '{')
	first := true
	for {
		s.space()
		if s.i >= len(s.in) {
			return ErrNotJSON
		}
		if s.in[s.i] == '}' {
			s.i++
			s.out = append(s.out, '}')
			return nil
		}
		if s.in[s.i] != '"' {
			return ErrNotJSON
		}
		start := s.i
		if err := s.skipString(); err != nil {
			return err
		}
		key := s.in[start+1 : s.i-1]
		s.space()
		if s.i >= len(s.in) || s.in[s.i] != ':' {
			return ErrNotJSON
		}
		s.i++
		if isPersonal(key) {
			// The value is scanned into a copy that is thrown away.
			mark := len(s.out)
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.out = s.out[:mark]
		} else {
			if !first {
				s.out = append(s.out, ',')
			}
			first = false
			s.out = append(s.out, s.in[start:s.i-1]...)
			s.out = append(s.out, ':')
			if err := s.value(depth + 1); err != nil {
				return err
			}
		}
		s.space()
		if s.i >= len(s.in) {
			return ErrNotJSON
		}
		switch s.in[s.i] {
		case ',':
			s.i++
		case '}':
		default:
			return ErrNotJSON
		}
	}
}

func (s *stripper) array(depth int) error {
	s.i++ // '['
	s.out = append(s.out, '[')
	first := true
	for {
		s.space()
		if s.i >= len(s.in) {
			return ErrNotJSON
		}
		if s.in[s.i] == ']' {
			s.i++
			s.out = append(s.out, ']')
			return nil
		}
		if !first {
			s.out = append(s.out, ',')
		}
		first = false
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.in) {
			return ErrNotJSON
		}
		switch s.in[s.i] {
		case ',':
			s.i++
		case ']':
		default:
			return ErrNotJSON
		}
	}
}

// skipString moves past a string whose opening quote is at s.i.
func (s *stripper) skipString() error {
	s.i++
	for s.i < len(s.in) {
		switch s.in[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return nil
		default:
			s.i++
		}
	}
	return ErrNotJSON
}
