package mapping

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// CustomFieldInfo is one custom field of the RetailCRM account, as
// GET /api/v5/custom-fields describes it.
type CustomFieldInfo struct {
	Code, Name, Type string
}

// Choice is one source a user can pick for a field in the settings form.
type Choice struct {
	Expr, LabelRU, LabelEN string
	Group                  string // "order" | "custom"
}

// standardChoices are the order fields worth offering, from the order
// object's documented fields (retailcrm-api-notes §6).
var standardChoices = []Choice{
	{"id", "ID заказа в RetailCRM", "RetailCRM order ID", "order"},
	{"number", "Номер заказа", "Order number", "order"},
	{"externalId", "Внешний ID заказа", "External order ID", "order"},
	{"createdAt", "Дата оформления заказа", "Order created at", "order"},
	{"statusUpdatedAt", "Дата последнего изменения статуса", "Status changed at", "order"},
	{"fullPaidAt", "Дата полной оплаты", "Fully paid at", "order"},
	{"status", "Статус (код)", "Status (code)", "order"},
	{"site", "Магазин (код)", "Store (code)", "order"},
	{"orderType", "Тип заказа (код)", "Order type (code)", "order"},
	{"orderMethod", "Способ оформления (код)", "Order method (code)", "order"},
	{"sum(filter(items, .isCanceled != true), .quantity)", "Количество товаров (без отменённых)", "Item count (canceled lines excluded)", "order"},
	{"summ", "Сумма по товарам", "Goods total", "order"},
	{"totalSumm", "Общая сумма с учётом скидки", "Total after discounts", "order"},
	{"prepaySum", "Оплаченная сумма", "Amount paid", "order"},
	{"purchaseSumm", "Стоимость закупки", "Purchase cost", "order"},
	{"(totalSumm ?? 0) - (purchaseSumm ?? 0) - (delivery.netCost ?? 0)", "Валовая прибыль (сумма − закупка − себестоимость доставки)", "Gross profit (total − purchase − delivery cost price)", "order"},
	{"delivery.cost", "Стоимость доставки", "Delivery price", "order"},
	{"delivery.netCost", "Себестоимость доставки", "Delivery cost price", "order"},
	{"delivery.code", "Тип доставки (код)", "Delivery type (code)", "order"},
	{"customerComment", "Комментарий клиента", "Customer comment", "order"},
	{"managerComment", "Комментарий оператора", "Manager comment", "order"},
	{"joinWords(lastName, firstName, patronymic)", "ФИО (фамилия имя отчество)", "Full name (last first middle)", "order"},
	{"firstName", "Имя", "First name", "order"},
	{"lastName", "Фамилия", "Last name", "order"},
	{"patronymic", "Отчество", "Middle name", "order"},
	{"phone", "Телефон", "Phone", "order"},
	{"additionalPhone", "Дополнительный телефон", "Additional phone", "order"},
	{"email", "Email", "Email", "order"},
	{"clientId", "Метка клиента Google Analytics", "Google Analytics client ID", "order"},
	{"source.source", "Источник", "Source", "order"},
	{"source.medium", "Канал", "Medium", "order"},
	{"source.campaign", "Кампания", "Campaign", "order"},
	{"source.keyword", "Ключевое слово", "Keyword", "order"},
	{"source.content", "Содержание кампании", "Campaign content", "order"},
	{"customer.id", "ID клиента в RetailCRM", "RetailCRM customer ID", "order"},
	{"customer.externalId", "Внешний ID клиента", "External customer ID", "order"},
	{"customer.tags", "Теги клиента", "Customer tags", "order"},
	{"company.name", "Компания", "Company", "order"},
	{"managerId", "ID менеджера", "Manager ID", "order"},
	{"countryIso", "Страна (код ISO)", "Country (ISO code)", "order"},
	{"currency", "Валюта", "Currency", "order"},
}

// customFieldExpr is the path of a custom field: customFields.code, or
// customFields["code"] when the code is not a plain name (multi-dictionary)
// or is a word of the language (in, not, matches, …).
func customFieldExpr(code string) string {
	if isPlainName(code) && !reservedWords[code] {
		return "customFields." + code
	}
	return "customFields[" + strconv.Quote(code) + "]"
}

var reservedWords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "matches": true, "contains": true,
	"startsWith": true, "endsWith": true, "let": true, "if": true, "else": true,
	"nil": true, "true": true, "false": true,
}

func isPlainName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// Choices lists every source a user can pick: the standard order fields,
// then each custom field as customFields.<code>, in the order given.
func Choices(customFields []CustomFieldInfo) []Choice {
	out := make([]Choice, 0, len(standardChoices)+len(customFields))
	out = append(out, standardChoices...)
	for _, cf := range customFields {
		if cf.Code == "" {
			continue
		}
		name := cf.Name
		if name == "" {
			name = cf.Code
		}
		out = append(out, Choice{
			Expr:    customFieldExpr(cf.Code),
			LabelRU: "Пользовательское поле «" + name + "»",
			LabelEN: "Custom field “" + name + "”",
			Group:   "custom",
		})
	}
	return out
}

// keywordGroup is a set of words meaning the same thing, worth weight when
// any of them matches a word of a custom field's code or name. A keyword
// matches a word (words split at non-letters and camelCase) that equals it,
// starts with it or ends with it, so "k50_sid", "k50Sid", "sessionId" and
// "ID сессии" match but "consider" does not.
type keywordGroup struct {
	words  []string
	weight int
}

var (
	sessionKeywords = []keywordGroup{
		{[]string{"sid", "session", "sess", "сеанс", "сесси"}, 40},
		{[]string{"k50"}, 20},
		{[]string{"uuid"}, 10},
	}
	userKeywords = []keywordGroup{
		{[]string{"uid", "user", "visitor", "пользовател", "посетител"}, 40},
		{[]string{"client", "клиент"}, 25},
		{[]string{"k50"}, 20},
		{[]string{"uuid"}, 20},
	}
)

// Suggest proposes sources for session_id and user_id among the custom
// fields, best first: fields whose code or name mention sid/session/k50/uuid
// (session_id) or user/uid/visitor/client/k50/uuid (user_id). A field goes
// to the field it fits better; both keys are always present.
func Suggest(customFields []CustomFieldInfo) map[string][]string {
	type scored struct {
		expr  string
		score int
	}
	var session, user []scored
	for _, cf := range customFields {
		if cf.Code == "" {
			continue
		}
		words := append(splitWords(cf.Code), splitWords(cf.Name)...)
		s, u := score(words, sessionKeywords), score(words, userKeywords)
		expr := customFieldExpr(cf.Code)
		switch {
		case s == 0 && u == 0:
		case s > u:
			session = append(session, scored{expr, s})
		case u > s:
			user = append(user, scored{expr, u})
		default: // a bare "k50" or "uuid" field: offer it for both
			session = append(session, scored{expr, s})
			user = append(user, scored{expr, u})
		}
	}
	rank := func(list []scored) []string {
		sort.SliceStable(list, func(i, j int) bool {
			if list[i].score != list[j].score {
				return list[i].score > list[j].score
			}
			return list[i].expr < list[j].expr
		})
		out := make([]string, len(list))
		for i, c := range list {
			out[i] = c.expr
		}
		return out
	}
	return map[string][]string{FieldSessionID: rank(session), FieldUserID: rank(user)}
}

// score sums the weights of the groups with a word in words.
func score(words []string, groups []keywordGroup) int {
	total := 0
	for _, g := range groups {
		if slices.ContainsFunc(words, func(w string) bool {
			return slices.ContainsFunc(g.words, func(kw string) bool {
				return w == kw || strings.HasPrefix(w, kw) || strings.HasSuffix(w, kw)
			})
		}) {
			total += g.weight
		}
	}
	return total
}

// splitWords lower-cases s and splits it into words at non-letters/digits
// and at camelCase humps: "k50SessionID" → k50, session, id.
func splitWords(s string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	runes := []rune(s)
	for i, r := range runes {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && i > 0 && (unicode.IsLower(runes[i-1]) || unicode.IsDigit(runes[i-1])):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return words
}
