package mapping

// The tracker's order fields, in the seed's order.
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

// FieldInfo describes one tracker field for the settings form. Titles and
// help are the seed's parameter table; the seed marks required fields with
// " *" after the title, which the form adds from Required.
type FieldInfo struct {
	Name                             string
	Required                         bool
	TitleRU, TitleEN, HelpRU, HelpEN string
}

// Fields lists all twelve tracker fields in the seed's order.
var Fields = []FieldInfo{
	{FieldOrderID, true, "ID Заказа", "Order ID",
		"Идентификатор заказа в системе CRM клиента.",
		"The order's identifier in the client's CRM."},
	{FieldOrderDate, true, "Дата заказа", "Order date",
		"Дата создания заказа. Формат: YYYY-MM-DD HH:MM:SS.",
		"When the order was created. Format: YYYY-MM-DD HH:MM:SS."},
	{FieldSessionID, false, "ID сеанса", "Session ID",
		"Идентификатор сеанса. Если его нет в CRM, оставляем пустым.",
		"The session identifier. Leave empty if the CRM does not have it."},
	{FieldUserID, false, "ID пользователя", "User ID",
		"Идентификатор пользователя. Если его нет в CRM, оставляем пустым.",
		"The user identifier. Leave empty if the CRM does not have it."},
	{FieldItemCount, false, "Количество товаров", "Item count",
		"Количество товаров.",
		"The number of items."},
	{FieldProfit, false, "Прибыль", "Profit",
		"Суммарная прибыль(маржа) с заказа.",
		"The order's total profit (margin)."},
	{FieldRevenue, false, "Доход", "Revenue",
		"Суммарный доход с заказа.",
		"The order's total revenue."},
	{FieldComment, false, "Комментарий", "Comment",
		"Комментарий.",
		"A comment."},
	{FieldContactName, false, "Контактное лицо (ФИО)", "Contact name",
		"Имя контактного лица.",
		"The contact person's name."},
	{FieldContactPhone, false, "Телефон контактного лица", "Contact phone",
		"Номер телефона, с которого звонил клиент. Формат 7XXXXXXXXXX.",
		"The phone number the customer called from. Format 7XXXXXXXXXX."},
	{FieldContactEmail, false, "Email контактного лица", "Contact email",
		"Email контактного лица.",
		"The contact person's email."},
	{FieldTags, false, "Теги", "Tags",
		"Теги заказов.",
		"Order tags."},
}

// fieldIndex maps a field name to its position in Fields.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(Fields))
	for i, f := range Fields {
		m[f.Name] = i
	}
	return m
}()

// Default returns the contract's default mapping: every field, with ""
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
