package crmemu

import "strconv"

// The order model keeps instants as unix seconds and renders them in the
// account timezone at answer time, so SetTimezone moves every naive timestamp
// while the instants stay. Field order and presence follow the recorded
// payloads (order-object.demo-account.order-53/73, order-get, orders-list).

type order struct {
	id            int64
	rich          bool // rich orders carry customer/contact and the noisy flags
	number        string
	externalID    string // "" → key absent (order-73 has none)
	orderType     string
	orderMethod   string
	privilegeType string
	countryIso    string
	createdAt     int64
	statusUpdated int64
	markDatetime  int64
	currency      string
	summ          money
	totalSumm     money
	prepaySum     money
	purchaseSumm  money
	loyaltyLevel  int // index into loyaltyLevels, -1 none
	lastName      string
	firstName     string
	patronymic    string
	phone         string
	addPhone      string
	email         string
	hasEmail      bool // `"email": ""` is a real shape, distinct from an absent key
	managerID     int64
	customer      *customer
	delivery      delivery
	hasDelivery   bool
	site          string // "" → key absent
	status        string
	statusComment string
	source        *utmDef
	clientID      string
	custComment   string
	mgrComment    string
	items         []item
	fullPaidAt    int64
	payments      []payment
	paymentsObj   bool // empty payments rendered as {} instead of []
	fromAPI       bool
	weight        int64
	shipmentStore string
	shipmentDate  string
	shipped       bool
	customFields  []cfValue // empty → PHP-style []
}

type cfValue struct {
	code string
	raw  []byte
}

type customer struct {
	id             int64
	externalID     string
	createdAt      int64
	managerID      int64
	vip            bool
	site           string
	tags           []int // indexes into tagDefs
	customFields   []cfValue
	marginSumm     money
	totalSumm      money
	averageSumm    money
	costSumm       money
	ordersCount    int64
	discount       int64
	address        address
	segments       []int // indexes into segmentDefs
	firstName      string
	lastName       string
	patronymic     string
	sex            string
	email          string
	unsubscribedAt int64
	phones         []string
	source         *utmDef
	photo          string
}

type address struct {
	id         int64
	index      string
	countryIso string
	region     string
	city       string
	street     string
	building   string
	flat       string
	text       string
}

type delivery struct {
	def        *deliveryDef
	cost       money
	netCost    money
	hasNetCost bool
	date       string
	timeFrom   string
	timeTo     string
	address    address
}

type item struct {
	id            int64
	initialPrice  money
	discountTotal money
	discounts     []discount
	vatRate       string
	createdAt     int64
	quantity      qty
	status        string
	offer         *offer
	canceled      bool
	properties    [][3]string // code, name, value; empty → []
	purchasePrice money
	comment       string
}

type discount struct {
	typ    string
	amount money
}

type payment struct {
	id         int64
	status     string
	typ        string
	externalID string
	amount     money
	paidAt     int64
	comment    string
}

var loyaltyLevels = []struct {
	id   int64
	name string
}{{5, "Новичок"}, {6, "Серебряный"}, {7, "Золотой"}}

// recompute keeps the totals consistent the way order-53 shows RetailCRM
// does: canceled lines stay in items but count neither in summ nor in purchaseSumm.
// Sums are exact (kopecks × thousandths) and rounded once, at the end.
func (o *order) recompute() {
	var summ, purchase int64
	for i := range o.items {
		it := &o.items[i]
		if it.canceled {
			continue
		}
		summ += int64(it.initialPrice-it.discountTotal) * int64(it.quantity)
		purchase += int64(it.purchasePrice) * int64(it.quantity)
	}
	o.summ = money(1).times(qty(summ))
	o.purchaseSumm = money(1).times(qty(purchase))
	o.totalSumm = o.summ
	if o.hasDelivery {
		o.totalSumm += o.delivery.cost
	}
}

func (o *order) clone() *order {
	c := *o
	c.items = append([]item(nil), o.items...)
	c.payments = append([]payment(nil), o.payments...)
	c.customFields = append([]cfValue(nil), o.customFields...)
	return &c
}

func (o *order) customField(code string) ([]byte, bool) {
	for _, cf := range o.customFields {
		if cf.code == code {
			return cf.raw, true
		}
	}
	return nil, false
}

func (o *order) setCustomField(code string, raw []byte) {
	for i := range o.customFields {
		if o.customFields[i].code == code {
			if raw == nil {
				o.customFields = append(o.customFields[:i], o.customFields[i+1:]...)
			} else {
				o.customFields[i].raw = raw
			}
			return
		}
	}
	if raw != nil {
		o.customFields = append(o.customFields, cfValue{code, raw})
	}
}

func (e *enc) order(o *order) {
	e.open('{')
	if o.rich {
		e.kint("slug", o.id)
		e.kint("bonusesCreditTotal", 0)
		e.kint("bonusesChargeTotal", 0)
	}
	e.kint("id", o.id)
	e.kstr("number", o.number)
	e.ostr("externalId", o.externalID)
	e.ostr("orderType", o.orderType)
	e.ostr("orderMethod", o.orderMethod)
	e.ostr("privilegeType", o.privilegeType)
	e.ostr("countryIso", o.countryIso)
	e.kts("createdAt", o.createdAt)
	e.ots("statusUpdatedAt", o.statusUpdated)
	e.kmoney("summ", o.summ)
	e.ostr("currency", o.currency)
	e.kmoney("totalSumm", o.totalSumm)
	e.kmoney("prepaySum", o.prepaySum)
	e.kmoney("purchaseSumm", o.purchaseSumm)
	if o.loyaltyLevel >= 0 {
		l := loyaltyLevels[o.loyaltyLevel]
		e.obj("loyaltyLevel")
		e.kint("id", l.id)
		e.kstr("name", l.name)
		e.close('}')
	}
	e.ots("markDatetime", o.markDatetime)
	e.ostr("lastName", o.lastName)
	e.ostr("firstName", o.firstName)
	e.ostr("patronymic", o.patronymic)
	e.ostr("phone", o.phone)
	e.ostr("additionalPhone", o.addPhone)
	if o.hasEmail {
		e.kstr("email", o.email)
	}
	if o.rich {
		e.kbool("call", false)
		e.kbool("expired", false)
	}
	e.oint("managerId", o.managerID)
	if o.customer != nil {
		e.key("customer")
		start := len(e.b)
		e.customerBody(o.customer)
		end := len(e.b)
		e.customerPhoto(o.customer, false)
		// the contact repeats the customer but for an absolute photoUrl:
		// copy the rendered body instead of rendering it twice
		e.key("contact")
		e.b = append(e.b, e.b[start:end]...)
		e.comma = true
		e.customerPhoto(o.customer, true)
		e.obj("contragent")
		e.kstr("contragentType", "individual")
		e.close('}')
	}
	if o.hasDelivery {
		e.key("delivery")
		e.delivery(&o.delivery, o.rich)
	}
	e.ostr("site", o.site)
	e.kstr("status", o.status)
	if o.rich && o.statusComment != "" {
		e.kstr("statusComment", o.statusComment)
	}
	if o.source != nil {
		e.key("source")
		e.utm(o.source)
	}
	e.ostr("clientId", o.clientID)
	e.ostr("customerComment", o.custComment)
	e.ostr("managerComment", o.mgrComment)
	e.arr("items")
	for i := range o.items {
		e.item(&o.items[i], o.rich)
	}
	e.close(']')
	e.ots("fullPaidAt", o.fullPaidAt)
	if len(o.payments) > 0 {
		e.obj("payments")
		for i := range o.payments {
			p := &o.payments[i]
			e.key(strconv.FormatInt(p.id, 10))
			e.open('{')
			e.kint("id", p.id)
			e.ostr("status", p.status)
			e.kstr("type", p.typ)
			e.ostr("externalId", p.externalID)
			e.kmoney("amount", p.amount)
			e.ots("paidAt", p.paidAt)
			e.ostr("comment", p.comment)
			e.close('}')
		}
		e.close('}')
	} else if o.paymentsObj {
		e.kraw("payments", []byte("{}"))
	} else {
		e.kraw("payments", []byte("[]"))
	}
	if o.rich {
		e.kbool("fromApi", o.fromAPI)
		if o.weight != 0 {
			e.kint("weight", o.weight)
			e.kint("length", 0)
			e.kint("width", 0)
			e.kint("height", 0)
		}
		e.ostr("shipmentStore", o.shipmentStore)
		e.ostr("shipmentDate", o.shipmentDate)
		e.kbool("shipped", o.shipped)
	}
	e.customFieldsMap(o.customFields)
	e.close('}')
}

func (e *enc) customFieldsMap(cfs []cfValue) {
	if len(cfs) == 0 {
		e.kraw("customFields", []byte("[]"))
		return
	}
	e.obj("customFields")
	for _, cf := range cfs {
		e.kraw(cf.code, cf.raw)
	}
	e.close('}')
}

func (e *enc) utm(u *utmDef) {
	e.open('{')
	e.ostr("source", u.source)
	e.ostr("medium", u.medium)
	e.ostr("campaign", u.campaign)
	e.ostr("keyword", u.keyword)
	e.ostr("content", u.content)
	e.close('}')
}

// customerBody renders the customer object up to its photoUrl; the same
// customer is repeated as "contact" with an absolute photoUrl, exactly as in order-53.
func (e *enc) customerBody(c *customer) {
	e.open('{')
	e.kstr("type", "customer")
	e.kint("id", c.id)
	e.ostr("externalId", c.externalID)
	e.kbool("isContact", false)
	e.kts("createdAt", c.createdAt)
	e.oint("managerId", c.managerID)
	e.kbool("vip", c.vip)
	e.kbool("bad", false)
	e.ostr("site", c.site)
	e.obj("contragent")
	e.kstr("contragentType", "individual")
	e.close('}')
	e.arr("tags")
	for _, t := range c.tags {
		e.open('{')
		e.kstr("name", tagDefs[t].name)
		e.kstr("color", tagDefs[t].color)
		e.kbool("attached", false)
		e.close('}')
	}
	e.close(']')
	e.customFieldsMap(c.customFields)
	e.kmoney("marginSumm", c.marginSumm)
	e.kmoney("totalSumm", c.totalSumm)
	e.kmoney("averageSumm", c.averageSumm)
	e.kint("ordersCount", c.ordersCount)
	e.kmoney("costSumm", c.costSumm)
	e.kint("personalDiscount", c.discount)
	e.key("address")
	e.address(&c.address)
	e.arr("segments")
	for _, s := range c.segments {
		d := &segmentDefs[s]
		e.open('{')
		e.kint("id", d.id)
		e.kstr("code", d.code)
		e.kstr("name", d.name)
		e.kts("createdAt", segmentEpoch+d.id*3607)
		e.kbool("isDynamic", true)
		e.kint("customersCount", d.count)
		e.kbool("active", true)
		e.close('}')
	}
	e.close(']')
	e.ostr("firstName", c.firstName)
	e.ostr("lastName", c.lastName)
	e.ostr("patronymic", c.patronymic)
	e.kstr("sex", c.sex)
	e.kstr("presumableSex", c.sex)
	e.ostr("email", c.email)
	e.ots("emailMarketingUnsubscribedAt", c.unsubscribedAt)
	e.arr("phones")
	for _, p := range c.phones {
		e.open('{')
		e.kstr("number", p)
		e.close('}')
	}
	e.close(']')
	if c.source != nil {
		e.key("source")
		e.utm(c.source)
	}
}

// customerPhoto ends the customer object started by customerBody.
func (e *enc) customerPhoto(c *customer, contact bool) {
	if c.photo != "" {
		e.key("photoUrl")
		e.sep()
		e.b = append(e.b, '"')
		if contact {
			e.b = append(e.b, "https://demo.retailcrm.example/"...)
		}
		e.b = append(e.b, c.photo...)
		e.b = append(e.b, '"')
	}
	e.close('}')
}

// segmentEpoch is when the demo account computed its segments (2018-09-04).
const segmentEpoch = 1536068159

func (e *enc) address(a *address) {
	e.open('{')
	e.oint("id", a.id)
	e.ostr("index", a.index)
	e.ostr("countryIso", a.countryIso)
	e.ostr("region", a.region)
	e.ostr("city", a.city)
	e.ostr("street", a.street)
	e.ostr("building", a.building)
	e.ostr("flat", a.flat)
	e.ostr("text", a.text)
	e.close('}')
}

func (e *enc) delivery(d *delivery, rich bool) {
	e.open('{')
	if d.def != nil {
		e.kstr("code", d.def.code)
		if d.def.serviceCode != "" && rich {
			e.obj("service")
			e.kstr("name", d.def.serviceName)
			e.kstr("code", d.def.serviceCode)
			e.kbool("active", true)
			e.close('}')
		}
	}
	e.kmoney("cost", d.cost)
	if d.hasNetCost {
		e.kmoney("netCost", d.netCost)
	}
	if rich {
		e.ostr("date", d.date)
		if d.timeFrom != "" {
			e.obj("time")
			e.kstr("from", d.timeFrom)
			e.kstr("to", d.timeTo)
			e.close('}')
		}
		e.key("address")
		e.address(&d.address)
	}
	e.close('}')
}

func (e *enc) item(it *item, rich bool) {
	e.open('{')
	if rich {
		e.kint("bonusesChargeTotal", 0)
		e.kint("bonusesCreditTotal", 0)
		e.kraw("markingCodes", []byte("[]"))
		e.arr("discounts")
		for _, d := range it.discounts {
			e.open('{')
			e.kstr("type", d.typ)
			e.kmoney("amount", d.amount)
			e.close('}')
		}
		e.close(']')
	}
	e.kint("id", it.id)
	e.kmoney("initialPrice", it.initialPrice)
	e.kmoney("discountTotal", it.discountTotal)
	e.arr("prices")
	e.open('{')
	e.kmoney("price", it.initialPrice-it.discountTotal)
	e.kqty("quantity", it.quantity)
	e.close('}')
	e.close(']')
	e.ostr("vatRate", it.vatRate)
	e.kts("createdAt", it.createdAt)
	e.ostr("comment", it.comment)
	e.kqty("quantity", it.quantity)
	e.kstr("status", it.status)
	if it.offer != nil {
		if rich {
			e.kraw("offer", it.offer.json)
		} else {
			e.kraw("offer", it.offer.short)
		}
	}
	if it.canceled {
		e.kbool("isCanceled", true)
	}
	if len(it.properties) == 0 {
		e.kraw("properties", []byte("[]"))
	} else {
		e.obj("properties")
		for _, p := range it.properties {
			e.obj(p[0])
			e.kstr("code", p[0])
			e.kstr("name", p[1])
			e.kstr("value", p[2])
			e.close('}')
		}
		e.close('}')
	}
	e.kmoney("purchasePrice", it.purchasePrice)
	e.close('}')
}

// stub is the 4–5 key order a change entry carries (fixture orders-history).
func (e *enc) stub(s *orderStub) {
	e.open('{')
	e.kint("id", s.id)
	e.ostr("externalId", s.externalID)
	e.oint("managerId", s.managerID)
	e.ostr("site", s.site)
	e.kstr("status", s.status)
	e.close('}')
}

type orderStub struct {
	id         int64
	externalID string
	managerID  int64
	site       string
	status     string
}

func (o *order) stub() orderStub {
	return orderStub{o.id, o.externalID, o.managerID, o.site, o.status}
}
