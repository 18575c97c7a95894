package api

import (
	"net/http"

	"orderimport/internal/export"
	"orderimport/internal/tasks"
)

type previewOrderJSON struct {
	CRMID    int64         `json:"crm_id"`
	Number   string        `json:"number"`
	Rejected bool          `json:"rejected"`
	Order    *export.Order `json:"order"`
	Issues   []issueJSON   `json:"issues"`
}

func (a *API) preview(w http.ResponseWriter, r *http.Request) {
	var in tasks.PreviewInput
	if !decode(w, r, &in) {
		return
	}
	res, err := a.Tasks.Preview(r.Context(), userFrom(r.Context()).AccountID, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := printer(r)
	out := make([]previewOrderJSON, 0, len(res.Orders))
	for _, o := range res.Orders {
		po := previewOrderJSON{CRMID: o.CRMID, Number: o.Number, Rejected: o.Rejected, Issues: issuesOut(p, o.Issues)}
		if o.Order != nil {
			oj := export.OrderOf(o.Order, res.Names)
			po.Order = &oj
		}
		out = append(out, po)
	}
	writeJSON(w, http.StatusOK, map[string]any{"timezone": res.Timezone, "orders": out})
}
