package locale

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Message is what code below the edge says to a person: a stable snake_case code (its words
// are "msg.<code>" in each catalogue) and the arguments its words need. It is stored as JSON
// as it is (run issues, run failures, task statuses), and rendered when shown.
type Message struct {
	Code string         `json:"code"`
	Args map[string]any `json:"args,omitempty"`
	// Detail is verbatim text that cannot be translated — what RetailCRM answered in its own
	// words, a compiler's diagnostic — shown apart from the sentence (in the UI as code).
	Detail string `json:"detail,omitempty"`
}

// M makes a message from a code and name/value pairs: M("text_truncated", "max", 500).
func M(code string, kv ...any) Message {
	m := Message{Code: code}
	if len(kv) > 1 {
		m.Args = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m.Args[fmt.Sprint(kv[i])] = kv[i+1]
		}
	}
	return m
}

// WithDetail returns m carrying the verbatim detail d.
func (m Message) WithDetail(d string) Message {
	m.Detail = d
	return m
}

// WithArg returns m with the argument name set to v (m itself is not changed).
func (m Message) WithArg(name string, v any) Message {
	args := make(map[string]any, len(m.Args)+1)
	for k, a := range m.Args {
		args[k] = a
	}
	args[name] = v
	m.Args = args
	return m
}

// IsZero reports an empty message (no code).
func (m Message) IsZero() bool { return m.Code == "" }

// String renders the message in English with its detail: for logs and error strings.
func (m Message) String() string { return English().MsgDetail(m) }

// Arg is the argument name of m as text ("" when absent).
func (m Message) Arg(name string) string {
	v, ok := m.Args[name]
	if !ok {
		return ""
	}
	return textOf(v)
}

// Error is an error that carries a message for people (and, optionally, the cause for logs).
// Error() is the message in English; the edge renders Msg in the reader's language.
type Error struct {
	Msg Message
	Err error
}

// Err makes an *Error from a code and name/value pairs.
func Err(code string, kv ...any) *Error { return &Error{Msg: M(code, kv...)} }

// Wrap makes an *Error for msg whose cause (for logs only) is err.
func Wrap(msg Message, err error) *Error { return &Error{Msg: msg, Err: err} }

func (e *Error) Error() string { return e.Msg.String() }
func (e *Error) Unwrap() error { return e.Err }

// MessageOf is the message err carries, if any *Error is in its chain.
func MessageOf(err error) (Message, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg, true
	}
	return Message{}, false
}

// Decode reads a message stored as JSON; a plain text (rows written before messages had
// codes) becomes the message "legacy_text" with that text as its detail.
func Decode(s string) Message {
	if s == "" {
		return Message{}
	}
	var m Message
	if s[0] == '{' && json.Unmarshal([]byte(s), &m) == nil && m.Code != "" {
		return m
	}
	return Message{Code: "legacy_text", Detail: s}
}

// Encode is the stored form of m: JSON, "" for no message.
func Encode(m Message) string {
	if m.IsZero() {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Arguments are text, numbers and messages: nothing that does not marshal.
		panic(fmt.Sprintf("locale: encode message %q: %v", m.Code, err))
	}
	return string(b)
}

// asMessage recognises a nested message, also after a JSON round trip (a map with "code").
func asMessage(v any) (Message, bool) {
	switch m := v.(type) {
	case Message:
		return m, true
	case *Message:
		if m != nil {
			return *m, true
		}
	case map[string]any:
		code, ok := m["code"].(string)
		if !ok {
			return Message{}, false
		}
		out := Message{Code: code}
		if args, ok := m["args"].(map[string]any); ok {
			out.Args = args
		}
		out.Detail, _ = m["detail"].(string)
		return out, true
	}
	return Message{}, false
}

func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		return int64(x), x == math.Trunc(x)
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}
