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
// Label is the catalogue key of its label; the label of a custom field takes
// the field's name, LabelArg, as its %s.
type Choice struct {
	Expr     string
	Label    string
	LabelArg string
	Group    string // "order" | "custom"
}

// standardChoices are the order fields worth offering, from the fields
// RetailCRM's API documentation lists for the order object.
var standardChoices = []Choice{
	orderChoice("id", "choice.id"),
	orderChoice("number", "choice.number"),
	orderChoice("externalId", "choice.external_id"),
	orderChoice("createdAt", "choice.created_at"),
	orderChoice("statusUpdatedAt", "choice.status_updated_at"),
	orderChoice("fullPaidAt", "choice.full_paid_at"),
	orderChoice("status", "choice.status"),
	orderChoice("site", "choice.site"),
	orderChoice("orderType", "choice.order_type"),
	orderChoice("orderMethod", "choice.order_method"),
	orderChoice("sum(filter(items, .isCanceled != true), .quantity)", "choice.item_count"),
	orderChoice("summ", "choice.summ"),
	orderChoice("totalSumm", "choice.total_summ"),
	orderChoice("prepaySum", "choice.prepay_sum"),
	orderChoice("purchaseSumm", "choice.purchase_summ"),
	orderChoice("(totalSumm ?? 0) - (purchaseSumm ?? 0) - (delivery.netCost ?? 0)", "choice.gross_profit"),
	orderChoice("delivery.cost", "choice.delivery_cost"),
	orderChoice("delivery.netCost", "choice.delivery_net_cost"),
	orderChoice("delivery.code", "choice.delivery_code"),
	orderChoice("customerComment", "choice.customer_comment"),
	orderChoice("managerComment", "choice.manager_comment"),
	orderChoice("joinWords(lastName, firstName, patronymic)", "choice.full_name"),
	orderChoice("firstName", "choice.first_name"),
	orderChoice("lastName", "choice.last_name"),
	orderChoice("patronymic", "choice.patronymic"),
	orderChoice("phone", "choice.phone"),
	orderChoice("additionalPhone", "choice.additional_phone"),
	orderChoice("email", "choice.email"),
	orderChoice("clientId", "choice.client_id"),
	orderChoice("source.source", "choice.source"),
	orderChoice("source.medium", "choice.medium"),
	orderChoice("source.campaign", "choice.campaign"),
	orderChoice("source.keyword", "choice.keyword"),
	orderChoice("source.content", "choice.content"),
	orderChoice("customer.id", "choice.customer_id"),
	orderChoice("customer.externalId", "choice.customer_external_id"),
	orderChoice("customer.tags", "choice.customer_tags"),
	orderChoice("company.name", "choice.company"),
	orderChoice("managerId", "choice.manager_id"),
	orderChoice("countryIso", "choice.country"),
	orderChoice("currency", "choice.currency"),
}

func orderChoice(expr, label string) Choice {
	return Choice{Expr: expr, Label: label, Group: "order"}
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
			Expr:     customFieldExpr(cf.Code),
			Label:    "choice.custom_field",
			LabelArg: name,
			Group:    "custom",
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
