package tasks

import (
	"errors"
	"strings"

	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/netguard"
	"orderimport/internal/retailcrm"
)

// FieldError is one invalid value: the field as the API names it ("name", "retailcrm.url",
// "mapping.contact_phone") and why, as a message.
type FieldError struct {
	Field string
	Msg   locale.Message
}

// InvalidError is input that breaks the rules: every invalid field at once, in the order of
// the form, so that a person fixes them in one go.
type InvalidError struct {
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Msg.String())
	}
	return "tasks: invalid input: " + strings.Join(parts, "; ")
}

// First is the first invalid field (the API's error names one field).
func (e *InvalidError) First() FieldError { return e.Fields[0] }

// problems collects field errors while rules are checked.
type problems []FieldError

func (p *problems) add(field string, msg locale.Message) {
	*p = append(*p, FieldError{Field: field, Msg: msg})
}

func (p *problems) has(field string) bool {
	for _, f := range *p {
		if f.Field == field {
			return true
		}
	}
	return false
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &InvalidError{Fields: p}
}

// invalid is an InvalidError of one field.
func invalid(field string, msg locale.Message) error {
	return &InvalidError{Fields: []FieldError{{Field: field, Msg: msg}}}
}

// CRMError is RetailCRM (or the way to it) refusing a connection: a 422 naming the field to
// fix and what was answered.
type CRMError struct {
	Field string
	Msg   locale.Message
	// AddressRefused: the SSRF guard refused the address (a private network, a redirect), not
	// RetailCRM; the API's code for it is address_refused.
	AddressRefused bool
	Err            error
}

func (e *CRMError) Error() string { return e.Msg.String() }
func (e *CRMError) Unwrap() error { return e.Err }

// crmError turns what stopped a request to RetailCRM into the field to fix and the words for
// it.
func crmError(err error) error {
	var inv *InvalidError
	if errors.As(err, &inv) {
		return err
	}
	if refused, msg := addressRefused(err); refused {
		return &CRMError{Field: "retailcrm.url", AddressRefused: true, Err: err, Msg: msg}
	}
	msg := importer.FailureMessage(err)
	if msg.Code == "run_internal_error" {
		// Not an answer of RetailCRM's at all: the request did not get anywhere.
		return &CRMError{Field: "retailcrm.url", Msg: locale.M("crm_unreachable"), Err: err}
	}
	field := "retailcrm.api_key"
	switch retailcrm.KindOf(err) {
	case retailcrm.KindAccountNotFound, retailcrm.KindTransport:
		// Nothing answered at the address: the address is what to fix, whatever layer
		// noticed it.
		field = "retailcrm.url"
	}
	return &CRMError{Field: field, Msg: msg, Err: err}
}

// addressRefused recognises the SSRF guard refusing an address (a private network, a
// redirect) and says why.
func addressRefused(err error) (bool, locale.Message) {
	var re *netguard.RedirectError
	if errors.As(err, &re) {
		return true, re.Message()
	}
	if errors.Is(err, netguard.ErrPrivateAddress) {
		if m, ok := locale.MessageOf(err); ok && m.Code == "address_private" {
			return true, m
		}
		return true, locale.M("address_private", "ip", "")
	}
	return false, locale.Message{}
}
