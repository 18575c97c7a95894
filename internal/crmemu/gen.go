package crmemu

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The generator derives seeded order i from (Seed, i) alone, so a
// million-order account costs no memory: nothing is stored until a mutation
// touches an order. Everything the list and history queries must filter on
// without generating orders (createdAt, site) is a closed-form function of i.

// rnd is splitmix64: tiny, allocation-free and good enough for test data.
type rnd struct{ s uint64 }

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const (
	saltOrder uint64 = iota + 1
	saltCustomer
	saltCreated
	saltCatalog
	saltSite
	saltCustomerPick
)

func newRnd(seed int64, i int64, salt uint64) rnd {
	return rnd{mix64(uint64(seed)*0x9e3779b97f4a7c15 ^ mix64(uint64(i)*0xd1b54a32d192ed03+salt))}
}

func (r *rnd) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

func (r *rnd) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rnd) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *rnd) chance(p float64) bool { return r.float() < p }

// pick chooses an index by integer weights.
func (r *rnd) pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (r *rnd) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.intn(10))
	}
	return string(b)
}

func (r *rnd) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[r.intn(16)]
	}
	return string(b)
}

type offer struct {
	id         int64
	externalID string
	xmlID      string
	price      money
	purchase   money
	weighed    bool
	vatRate    string
	json       []byte // full offer object as in order-53
	short      []byte // {id, externalId, name} for small orders
	ref        []byte // {id, externalId, xmlId?}: the item reference of history entries
}

// site pattern: the site of seeded order i repeats with period sitePeriod, so
// "how many orders of site X between ids a and b" is arithmetic, not a scan.
const sitePeriod = 100

const (
	siteIdxMain = iota
	siteIdxOpt
	siteIdxNone
)

type generator struct {
	seed    int64
	n       int64
	start   int64 // unix seconds of the earliest seeded createdAt
	span    int64 // seconds between start and end
	rich    bool
	offers  []*offer
	pattern [sitePeriod]uint8
	prefix  [8][sitePeriod + 1]int64 // prefix[mask][k]: ids j in [0,k) whose site is in mask
	pool    int64                    // customers
	// currency of an order by its site index (the account's default for no site)
	currency [3]string
}

func newGenerator(seed int64, n int64, start, end time.Time, rich bool, currency [3]string) *generator {
	g := &generator{seed: seed, n: n, start: start.Unix(), span: end.Unix() - start.Unix(), rich: rich, currency: currency}
	if g.span < 0 {
		g.span = 0
	}
	g.pool = max(1, n*2/5)
	r := newRnd(seed, 0, saltSite)
	for j := range g.pattern {
		// 64% main site, 33% the second one, 3% without a site (order-73).
		switch k := r.intn(100); {
		case k < 64:
			g.pattern[j] = siteIdxMain
		case k < 97:
			g.pattern[j] = siteIdxOpt
		default:
			g.pattern[j] = siteIdxNone
		}
	}
	for mask := range 8 {
		for k := range sitePeriod {
			g.prefix[mask][k+1] = g.prefix[mask][k]
			if mask&(1<<g.pattern[k]) != 0 {
				g.prefix[mask][k+1]++
			}
		}
	}
	g.buildCatalog()
	return g
}

func (g *generator) siteIdx(i int64) uint8 { return g.pattern[i%sitePeriod] }

func siteName(idx uint8) string {
	if idx == siteIdxNone {
		return ""
	}
	return siteCodes[idx]
}

// countSites counts ids in [a, b] whose seeded site is in mask.
func (g *generator) countSites(a, b int64, mask uint8) int64 {
	if a > b {
		return 0
	}
	f := func(x int64) int64 {
		return (x/sitePeriod)*g.prefix[mask][sitePeriod] + g.prefix[mask][x%sitePeriod]
	}
	return f(b+1) - f(a)
}

// createdAt of seeded order i is spread evenly over [start, end) with
// jitter, and never decreases with i: lists binary-search it.
func (g *generator) createdAt(i int64) int64 {
	r := newRnd(g.seed, i, saltCreated)
	pos := (float64(i-1) + r.float()) / float64(g.n)
	return g.start + int64(math.Floor(pos*float64(g.span)))
}

// firstCreatedAtOrAfter returns the smallest seeded id whose createdAt >= t (n+1 if none).
func (g *generator) firstCreatedAtOrAfter(t int64) int64 {
	lo, hi := int64(1), g.n+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if g.createdAt(mid) >= t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (g *generator) number(i int64, site uint8) string {
	if site == siteIdxOpt {
		return g.externalID(i, site)
	}
	return strconv.FormatInt(i, 10) + "C"
}

// marketplaceBase makes the second site's ids look like the 16-digit
// marketplace numbers of the order-get fixture.
const marketplaceBase = 8123522898550000

func (g *generator) externalID(i int64, site uint8) string {
	switch site {
	case siteIdxNone:
		return ""
	case siteIdxOpt:
		return strconv.FormatInt(marketplaceBase+i, 10)
	}
	if i%23 == 0 {
		return "" // orders typed in by a manager have no shop id
	}
	return strconv.FormatInt(i+1000, 10)
}

// candidates inverts number() and externalID(): the seeded ids a number or external id can belong to.
func (g *generator) candidates(s string) []int64 {
	var out []int64
	if n, err := strconv.ParseInt(strings.TrimSuffix(s, "C"), 10, 64); err == nil {
		for _, c := range []int64{n, n - 1000, n - marketplaceBase} {
			if c >= 1 && c <= g.n {
				out = append(out, c)
			}
		}
	}
	return out
}

func (g *generator) buildCatalog() {
	r := newRnd(g.seed, 0, saltCatalog)
	id := int64(1)
	for ti := range productTemplates {
		t := &productTemplates[ti]
		variants := []string{""}
		if len(t.colors) > 0 {
			variants = t.colors
		}
		for _, color := range variants {
			o := &offer{id: id, externalID: strconv.FormatInt(id+1, 10), weighed: t.weighed}
			o.price = t.price
			if r.chance(0.3) {
				o.price += money(r.intn(100)) // some prices carry kopecks
			}
			o.purchase = money(float64(o.price) * (0.3 + 0.3*r.float()))
			if r.chance(0.35) {
				o.xmlID = r.hex(8) + "-" + r.hex(4) + "-" + r.hex(4) + "-" + r.hex(4) + "-" + r.hex(12)
			}
			display := t.name
			if color != "" {
				display += " (" + color + ")"
			}
			u := units[t.unit]
			vat := "20.00"
			if t.weighed {
				vat = "10.00"
			} else if r.chance(0.1) {
				vat = "none"
			}
			o.vatRate = vat
			w := enc{}
			w.open('{')
			w.kstr("displayName", display)
			w.kint("id", o.id)
			w.kstr("externalId", o.externalID)
			w.ostr("xmlId", o.xmlID)
			w.kstr("name", t.name)
			w.kstr("article", t.article)
			w.kstr("vatRate", vat)
			if len(t.props) > 0 || color != "" {
				w.obj("properties")
				for _, p := range t.props {
					w.kstr(p[0], p[1])
				}
				if color != "" {
					w.kstr("color", color)
				}
				w.close('}')
			}
			w.obj("unit")
			w.kstr("code", u.code)
			w.kstr("name", u.name)
			w.kstr("sym", u.sym)
			w.close('}')
			if r.chance(0.5) {
				w.kstr("barcode", "46"+r.digits(11))
			}
			w.close('}')
			o.json = w.b

			s := enc{}
			s.open('{')
			s.kint("id", o.id)
			s.kstr("externalId", o.externalID)
			s.kstr("name", display)
			s.close('}')
			o.short = s.b

			ref := enc{}
			ref.open('{')
			ref.kint("id", o.id)
			ref.kstr("externalId", o.externalID)
			ref.ostr("xmlId", o.xmlID)
			ref.close('}')
			o.ref = ref.b

			g.offers = append(g.offers, o)
			id++
		}
	}
}

// status tables by order age: fresh orders are in progress, old ones settled.
var (
	freshStatuses = []string{"new", "availability-confirmed", "client-confirmed", "prepayed", "send-to-assembling", "assembling", "send-to-delivery", "no-call", "abandoned-cart"}
	freshWeights  = []int{30, 10, 15, 8, 10, 10, 7, 6, 4}
	midStatuses   = []string{"new", "client-confirmed", "assembling", "assembling-complete", "send-to-delivery", "delivering", "redirect", "delivered", "complete", "no-call", "cancel-other"}
	midWeights    = []int{5, 6, 6, 4, 8, 18, 2, 12, 30, 4, 5}
	oldStatuses   = []string{"complete", "3", "delivered", "no-call", "no-product", "already-buyed", "delyvery-did-not-suit", "prices-did-not-suit", "cancel-other", "abandoned-cart"}
	oldWeights    = []int{62, 1, 8, 5, 4, 3, 3, 4, 6, 4}
)

func (r *rnd) status(ageDays int64) string {
	switch {
	case ageDays < 2:
		return freshStatuses[r.pick(freshWeights...)]
	case ageDays < 14:
		return midStatuses[r.pick(midWeights...)]
	}
	return oldStatuses[r.pick(oldWeights...)]
}

var managers = []int64{8, 19, 23, 28}

// fixed zone for naive dates (delivery date, wish date): they carry no
// instant, so they must not move when the account timezone changes.
var dateZone = time.FixedZone("MSK", 3*3600)

// order generates order i. For i > n (orders created later) the caller sets createdAt.
func (g *generator) order(i int64) *order {
	r := newRnd(g.seed, i, saltOrder)
	site := g.siteIdx(i)
	o := &order{id: i, rich: g.rich, loyaltyLevel: -1, site: siteName(site)}
	o.number = g.number(i, site)
	o.externalID = g.externalID(i, site)
	created := g.start + g.span
	if i <= g.n {
		created = g.createdAt(i)
	}
	o.createdAt = created
	ageDays := (g.start + g.span - created) / 86400
	o.status = r.status(ageDays)
	group := statusGroup(o.status)
	if o.status != "new" {
		o.statusUpdated = created + int64(600+r.intn(4*86400))
		if o.statusUpdated > g.start+g.span && created <= g.start+g.span {
			o.statusUpdated = max(created, g.start+g.span)
		}
	} else {
		o.statusUpdated = created
	}
	o.markDatetime = o.statusUpdated

	c := g.customer(g.customerID(i), o.site)
	o.firstName, o.lastName, o.patronymic = c.firstName, c.lastName, c.patronymic
	if r.chance(0.08) {
		// someone else receives the parcel
		o.firstName, o.lastName, o.patronymic = randomName(&r)
	}
	o.phone = phoneShape(&r, c.mobile, c.city)
	if r.chance(0.08) {
		o.addPhone = phoneShape(&r, "9"+r.digits(9), c.city)
	}
	o.email, o.hasEmail = emailShape(&r, c.emailLocal)
	o.custComment = ""
	if r.chance(0.35) {
		o.custComment = customerComments[r.intn(len(customerComments))]
	}
	o.customFields = g.orderCustomFields(&r, created)

	nItems := 1 + r.pick(36, 30, 17, 10, 5, 2)
	if !g.rich {
		nItems = 1 + r.pick(60, 30, 10)
	}
	noPurchase := r.chance(0.1)
	o.items = make([]item, 0, nItems)
	for k := range nItems {
		o.items = append(o.items, g.item(&r, i, k, created, group, nItems, noPurchase))
	}
	g.delivery(&r, o, c)
	o.recompute()
	g.payments(&r, o, group)

	if !g.rich {
		return o
	}
	o.customer = c.customer
	o.orderType = "eshop-individual"
	if r.chance(0.1) {
		o.orderType = "eshop-legal"
	}
	o.orderMethod = orderMethods[r.intn(len(orderMethods))]
	switch r.pick(60, 25, 15) {
	case 0:
		o.privilegeType = "none"
	case 1:
		o.privilegeType = "loyalty_level"
		o.loyaltyLevel = r.intn(len(loyaltyLevels))
	}
	if r.chance(0.95) {
		o.countryIso = "RU"
	}
	if r.chance(0.85) {
		o.currency = g.currency[site]
	}
	if r.chance(0.85) {
		o.managerID = managers[r.intn(len(managers))]
	}
	if r.chance(0.2) {
		o.statusComment = statusComments[1+r.intn(len(statusComments)-1)]
	}
	if r.chance(0.6) {
		o.source = &utmDefs[r.intn(len(utmDefs))]
	}
	if r.chance(0.3) {
		o.clientID = r.digits(10) + "." + strconv.FormatInt(created, 10)
	}
	if r.chance(0.12) {
		o.mgrComment = managerComments[r.intn(len(managerComments))]
	}
	o.fromAPI = r.chance(0.3)
	if r.chance(0.25) {
		o.weight = int64(100 + r.intn(5000))
	}
	if r.chance(0.6) {
		o.shipmentStore = "main"
	}
	if group == "delivery" || group == "complete" {
		o.shipped = true
		o.shipmentDate = time.Unix(created+86400, 0).In(dateZone).Format("2006-01-02")
	}
	return o
}

func (g *generator) customerID(i int64) int64 {
	return 1 + int64(mix64(uint64(g.seed)^uint64(i)*0x9e3779b97f4a7c15^saltCustomerPick)%uint64(g.pool))
}

func randomName(r *rnd) (first, last, patronymic string) {
	female := r.chance(0.5)
	sex := 0
	if female {
		sex = 1
		first = femaleFirst[r.intn(len(femaleFirst))]
	} else {
		first = maleFirst[r.intn(len(maleFirst))]
	}
	last = lastNames[r.intn(len(lastNames))][sex]
	if r.chance(0.6) {
		patronymic = patronymics[r.intn(len(patronymics))][sex]
	}
	return first, last, patronymic
}

// genCustomer carries what the order takes from its customer besides the object itself.
type genCustomer struct {
	customer   *customer
	firstName  string
	lastName   string
	patronymic string
	mobile     string // ten digits, 9XXXXXXXXX
	emailLocal string
	city       *city
}

func (g *generator) customer(cid int64, site string) genCustomer {
	r := newRnd(g.seed, cid, saltCustomer)
	female := r.chance(0.55)
	sex, sexName := 0, "male"
	var first, latin string
	if female {
		sex, sexName = 1, "female"
		k := r.intn(len(femaleFirst))
		first, latin = femaleFirst[k], latinFemale[k]
	} else {
		k := r.intn(len(maleFirst))
		first, latin = maleFirst[k], latinMale[k]
	}
	lk := r.intn(len(lastNames))
	last := lastNames[lk][sex]
	patronymic := ""
	if r.chance(0.7) {
		patronymic = patronymics[r.intn(len(patronymics))][sex]
	}
	var local string
	switch r.intn(4) {
	case 0:
		local = latin + "." + latinLast[lk]
	case 1:
		local = latin + r.digits(2+r.intn(3))
	case 2:
		local = latin[:1] + latinLast[lk] + strconv.Itoa(1960+r.intn(45))
	default:
		local = latinLast[lk] + "_" + latin
	}
	local += "@" + mailDomains[r.intn(len(mailDomains))]
	ct := &cities[r.intn(len(cities))]
	gc := genCustomer{firstName: first, lastName: last, patronymic: patronymic, mobile: "9" + r.digits(9), emailLocal: local, city: ct}
	if !g.rich {
		return gc
	}
	c := &customer{id: cid, site: site, firstName: first, lastName: last, patronymic: patronymic, sex: sexName, email: local}
	if r.chance(0.5) {
		c.externalID = strconv.FormatInt(cid+100, 10)
	}
	c.createdAt = g.start - int64(r.intn(400*86400))
	if r.chance(0.6) {
		c.managerID = managers[r.intn(len(managers))]
	}
	c.vip = r.chance(0.03)
	tag := r.intn(len(tagDefs))
	for range r.pick(45, 30, 15, 10) {
		c.tags = append(c.tags, tag)
		tag = (tag + 1 + r.intn(2)) % len(tagDefs)
	}
	if r.chance(0.3) {
		c.customFields = []cfValue{{"galkatrue", []byte("true")}, {"loyalty_card", appendQuoted(nil, "LC-"+r.digits(8))}}
	}
	c.ordersCount = int64(1 + r.intn(12))
	avg := money(100000 + r.intn(2000000))
	c.totalSumm = avg * money(c.ordersCount)
	c.averageSumm = avg
	c.costSumm = money(float64(c.totalSumm) * (0.2 + 0.2*r.float()))
	c.marginSumm = c.totalSumm - c.costSumm
	c.discount = []int64{0, 0, 5, 10}[r.intn(4)]
	c.address = randomAddress(&r, ct, cid+1000)
	seg := r.intn(len(segmentDefs))
	for range 1 + r.intn(3) {
		c.segments = append(c.segments, seg)
		seg = (seg + 1 + r.intn(3)) % len(segmentDefs)
	}
	if r.chance(0.1) {
		c.unsubscribedAt = c.createdAt + int64(r.intn(200*86400))
	}
	c.phones = append(c.phones, formatMobile(gc.mobile))
	for range r.pick(55, 30, 15) {
		c.phones = append(c.phones, landline(&r, ct))
	}
	if r.chance(0.6) {
		c.source = &utmDefs[r.intn(len(utmDefs))]
	}
	if r.chance(0.4) {
		c.photo = "avas/" + sexName[:1] + "/" + r.hex(32) + ".jpg"
	}
	gc.customer = c
	return gc
}

func randomAddress(r *rnd, ct *city, id int64) address {
	street := ct.streets[r.intn(len(ct.streets))]
	building := strconv.Itoa(1 + r.intn(120))
	flat := strconv.Itoa(1 + r.intn(300))
	return address{
		id: id, index: ct.index[:4] + r.digits(2), countryIso: "RU", region: ct.region, city: ct.name,
		street: street, building: building, flat: flat,
		text: "ул. " + street + ", д. " + building + ", кв./офис " + flat,
	}
}

func formatMobile(m string) string {
	return "+7 (" + m[:3] + ") " + m[3:6] + "-" + m[6:8] + "-" + m[8:]
}

func landline(r *rnd, ct *city) string {
	code := ct.codes[r.intn(len(ct.codes))]
	rest := r.digits(10 - len(code))
	return "(" + code + ") " + rest[:len(rest)-4] + "-" + rest[len(rest)-4:]
}

// phoneShape renders the customer's mobile the way people type it into
// shop forms: RetailCRM stores the phone as typed, e.g. "(495) 056-7970" or
// "+79515151515".
func phoneShape(r *rnd, m string, ct *city) string {
	switch r.pick(20, 10, 15, 8, 20, 5, 3, 2, 2, 2, 5, 3, 3, 2) {
	case 0:
		return formatMobile(m)
	case 1:
		return "8 " + m[:3] + " " + m[3:6] + " " + m[6:8] + " " + m[8:]
	case 2:
		return "8" + m
	case 3:
		return m
	case 4:
		return "+7" + m
	case 5:
		return landline(r, ct)
	case 6:
		return formatMobile(m) + ", 8 " + landline(r, ct)
	case 7:
		return "+380 " + r.digits(2) + " " + r.digits(3) + " " + r.digits(4)
	case 8:
		return "+375 (29) " + r.digits(3) + "-" + r.digits(2) + "-" + r.digits(2)
	case 9:
		return "+7 (" + ct.codes[0] + ") " + r.digits(3) + "-" + r.digits(2) + "-" + r.digits(2) + " доб. " + r.digits(3)
	case 10:
		return "8-" + m[:3] + "-" + m[3:6] + "-" + m[6:8] + "-" + m[8:]
	case 11:
		return []string{"нет", "звонить после 18", "123-45", "+7 (9", "0"}[r.intn(5)]
	case 12:
		return "+7-" + m[:3] + "-" + m[3:6] + "-" + m[6:8] + "-" + m[8:]
	}
	return ""
}

// emailShape returns the order e-mail: mostly clean, sometimes the way users mistype it.
func emailShape(r *rnd, clean string) (string, bool) {
	switch r.pick(70, 5, 4, 4, 8, 9) {
	case 0:
		return clean, true
	case 1:
		return strings.ToUpper(clean[:1]) + clean[1:strings.IndexByte(clean, '@')] + strings.ToUpper(clean[strings.IndexByte(clean, '@'):]), true
	case 2:
		return " " + clean + " ", true
	case 3:
		at := strings.IndexByte(clean, '@')
		switch r.intn(4) {
		case 0:
			return clean[:strings.LastIndexByte(clean, '.')], true
		case 1:
			return clean[:at] + "." + clean[at+1:], true
		case 2:
			return clean[:at] + "@@" + clean[at+1:], true
		}
		return "иван петров@" + clean[at+1:], true
	case 4:
		return "", true
	}
	return "", false
}

func (g *generator) orderCustomFields(r *rnd, created int64) []cfValue {
	if r.chance(0.07) {
		return nil
	}
	cfs := make([]cfValue, 0, 8)
	if r.chance(0.88) {
		cfs = append(cfs, cfValue{FieldSessionID, appendQuoted(nil, r.hex(32))})
	}
	if r.chance(0.8) {
		cfs = append(cfs, cfValue{FieldUserID, appendQuoted(nil, r.digits(10)+"."+strconv.FormatInt(created-int64(r.intn(90*86400)), 10))})
	}
	if r.chance(0.4) {
		cfs = append(cfs, cfValue{"client_uuid", appendQuoted(nil, r.hex(8)+"-"+r.hex(4)+"-4"+r.hex(3)+"-a"+r.hex(3)+"-"+r.hex(12))})
	}
	if r.chance(0.15) {
		cfs = append(cfs, cfValue{"promo_code", appendQuoted(nil, []string{"SALE10", "ВЕСНА2024", "friend-500", "BLACKFRIDAY"}[r.intn(4)])})
	}
	if r.chance(0.1) {
		cfs = append(cfs, cfValue{"courier_note", appendQuoted(nil, "Позвонить за 30 минут.\nОхрана на въезде: назвать номер заказа")})
	}
	if r.chance(0.3) {
		cfs = append(cfs, cfValue{"gift_wrap", []byte(strconv.FormatBool(r.chance(0.5)))})
	}
	if r.chance(0.2) {
		cfs = append(cfs, cfValue{"boxes_count", []byte(strconv.Itoa(1 + r.intn(4)))})
	}
	if r.chance(0.1) {
		cfs = append(cfs, cfValue{"extra_discount", []byte([]string{"2.5", "5", "7.25", "10"}[r.intn(4)])})
	}
	if r.chance(0.15) {
		cfs = append(cfs, cfValue{"wish_date", appendQuoted(nil, time.Unix(created+int64(1+r.intn(7))*86400, 0).In(dateZone).Format("2006-01-02"))})
	}
	if r.chance(0.1) {
		cfs = append(cfs, cfValue{"notify_email", appendQuoted(nil, "notify"+r.digits(3)+"@example.org")})
	}
	if r.chance(0.3) {
		cfs = append(cfs, cfValue{"delivery_slot", appendQuoted(nil, dictionaries[0].elements[r.intn(3)][0])})
	}
	if r.chance(0.12) {
		opts := dictionaries[1].elements
		a := r.intn(len(opts))
		b := (a + 1 + r.intn(len(opts)-1)) % len(opts)
		cfs = append(cfs, cfValue{"gift_options", []byte(`["` + opts[a][0] + `","` + opts[b][0] + `"]`)})
	}
	return cfs
}

// itemID numbers order lines so that ids stay unique across orders, also
// when a merge moves lines: generated orders have at most 8 lines, lines
// beyond that (from OrderInput) get ids from a range no generated order reaches.
func itemID(orderID int64, k int) int64 {
	if k < 8 {
		return orderID*8 + int64(k)
	}
	return 1<<48 + orderID<<16 + int64(k)
}

var weighedQty = []qty{250, 500, 750, 1000, 1500, 2000, 1250, 125}

func (g *generator) item(r *rnd, orderID int64, k int, created int64, group string, n int, noPurchase bool) item {
	of := g.offers[r.intn(len(g.offers))]
	it := item{id: itemID(orderID, k), offer: of, initialPrice: of.price, createdAt: created, quantity: 1000}
	if of.weighed {
		it.quantity = weighedQty[r.intn(len(weighedQty))]
	} else {
		it.quantity = []qty{1000, 2000, 3000, 5000}[r.pick(75, 15, 6, 4)]
	}
	if r.chance(0.2) {
		pct := int64(3 + r.intn(20))
		it.discountTotal = money(int64(it.initialPrice) * pct / 100)
		it.discounts = []discount{{"manual_product", it.discountTotal.times(it.quantity)}}
	} else if r.chance(0.1) {
		it.discounts = []discount{{"round", 50}}
	}
	it.vatRate = of.vatRate
	if !noPurchase {
		it.purchasePrice = of.purchase
	}
	switch group {
	case "complete", "delivery":
		it.status = "sold"
	case "cancel":
		it.status = "returned"
	default:
		it.status = []string{"new", "confirming", "in-reserve"}[r.intn(3)]
	}
	if n > 1 && r.chance(0.06) {
		it.canceled = true
		it.status = []string{"returned", "product-is-damaged", "no-product"}[r.intn(3)]
	}
	if r.chance(0.15) {
		it.properties = [][3]string{{"size", "Размер", []string{"S", "M", "XL", "42"}[r.intn(4)]}}
	}
	if r.chance(0.03) {
		it.comment = "Проверить комплектность"
	}
	return it
}

func (g *generator) delivery(r *rnd, o *order, c genCustomer) {
	o.hasDelivery = true
	d := &o.delivery
	d.def = &deliveryDefs[r.intn(len(deliveryDefs))]
	d.cost = d.def.costs[r.intn(len(d.def.costs))]
	if r.chance(0.7) {
		d.hasNetCost = true
		d.netCost = money(int64(d.cost) * int64(d.def.netCostFraction) / 100)
	}
	if d.def.code != "self-delivery" {
		d.date = time.Unix(o.createdAt+int64(1+r.intn(5))*86400, 0).In(dateZone).Format("2006-01-02")
		if r.chance(0.7) {
			t := deliveryTimes[r.intn(len(deliveryTimes))]
			d.timeFrom, d.timeTo = t[0], t[1]
		}
	}
	if c.customer != nil && r.chance(0.7) {
		d.address = c.customer.address
		d.address.id = 0
	} else {
		d.address = randomAddress(r, c.city, 0)
	}
}

func (g *generator) payments(r *rnd, o *order, group string) {
	n := r.pick(15, 70, 15)
	if n == 0 {
		o.paymentsObj = r.chance(0.3)
		return
	}
	paid := group == "complete" || (group == "delivery" && r.chance(0.5)) || o.status == "prepayed"
	remaining := o.totalSumm
	for k := range n {
		p := payment{id: o.id*4 + int64(k), typ: paymentTypes[r.intn(len(paymentTypes))]}
		p.amount = remaining
		if k == 0 && n == 2 {
			p.amount = money(int64(remaining) * int64(30+r.intn(50)) / 100)
		}
		remaining -= p.amount
		if paid || (k == 0 && n == 2 && r.chance(0.5)) {
			p.status = "paid"
			p.paidAt = o.createdAt + int64(300+r.intn(3*86400))
			o.prepaySum += p.amount
		} else if r.chance(0.7) {
			p.status = "not-paid"
		}
		if r.chance(0.3) {
			p.externalID = "payment_" + strconv.FormatInt(o.id, 10) + "_" + strconv.Itoa(k)
		}
		o.payments = append(o.payments, p)
	}
	if o.prepaySum >= o.totalSumm && o.totalSumm > 0 {
		for _, p := range o.payments {
			o.fullPaidAt = max(o.fullPaidAt, p.paidAt)
		}
	}
}
