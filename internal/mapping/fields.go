package mapping

// The tracker's order fields, in the order of the original K50 help page
// (https://help.k50.ru/tracker/import-dannyh/retailcrm/).
const (
	FieldOrderID      = "order_id"
	FieldOrderDate    = "order_date"
	FieldSessionID    = "session_id"
	FieldUserID       = "user_id"
	FieldItemCount    = "item_count"
	FieldProfit       = "profit"
	FieldRevenue      = "revenue"
	FieldComment      = "comment"
	FieldContactName  = "contact_name"
	FieldContactPhone = "contact_phone"
	FieldContactEmail = "contact_email"
	FieldTags         = "tags"
)

// FieldInfo describes one tracker field for the settings form. Its title and
// help are the parameter table of the original K50 help page, in the
// catalogues under TitleKey and HelpKey; the help page marks required fields
// with " *" after the title, which the form adds from Required.
type FieldInfo struct {
	Name     string
	Required bool
}

// TitleKey is the catalogue key of the field's title, "field.<name>" (the
// key a message's {arg:field} placeholder shows).
func (f FieldInfo) TitleKey() string { return "field." + f.Name }

// HelpKey is the catalogue key of the field's description.
func (f FieldInfo) HelpKey() string { return "field_help." + f.Name }

// Fields lists all twelve tracker fields in the help page's order.
var Fields = []FieldInfo{
	{FieldOrderID, true},
	{FieldOrderDate, true},
	{FieldSessionID, false},
	{FieldUserID, false},
	{FieldItemCount, false},
	{FieldProfit, false},
	{FieldRevenue, false},
	{FieldComment, false},
	{FieldContactName, false},
	{FieldContactPhone, false},
	{FieldContactEmail, false},
	{FieldTags, false},
}

// fieldIndex maps a field name to its position in Fields.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(Fields))
	for i, f := range Fields {
		m[f.Name] = i
	}
	return m
}()

// Default returns the default mapping: every field, with ""
// for the ones unmapped by default (session_id, user_id, tags).
//
// item_count leaves out canceled lines (isCanceled: true): RetailCRM keeps
// them in items[] but excludes them from summ and purchaseSumm, hence from
// revenue and profit, so counting them would describe a different order than
// the money does. Lines without a quantity count as nothing.
func Default() map[string]string {
	return map[string]string{
		FieldOrderID:      "id",
		FieldOrderDate:    "createdAt",
		FieldSessionID:    "",
		FieldUserID:       "",
		FieldItemCount:    "sum(filter(items, .isCanceled != true), .quantity)",
		FieldProfit:       "(totalSumm ?? 0) - (purchaseSumm ?? 0) - (delivery.netCost ?? 0)",
		FieldRevenue:      "totalSumm",
		FieldComment:      "customerComment",
		FieldContactName:  "joinWords(lastName, firstName, patronymic)",
		FieldContactPhone: "phone",
		FieldContactEmail: "email",
		FieldTags:         "",
	}
}
