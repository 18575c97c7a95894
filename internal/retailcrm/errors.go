package retailcrm

import (
	"errors"
	"fmt"
	"net/url"
	"orderimport/internal/locale"
	"orderimport/internal/netguard"
	"sort"
	"strings"
)

// ErrorKind says what went wrong in terms a caller can act on: retry, stop and ask a human, or
// report a bug in the request.
type ErrorKind int

const (
	// KindInvalidKey: RetailCRM does not know the API key (403 `Wrong "apiKey" value.`, `"apiKey" is missing.`).
	KindInvalidKey ErrorKind = iota + 1
	// KindAccessDenied: the key is valid but lacks a permission (scope) or the store.
	KindAccessDenied
	// KindAccountNotFound: no RetailCRM account answers at the URL (HTML page, redirect, `Account does not exist.`).
	KindAccountNotFound
	// KindValidation: RetailCRM refused the request parameters (400 with a message and per-field errors).
	KindValidation
	// KindNotFound: the requested record or method does not exist (404).
	KindNotFound
	// KindRateLimited: RetailCRM throttled the request (503 or 429).
	KindRateLimited
	// KindServer: RetailCRM failed internally (5xx other than 503).
	KindServer
	// KindTransport: the request did not complete (DNS, dial, TLS, timeout, connection reset).
	KindTransport
	// KindGarbled: the answer could not be read (not JSON, truncated, success:false without a message).
	KindGarbled
)

var kindNames = map[ErrorKind]string{
	KindInvalidKey:      "invalid_key",
	KindAccessDenied:    "access_denied",
	KindAccountNotFound: "account_not_found",
	KindValidation:      "validation",
	KindNotFound:        "not_found",
	KindRateLimited:     "rate_limited",
	KindServer:          "server",
	KindTransport:       "transport",
	KindGarbled:         "garbled",
}

// String is a stable snake_case name, suitable for metrics labels and stored run records.
func (k ErrorKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether the same request may succeed if sent again later.
func (k ErrorKind) Retryable() bool {
	switch k {
	case KindRateLimited, KindServer, KindTransport, KindGarbled:
		return true
	}
	return false
}

// Permanent reports whether retrying is pointless until a human changes the key, its permissions
// or the account URL.
func (k ErrorKind) Permanent() bool {
	switch k {
	case KindInvalidKey, KindAccessDenied, KindAccountNotFound:
		return true
	}
	return false
}

// Error is every failure the client reports about a RetailCRM call. Error() is written for the
// marketer who configured the import; it never contains the API key.
type Error struct {
	Kind     ErrorKind
	Status   int               // HTTP status; 0 when no answer arrived
	Message  string            // RetailCRM's errorMsg, or a short description when it sent none
	Errors   map[string]string // RetailCRM's per-field errors; array answers are keyed "0", "1", …
	Endpoint string            // e.g. "GET /api/v5/orders"
	Err      error             // underlying cause (network, JSON syntax), if any
}

func (e *Error) Error() string { return e.Msg().String() }

// Msg is the failure as a message for people: a code per kind, and as its detail what
// RetailCRM said in its own words (or, when no answer arrived, what stopped the request).
func (e *Error) Msg() locale.Message {
	// The SSRF guard refusing the address says why itself.
	var re *netguard.RedirectError
	switch {
	case errors.As(e.Err, &re):
		return re.Message()
	case errors.Is(e.Err, netguard.ErrPrivateAddress):
		if m, ok := locale.MessageOf(e.Err); ok {
			return m
		}
	}
	var m locale.Message
	switch e.Kind {
	case KindInvalidKey:
		m = locale.M("crm_invalid_key")
	case KindAccessDenied:
		m = locale.M("crm_access_denied")
	case KindAccountNotFound:
		m = locale.M("crm_account_not_found")
	case KindValidation:
		m = locale.M("crm_validation")
	case KindNotFound:
		m = locale.M("crm_not_found")
	case KindRateLimited:
		m = locale.M("crm_rate_limited")
	case KindServer:
		m = locale.M("crm_server")
	case KindTransport:
		m = locale.M("crm_transport")
	case KindGarbled:
		m = locale.M("crm_garbled")
	default:
		m = locale.M("crm_failed")
	}
	var detail []string
	if e.Message != "" {
		detail = append(detail, e.Message)
	}
	if len(e.Errors) > 0 {
		keys := make([]string, 0, len(e.Errors))
		for k := range e.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if isIndexKey(k) {
				detail = append(detail, e.Errors[k])
			} else {
				detail = append(detail, k+": "+e.Errors[k])
			}
		}
	}
	if e.Err != nil && e.Kind == KindTransport {
		detail = append(detail, causeText(e.Err))
	}
	if len(detail) == 0 && e.Status != 0 && (e.Kind == KindServer || e.Kind == KindRateLimited) {
		detail = append(detail, fmt.Sprintf("HTTP %d", e.Status))
	}
	return m.WithDetail(strings.Join(detail, "; "))
}

func (e *Error) Unwrap() error { return e.Err }

// IsKind reports whether err is, or wraps, an *Error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// KindOf returns the kind of the *Error in err's chain, or 0 when there is none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func isIndexKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// causeText drops the "Get "https://…": " prefix net/http puts on transport errors: the URL is
// already known to the reader and only makes the sentence longer.
func causeText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}

// classifyMessage recognises RetailCRM's fixed error texts, which decide the kind regardless of the
// HTTP status they come with (the SDKs match on them the same way).
func classifyMessage(msg string) ErrorKind {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "apikey") &&
		(strings.Contains(m, "wrong") || strings.Contains(m, "missing") || strings.Contains(m, "invalid")):
		return KindInvalidKey
	case strings.Contains(m, "access denied"):
		return KindAccessDenied
	case strings.Contains(m, "account does not exist"):
		return KindAccountNotFound
	}
	return 0
}
