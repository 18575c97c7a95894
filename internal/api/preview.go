package api

import (
	"net/http"

	"orderimport/internal/imports"
)

type previewOrderJSON struct {
	CRMID    int64      `json:"crm_id"`
	Number   string     `json:"number"`
	Rejected bool       `json:"rejected"`
	Order    *orderJSON `json:"order"`
	Issues   any        `json:"issues"`
}

func (a *API) preview(w http.ResponseWriter, r *http.Request) {
	var in imports.PreviewInput
	if !decode(w, r, &in) {
		return
	}
	p, err := a.Imports.Preview(r.Context(), userFrom(r.Context()).AccountID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]previewOrderJSON, 0, len(p.Orders))
	for _, o := range p.Orders {
		po := previewOrderJSON{CRMID: o.CRMID, Number: o.Number, Rejected: o.Rejected, Issues: o.Issues}
		if o.Order != nil {
			oj := orderOut(o.Order)
			po.Order = &oj
		}
		out = append(out, po)
	}
	writeJSON(w, http.StatusOK, map[string]any{"timezone": p.Timezone, "orders": out})
}
