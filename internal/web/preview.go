package web

import (
	"html/template"
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
	Fields   []previewField
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
	Text        template.HTML // the message, its data marked
	Plain       string        // the same words as plain text, for a tooltip
	Detail      string
}

func issueViews(vw *view, list []store.Issue) []issueView {
	out := make([]issueView, 0, len(list))
	for _, is := range list {
		out = append(out, issueView{OrderID: is.OrderID, OrderNumber: is.OrderNumber, Field: is.Field, Value: is.Value,
			Text: vw.Msg(is.Msg), Plain: vw.p.Msg(is.Msg), Detail: is.Msg.Detail})
	}
	return out
}

// previewCell is a stored value; Bad marks a value with an issue, Note says which.
type previewCell struct {
	Field  string
	Format string
	Value  string
	Bad    bool
	Note   string
}

// Class is the cell's classes: its column's, and "bad" for a value with an issue.
func (c previewCell) Class() string {
	class := previewField{Format: c.Format}.Class()
	if c.Bad {
		class = strings.TrimSpace(class + " bad")
	}
	return class
}

// previewField is a column of the preview: a tracker field and how its values read ("money",
// "number", "datetime" or "" for text as it is). The page's script formats the values it
// receives from the API by the same attribute.
type previewField struct {
	Name   string
	Format string
}

// Class is the column's layout: numbers line up on the right, a date and time stays on a line.
func (f previewField) Class() string {
	switch f.Format {
	case "money", "number":
		return "num"
	case "datetime":
		return "nowrap"
	}
	return ""
}

func previewFields() []previewField {
	out := make([]previewField, 0, len(mapping.Fields))
	for _, f := range mapping.Fields {
		pf := previewField{Name: f.Name}
		switch f.Name {
		case mapping.FieldRevenue, mapping.FieldProfit:
			pf.Format = "money"
		case mapping.FieldItemCount:
			pf.Format = "number"
		case mapping.FieldOrderDate:
			pf.Format = "datetime"
		}
		out = append(out, pf)
	}
	return out
}

func newPreviewView(vw *view, p *tasks.Preview) *previewView {
	pv := &previewView{Timezone: p.Timezone}
	pv.Fields = previewFields()
	for _, o := range p.Orders {
		row := previewRow{Number: o.Number, CRMID: o.CRMID, Rejected: o.Rejected, Issues: issueViews(vw, o.Issues)}
		notes := map[string][]string{}
		for _, is := range row.Issues {
			notes[is.Field] = append(notes[is.Field], is.Plain)
		}
		for _, f := range pv.Fields {
			cell := previewCell{Field: f.Name, Format: f.Format, Bad: len(notes[f.Name]) > 0, Note: strings.Join(notes[f.Name], "; ")}
			if o.Order != nil {
				cell.Value = shownValue(vw, f.Format, storedValue(o.Order, f.Name))
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

// shownValue is a stored value as the orders table shows it: sums and counts in the reader's
// number format, everything else as it is.
func shownValue(vw *view, format, v string) string {
	switch format {
	case "money":
		return vw.p.Money(v, "")
	case "number":
		return vw.p.Number(v)
	case "datetime":
		return vw.p.DateTime(v)
	}
	return v
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
