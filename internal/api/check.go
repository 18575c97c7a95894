package api

import (
	"net/http"

	"orderimport/internal/imports"
)

func (a *API) check(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL    string `json:"url"`
		APIKey string `json:"api_key"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.URL == "" {
		a.fail(w, r, &imports.FieldError{Field: "url", Message: "is required (for example https://shop.retailcrm.ru)"})
		return
	}
	res, err := a.Imports.Check(r.Context(), in.URL, in.APIKey)
	if err != nil {
		// The check's fields are top-level: url, api_key.
		if fe, ok := err.(*imports.FieldError); ok {
			err = &imports.FieldError{Field: trimPrefix(fe.Field), Message: fe.Message}
		} else if ce, ok := err.(*imports.CRMError); ok {
			err = &imports.CRMError{Field: trimPrefix(ce.Field), Message: ce.Message, Err: ce.Err}
		}
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func trimPrefix(field string) string {
	const p = "retailcrm."
	if len(field) > len(p) && field[:len(p)] == p {
		return field[len(p):]
	}
	return field
}
