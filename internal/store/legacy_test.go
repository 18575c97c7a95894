package store

import (
	"strings"
	"testing"

	"orderimport/internal/locale"
)

// Sentences the service stored before message codes read back as their codes, with their
// arguments, in both languages.
func TestLegacyMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		old, code string
		args      map[string]string // argument → its text
		detail    string
	}{
		{"RetailCRM rejected the API key (Wrong \"apiKey\" value.)", "crm_invalid_key", nil, "Wrong \"apiKey\" value."},
		{"the API key is not allowed to read this data in RetailCRM (Access denied.)", "crm_access_denied", nil, "Access denied."},
		{"no RetailCRM account answers at this address; check the account URL (the address answered with a web page, not the RetailCRM API)", "crm_account_not_found", nil, "the address answered with a web page, not the RetailCRM API"},
		{"could not reach RetailCRM (dial tcp: lookup x.invalid: no such host)", "crm_transport", nil, "dial tcp: lookup x.invalid: no such host"},
		{"RetailCRM had an internal error (HTTP 500)", "crm_server", nil, "HTTP 500"},
		{"RetailCRM asked to slow down: too many requests for this account", "crm_rate_limited", nil, ""},
		{"the worker stopped before the run finished; the next run resumes from the last saved checkpoint", "run_interrupted", nil, ""},
		{"the import task was deleted", "task_deleted", nil, ""},
		{"RetailCRM's change feed did not move past entry 123", "feed_stuck", map[string]string{"entry": "123"}, ""},
		{"orders of 2026-01-01–2026-01-03 kept being deleted or moved while they were read (4 attempts); everything read so far is saved", "window_unstable",
			map[string]string{"from": "2026-01-01", "to": "2026-01-03", "attempts": "4"}, ""},
		{"RetailCRM reports an unknown timezone \"Mars/Base\"", "crm_timezone_unknown", map[string]string{"zone": "Mars/Base"}, ""},
		{"the mapping has errors: mapping: profit: 1:5: unexpected token", "mapping_invalid", nil, "mapping: profit: 1:5: unexpected token"},
		{"5 runs in a row failed; the last error: RetailCRM had an internal error (HTTP 502)", "runs_failed_in_row", map[string]string{"n": "5"}, ""},
		{"not a valid phone number", "phone_invalid", nil, ""},
		{"not a valid email address", "email_invalid", nil, ""},
		{"a tag was cut to 100 characters", "tag_truncated", map[string]string{"max": "100"}, ""},
		{"cut to 500 characters", "text_truncated", map[string]string{"max": "500"}, ""},
		{"expected text, got a list", "text_expected", map[string]string{"kind": "list"}, ""},
		{"number 123456789012345678901234567890123 is too large (31 digits or more)", "number_too_large", map[string]string{"max": "30"}, ""},
		{"order rejected: order_date: missing", "order_rejected", nil, ""},
		{"order rejected: not a JSON object: unexpected end of JSON input", "order_invalid_json", nil, "unexpected end of JSON input"},
		{"the expression failed at 1:7: division by zero", "expression_failed", map[string]string{"line": "1", "column": "7"}, "division by zero"},
		{"something nobody wrote down", "legacy_text", nil, "something nobody wrote down"},
	}
	ru, en := locale.For("ru"), locale.For("en")
	for _, c := range cases {
		m := LegacyMessage(c.old)
		if m.Code != c.code || m.Detail != c.detail {
			t.Errorf("%q → %+v, want code %s detail %q", c.old, m, c.code, c.detail)
			continue
		}
		for k, v := range c.args {
			if m.Arg(k) != v {
				t.Errorf("%q: argument %s = %q, want %q", c.old, k, m.Arg(k), v)
			}
		}
		for _, p := range []*locale.Printer{ru, en} {
			if got := p.Msg(m); got == "" || strings.Contains(got, "[") {
				t.Errorf("%q renders as %q in %s", c.old, got, p.Lang())
			}
		}
	}
	nested := LegacyMessage("5 runs in a row failed; the last error: RetailCRM had an internal error (HTTP 502)")
	if got := ru.Msg(nested); !strings.Contains(got, ru.Msg(locale.M("crm_server"))) || !strings.Contains(got, "5 запусков") {
		t.Errorf("nested: %q", got)
	}
	rej := LegacyMessage("order rejected: order_date: missing")
	if got := en.Msg(rej); !strings.Contains(got, en.Msg(locale.M("required_missing"))) {
		t.Errorf("order rejected: %q", got)
	}
}

// Every pattern's code has words (a pattern added with a typo in its code fails here).
func TestLegacyCodesHaveWords(t *testing.T) {
	t.Parallel()
	p := locale.For("ru")
	for _, lp := range append(append([]legacyPattern{}, legacyPatterns...), legacyIssuePatterns...) {
		if !p.Has("msg." + lp.code) {
			t.Errorf("pattern %s: code %q has no words", lp.re, lp.code)
		}
	}
}
