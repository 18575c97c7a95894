package crmemu

import (
	"fmt"
	"slices"
)

// Reference data of the emulated account. Statuses and groups follow the
// recorded PHP SDK fixtures (reference-statuses, reference-status-groups):
// the standard six groups, custom codes such as "3", and inactive leftovers.

// Store codes of the two emulated sites.
const (
	SiteMain = "demo-magazin"
	SiteOpt  = "opt-magazin"
)

var siteCodes = []string{SiteMain, SiteOpt}

type statusDef struct {
	code, name, group string
	ordering          int64
	active            bool
}

type groupDef struct {
	code, name string
	ordering   int64
	process    bool
}

var groupDefs = []groupDef{
	{"new", "Новый", 10, false},
	{"approval", "Согласование", 20, true},
	{"assembling", "Комплектация", 30, true},
	{"delivery", "Доставка", 40, true},
	{"complete", "Выполнен", 50, false},
	{"cancel", "Отменен", 60, false},
}

var statusDefs = []statusDef{
	{"new", "Новый", "new", 10, true},
	{"dict-statuses-1571123798", "Bbbdict-statuses-1571123798", "new", 990, false},
	{"dict-statuses-1581413644", "Bbbdict-statuses-1581413644", "new", 990, false},
	{"availability-confirmed", "Наличие подтверждено", "approval", 10, true},
	{"offer-analog", "Предложить замену", "approval", 20, true},
	{"client-confirmed", "Согласовано с клиентом", "approval", 30, true},
	{"prepayed", "Предоплата поступила", "approval", 40, true},
	{"send-to-assembling", "Передано в комплектацию", "assembling", 10, true},
	{"assembling", "Комплектуется", "assembling", 20, true},
	{"assembling-complete", "Укомплектован", "assembling", 30, true},
	{"send-to-delivery", "Передан в доставку", "delivery", 10, true},
	{"delivering", "Доставляется", "delivery", 20, true},
	{"redirect", "Доставка перенесена", "delivery", 30, true},
	{"delivered", "Доставлен", "delivery", 40, true},
	{"complete", "Выполнен", "complete", 10, true},
	{"3", "3", "complete", 990, true},
	{"no-call", "Недозвон", "cancel", 10, true},
	{"no-product", "Нет в наличии", "cancel", 20, true},
	{"already-buyed", "Купил в другом месте", "cancel", 30, true},
	{"delyvery-did-not-suit", "Не устроила доставка", "cancel", 40, true},
	{"prices-did-not-suit", "Не устроила цена", "cancel", 50, true},
	{"cancel-other", "Отменен", "cancel", 60, true},
	{"abandoned-cart", "Брошенная корзина", "cancel", 990, true},
}

func statusGroup(code string) string {
	for _, s := range statusDefs {
		if s.code == code {
			return s.group
		}
	}
	return ""
}

// customFieldDef describes one custom field; its values appear in orders as
// RetailCRM writes them: strings, numbers, booleans, Y-m-d dates, dictionary
// codes, arrays of codes.
type customFieldDef struct {
	code, name, typ, entity string
	dictionary              string
	inFilter, inList        bool
	ordering                int64
	displayArea             string
	defaultTyped            []byte // raw JSON, nil when none
}

// Custom field codes of the tracker identifiers, for tests and the demo mapping.
const (
	FieldSessionID = "k50_sid"
	FieldUserID    = "k50_uid"
)

var customFieldDefs = []customFieldDef{
	{code: FieldSessionID, name: "ID сеанса K50", typ: "string", entity: "order", inFilter: true, inList: true, ordering: 10, displayArea: "customer"},
	{code: FieldUserID, name: "ID пользователя K50", typ: "string", entity: "order", inFilter: true, inList: true, ordering: 20, displayArea: "customer"},
	{code: "client_uuid", name: "UUID клиента", typ: "string", entity: "order", ordering: 30, displayArea: "customer"},
	{code: "promo_code", name: "Промокод", typ: "string", entity: "order", inFilter: true, inList: true, ordering: 40, displayArea: "main"},
	{code: "courier_note", name: "Комментарий для курьера", typ: "text", entity: "order", ordering: 50, displayArea: "delivery"},
	{code: "gift_wrap", name: "Подарочная упаковка", typ: "boolean", entity: "order", inFilter: true, ordering: 60, displayArea: "main", defaultTyped: []byte("false")},
	{code: "boxes_count", name: "Количество мест", typ: "integer", entity: "order", ordering: 70, displayArea: "delivery"},
	{code: "extra_discount", name: "Доп. скидка, %", typ: "numeric", entity: "order", ordering: 80, displayArea: "main"},
	{code: "wish_date", name: "Желаемая дата доставки", typ: "date", entity: "order", inFilter: true, ordering: 90, displayArea: "delivery"},
	{code: "notify_email", name: "Email для уведомлений", typ: "email", entity: "order", ordering: 100, displayArea: "customer"},
	{code: "delivery_slot", name: "Интервал доставки", typ: "dictionary", entity: "order", dictionary: "delivery_slots", inFilter: true, inList: true, ordering: 110, displayArea: "delivery", defaultTyped: []byte(`"morning"`)},
	{code: "gift_options", name: "Подарочные опции", typ: "multiselect_dictionary", entity: "order", dictionary: "gift_options", inFilter: true, inList: true, ordering: 120, displayArea: "main", defaultTyped: []byte(`["wrap","card"]`)},
	{code: "galkatrue", name: "Согласие на рассылку", typ: "boolean", entity: "customer", inFilter: true, ordering: 10, displayArea: "customer"},
	{code: "birth_month", name: "Месяц рождения", typ: "integer", entity: "customer", ordering: 20, displayArea: "customer"},
	{code: "loyalty_card", name: "Карта лояльности", typ: "string", entity: "customer", ordering: 30, displayArea: "customer"},
}

func (e *enc) customFieldDef(d *customFieldDef) {
	e.open('{')
	e.kstr("name", d.name)
	e.kstr("code", d.code)
	e.kbool("required", false)
	e.kbool("inFilter", d.inFilter)
	e.kbool("inList", d.inList)
	e.kbool("inGroupActions", false)
	e.kstr("type", d.typ)
	e.kstr("entity", d.entity)
	e.kint("ordering", d.ordering)
	e.kstr("displayArea", d.displayArea)
	e.kstr("viewMode", "editable")
	e.ostr("dictionary", d.dictionary)
	if d.defaultTyped != nil {
		e.kraw("defaultTyped", d.defaultTyped)
	}
	e.close('}')
}

func (e *enc) sites(currencies map[string]string) {
	e.obj("sites")
	for i, code := range siteCodes {
		e.obj(code)
		e.kint("id", int64(100+i))
		if i == 0 {
			e.kstr("name", "Демо-магазин")
			e.kstr("url", "https://demo-magazin.example.com")
		} else {
			e.kstr("name", "Оптовый магазин")
			e.kstr("url", "https://opt.example.com")
		}
		e.kstr("code", code)
		e.kstr("description", "description")
		e.kbool("defaultForCrm", i == 0)
		e.kstr("ymlUrl", "https://example.com/catalog-"+code+".xml")
		e.kbool("loadFromYml", i == 0)
		e.kstr("catalogUpdatedAt", "2021-02-24 12:30:46")
		e.kstr("catalogLoadingAt", "2021-03-02 15:09:24")
		e.obj("contragent")
		e.kstr("contragentType", "enterpreneur")
		e.kstr("legalName", "ИП Бороздина Татьяна Александровна")
		e.kstr("INN", "773719480254")
		e.kstr("code", code)
		e.kstr("countryIso", "RU")
		e.kstr("certificateDate", "2020-01-01")
		e.close('}')
		e.kstr("countryIso", "RU")
		e.kstr("currency", currencies[code])
		e.kstr("catalogId", "catalog")
		e.kbool("isCatalogMainSite", true)
		e.kint("ordering", int64(989+i))
		e.kbool("isDemo", false)
		e.close('}')
	}
	e.close('}')
}

func (e *enc) statuses(defs []statusDef) {
	e.obj("statuses")
	for i := range defs {
		s := &defs[i]
		e.obj(s.code)
		e.kstr("name", s.name)
		e.kstr("code", s.code)
		e.kbool("active", s.active)
		e.kint("ordering", s.ordering)
		e.kstr("group", s.group)
		e.close('}')
	}
	e.close('}')
}

func (e *enc) statusGroups(defs []statusDef) {
	e.obj("statusGroups")
	for _, g := range groupDefs {
		e.obj(g.code)
		e.kstr("name", g.name)
		e.kstr("code", g.code)
		e.kbool("active", true)
		e.kint("ordering", g.ordering)
		e.kbool("process", g.process)
		e.arr("statuses")
		for _, s := range defs {
			if s.group == g.code {
				e.str(s.code)
			}
		}
		e.close(']')
		e.close('}')
	}
	e.close('}')
}

// MoveStatus moves a status to another group, as an administrator does in RetailCRM
// (Администрирование → Статусы заказов). RetailCRM writes no order history for it: the orders
// keep their status, only its group changes, and the reference says so from now on.
func (e *Emulator) MoveStatus(code, group string) error {
	if !slices.ContainsFunc(groupDefs, func(g groupDef) bool { return g.code == group }) {
		return fmt.Errorf("crmemu: move status %q: no status group %q", code, group)
	}
	return e.changeStatus(code, func(s *statusDef) { s.group = group })
}

// RenameStatus gives a status another name (no order history either).
func (e *Emulator) RenameStatus(code, name string) error {
	return e.changeStatus(code, func(s *statusDef) { s.name = name })
}

func (e *Emulator) changeStatus(code string, change func(*statusDef)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.statuses {
		if e.statuses[i].code == code {
			next := slices.Clone(e.statuses)
			change(&next[i])
			e.statuses = next
			return nil
		}
	}
	return fmt.Errorf("crmemu: no status %q", code)
}

// StatusGroupOf is the group a status is in now.
func (e *Emulator) StatusGroupOf(code string) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.statusGroupLocked(code)
}

func (e *Emulator) statusGroupLocked(code string) string {
	for _, s := range e.statuses {
		if s.code == code {
			return s.group
		}
	}
	return ""
}

// StatusGroups are the statuses' groups now, by status code.
func (e *Emulator) StatusGroups() map[string]string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make(map[string]string, len(e.statuses))
	for _, s := range e.statuses {
		out[s.code] = s.group
	}
	return out
}

// Currency is a store's currency ("" for no store: the account's default).
func (e *Emulator) Currency(site string) string {
	if c, ok := e.currencies[site]; ok {
		return c
	}
	return e.defaultCurrency
}

func (e *enc) dictionary(i int) {
	d := dictionaries[i]
	e.open('{')
	e.kstr("name", d.name)
	e.kstr("code", d.code)
	e.arr("elements")
	for j, el := range d.elements {
		e.open('{')
		e.kstr("name", el[1])
		e.kstr("code", el[0])
		e.kint("ordering", int64(10*(j+1)))
		e.close('}')
	}
	e.close(']')
	e.close('}')
}
