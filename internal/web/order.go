package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"orderimport/internal/store"
)

// orderData is one order: its current values and its timeline.
type orderData struct {
	Order  orderView
	Fields []fieldValue
	Events []eventView
	Back   string // the orders list
	Zone   string // the counter's zone, which the events' times are in
}

// fieldValue is one field of an order or of a change, in the visitor's words: Data marks values
// that come from RetailCRM or the mapping (names, codes, ids), Empty a field without a value.
type fieldValue struct {
	Label, Value string
	Data, Empty  bool
}

// eventView is one event of the timeline.
type eventView struct {
	At      string
	Source  string
	RunID   int64
	Deleted bool // the event flagged the order deleted
	Restore bool // it brought a deleted order back
	Changes []changeView
}

type changeView struct {
	Label    string
	Old, New fieldValue
}

// orderPath is an order's page.
func orderPath(c store.Counter, orderID string) string {
	return counterPath(c, "/orders/"+url.PathEscape(orderID))
}

// order is an order's page, reached from the orders list: what it holds now and every stored
// change, oldest first, money in the order's currency.
func (h *Web) order(w http.ResponseWriter, r *http.Request, vw *view) {
	c, err := h.loadCounter(r, vw)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	acc := vw.Visitor.User.AccountID
	o, events, err := h.Tasks.OrderTimeline(r.Context(), acc, c.ID, r.PathValue("order_id"))
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	names, err := h.Tasks.Names(r.Context(), acc, c.ID)
	if err != nil {
		h.fail(w, r, vw, err)
		return
	}
	d := orderData{Back: counterPath(c, "/orders"), Zone: c.Timezone,
		Order: orderView{OrderRow: o, StatusName: names.Status(o.TaskID, o.Status), GroupName: names.Group(o.TaskID, o.StatusGroup),
			SiteName: names.Site(o.TaskID, o.Site)}}
	current := map[string]any{}
	for _, kv := range store.ExportedValues(&o) {
		current[kv.Field] = kv.Value
	}
	// RetailCRM's codes by their names in the task's reference, as the orders list shows them.
	named := func(field string, v any) any {
		code, ok := v.(string)
		if !ok || code == "" {
			return v
		}
		var name string
		switch field {
		case "status":
			name = names.Status(o.TaskID, code)
		case "status_group":
			name = names.Group(o.TaskID, code)
		case "site":
			name = names.Site(o.TaskID, code)
		}
		if name == "" {
			return v
		}
		return name
	}
	for _, f := range store.TimelineFields {
		if f == "deleted" {
			continue
		}
		v := fieldText(vw, f, named(f, current[f]), o.Currency)
		v.Label = vw.T("order.field." + f)
		d.Fields = append(d.Fields, v)
	}
	for _, e := range events {
		ev := eventView{At: whenText(vw.p, e.At, c.Timezone), Source: vw.T("order.source." + e.Source), RunID: e.RunID}
		if ch, ok := e.Changes["deleted"]; ok {
			ev.Deleted, ev.Restore = ch.New == true, ch.New == false
		}
		currency := o.Currency
		if ch, ok := e.Changes["currency"]; ok {
			currency = fmt.Sprint(ch.New)
		}
		for _, f := range store.TimelineFields {
			ch, ok := e.Changes[f]
			if !ok || f == "deleted" {
				continue
			}
			ev.Changes = append(ev.Changes, changeView{Label: vw.T("order.field." + f),
				Old: fieldText(vw, f, named(f, ch.Old), currency), New: fieldText(vw, f, named(f, ch.New), currency)})
		}
		d.Events = append(d.Events, ev)
	}
	vw.Section = "orders"
	vw.Title = vw.T("order.title", o.OrderID)
	vw.Crumbs = []crumb{{Label: vw.T("orders.title"), Href: d.Back}, {Label: o.OrderID, Data: true}}
	h.render(w, r, vw, "order.html", d)
}

// fieldText shows a field's value as the orders list does: money in the currency, numbers and
// dates in the visitor's format, switches in words, tags joined.
func fieldText(vw *view, field string, v any, currency string) fieldValue {
	switch x := v.(type) {
	case nil:
		return fieldValue{Empty: true}
	case bool:
		if x {
			return fieldValue{Value: vw.T("order.yes")}
		}
		return fieldValue{Value: vw.T("order.no")}
	case []string:
		return joined(x)
	case []any:
		tags := make([]string, 0, len(x))
		for _, t := range x {
			tags = append(tags, fmt.Sprint(t))
		}
		return joined(tags)
	}
	s := fmt.Sprint(v)
	if s == "" {
		return fieldValue{Empty: true}
	}
	switch field {
	case "revenue", "profit":
		return fieldValue{Value: vw.p.Money(s, currency)}
	case "item_count":
		return fieldValue{Value: vw.p.Number(s)}
	case "order_date":
		return fieldValue{Value: vw.p.DateTime(s)}
	}
	return fieldValue{Value: s, Data: true}
}

func joined(tags []string) fieldValue {
	if len(tags) == 0 {
		return fieldValue{Empty: true}
	}
	return fieldValue{Value: strings.Join(tags, ", "), Data: true}
}
