package web

import (
	"strings"

	"orderimport/internal/mapping"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// previewSize is how many of the newest orders a preview maps.
const previewSize = 10

// previewView is a preview laid out as the orders table: one row per order, a cell per
// tracker field, problem values marked and explained where they occur.
type previewView struct {
	Timezone string
	Fields   []string
	Rows     []previewRow
	Rejected int
	Flagged  int
	Skeleton bool // the empty table the script fills
}

type previewRow struct {
	Number   string
	CRMID    int64
	Rejected bool
	Issues   []issueView // every issue, shown next to the order number
	Cells    []previewCell
}

// issueView is a run or preview issue as a page shows it: the message in the visitor's
// language, with the verbatim detail apart.
type issueView struct {
	OrderID     string
	OrderNumber string
	Field       string
	Value       string
	Text        string
	Detail      string
}

func issueViews(vw *view, list []store.Issue) []issueView {
	out := make([]issueView, 0, len(list))
	for _, is := range list {
		out = append(out, issueView{OrderID: is.OrderID, OrderNumber: is.OrderNumber, Field: is.Field, Value: is.Value,
			Text: vw.Msg(is.Msg), Detail: is.Msg.Detail})
	}
	return out
}

// previewCell is a stored value; Bad marks a value with an issue, Note says which.
type previewCell struct {
	Field string
	Value string
	Bad   bool
	Note  string
}

func newPreviewView(vw *view, p *tasks.Preview) *previewView {
	pv := &previewView{Timezone: p.Timezone}
	for _, f := range mapping.Fields {
		pv.Fields = append(pv.Fields, f.Name)
	}
	for _, o := range p.Orders {
		row := previewRow{Number: o.Number, CRMID: o.CRMID, Rejected: o.Rejected, Issues: issueViews(vw, o.Issues)}
		notes := map[string][]string{}
		for _, is := range row.Issues {
			notes[is.Field] = append(notes[is.Field], is.Text)
		}
		for _, f := range pv.Fields {
			cell := previewCell{Field: f, Bad: len(notes[f]) > 0, Note: strings.Join(notes[f], "; ")}
			if o.Order != nil {
				cell.Value = storedValue(o.Order, f)
			}
			row.Cells = append(row.Cells, cell)
		}
		if row.Rejected {
			pv.Rejected++
		} else if len(o.Issues) > 0 {
			pv.Flagged++
		}
		pv.Rows = append(pv.Rows, row)
	}
	return pv
}

// storedValue is a field of an order exactly as the import would store (and export) it.
func storedValue(o *store.OrderRow, field string) string {
	switch field {
	case mapping.FieldOrderID:
		return o.OrderID
	case mapping.FieldOrderDate:
		return o.OrderLocal
	case mapping.FieldSessionID:
		return o.SessionID
	case mapping.FieldUserID:
		return o.UserID
	case mapping.FieldItemCount:
		return o.ItemCount
	case mapping.FieldProfit:
		return o.Profit
	case mapping.FieldRevenue:
		return o.Revenue
	case mapping.FieldComment:
		return o.Comment
	case mapping.FieldContactName:
		return o.ContactName
	case mapping.FieldContactPhone:
		return o.ContactPhone
	case mapping.FieldContactEmail:
		return o.ContactEmail
	case mapping.FieldTags:
		return strings.Join(o.Tags, ",")
	}
	return ""
}
