package tasks

import (
	"net/url"
	"strconv"
	"strings"

	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
)

// Limits of an orders page.
const (
	DefaultOrdersLimit = 100
	MaxOrdersLimit     = 1000
)

// OrderQuery reads the order filter of a request's query (the API's and the orders page's
// parameters are the same). A parameter that breaks a rule is reported and left out of the
// filter, so a page can still show what the others select.
func OrderQuery(q url.Values) (store.OrderFilter, []FieldError) {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	var bad problems
	f := store.OrderFilter{Status: get("status"), Site: get("site"), Search: get("q"), Cursor: get("cursor"), Limit: DefaultOrdersLimit}
	if f.Search != "" {
		// A phone is found however it is typed: normalised as stored phones are.
		if phone, err := mapping.NormalizePhone(f.Search); err == nil {
			f.SearchPhone = phone
			if phone != "" {
				f.SearchHashes = append(f.SearchHashes, mapping.HashContact(phone))
			}
		}
		// Tasks that keep contacts only hashed (pii=hash) are searched by the hash of what
		// was typed, normalised as they were.
		if email, err := mapping.NormalizeEmail(f.Search); err == nil && email != "" {
			f.SearchHashes = append(f.SearchHashes, mapping.HashContact(email))
		}
	}
	for _, k := range []string{"from", "to"} {
		v := get(k)
		if v != "" && !isDate(v) {
			bad.add(k, locale.M("date_invalid"))
			continue
		}
		if k == "from" {
			f.From = v
		} else {
			f.To = v
		}
	}
	if f.From != "" && f.To != "" && f.From > f.To {
		bad.add("to", locale.M("to_before_from"))
		f.To = ""
	}
	if v := get("include_deleted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad.add("include_deleted", locale.M("boolean_invalid"))
		}
		f.IncludeDeleted = b
	}
	if v := get("counted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad.add("counted", locale.M("boolean_invalid"))
		} else {
			f.Counted = &b
		}
	}
	if v := get("import_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			bad.add("import_id", locale.M("import_id_invalid"))
		} else {
			f.TaskID = id
		}
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxOrdersLimit {
			bad.add("limit", locale.M("limit_invalid", "max", MaxOrdersLimit))
		} else {
			f.Limit = n
		}
	}
	return f, bad
}
