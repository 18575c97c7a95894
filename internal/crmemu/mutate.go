package crmemu

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// OrderInput describes a new order. Zero fields are filled by the generator,
// so CreateOrder(OrderInput{}) makes a realistic random order.
type OrderInput struct {
	Site   string // SiteMain, SiteOpt, or NoSite for an order without a store
	Status string // default "new"
	// Currency is the order's currency; default: its store's (as RetailCRM sets it) when the
	// generated order names one; NoCurrency for an order that names none (older payloads).
	Currency        string
	ExternalID      string
	Number          string
	FirstName       string
	LastName        string
	Patronymic      string
	Phone           string
	Email           string
	CustomerComment string
	CustomFields    map[string]any // code → value (string, number, bool, []string, time.Time for dates)
	Items           []ItemInput    // replaces the generated items when set
	DeliveryCost    *float64
	DeliveryNetCost *float64
	CreatedAt       time.Time // default Now()
}

// NoSite as OrderInput.Site creates an order without a store, like order-73.
const NoSite = "-"

// NoCurrency as OrderInput.Currency creates an order without a currency of its own.
const NoCurrency = "-"

// ItemInput is one order line of OrderInput.
type ItemInput struct {
	Price         float64 // initial price per unit, rubles
	Quantity      float64 // default 1; fractional for weighed goods
	PurchasePrice float64
	Canceled      bool
}

// Change is one field change for UpdateOrder, named like history fields.
// Supported: status, customer_comment, manager_comment, phone,
// additional_phone, email, first_name, last_name, patronymic, custom_<code>,
// delivery_cost, delivery_net_cost, order_product.quantity,
// order_product.status, total_summ, purchase_summ, site, external_id,
// number, manager, created_at. A nil Value clears the field.
type Change struct {
	Field  string
	Value  any
	ItemID int64 // for order_product.*: the item; 0 = the first line
}

// Mutation is what RandomMutation did.
type Mutation struct {
	Kind    string // "create" | "update" | "delete" | "merge"
	OrderID int64  // created, updated, deleted, or merged-away order
	IntoID  int64  // merge target
	Changes []Change
}

func (m Mutation) String() string {
	switch m.Kind {
	case "merge":
		return fmt.Sprintf("merge %d into %d", m.OrderID, m.IntoID)
	case "update":
		fields := make([]string, len(m.Changes))
		for i, c := range m.Changes {
			fields[i] = c.Field
		}
		return fmt.Sprintf("update %d %s", m.OrderID, strings.Join(fields, ","))
	}
	return fmt.Sprintf("%s %d", m.Kind, m.OrderID)
}

// appendHistoryLocked numbers and stores a new history entry.
func (e *Emulator) appendHistoryLocked(h *histEntry) {
	h.id = e.gen.n + int64(len(e.hist)) + 1
	if h.sites == 0 {
		h.sites = siteBit(h.stub.site)
	}
	e.hist = append(e.hist, h)
}

// materializeLocked moves an order into the overlay so it can be changed.
func (e *Emulator) materializeLocked(id int64) (*slot, error) {
	if s, ok := e.over[id]; ok {
		if s.o == nil {
			return nil, fmt.Errorf("crmemu: order %d: %w", id, ErrNotFound)
		}
		return s, nil
	}
	if id < 1 || id > e.gen.n {
		return nil, fmt.Errorf("crmemu: order %d: %w", id, ErrNotFound)
	}
	s := &slot{o: e.gen.order(id)}
	e.over[id] = s
	return s, nil
}

// CreateOrder adds an order and its creation history entry; it returns the new id.
func (e *Emulator) CreateOrder(in OrderInput) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now().Unix()
	e.maxID++
	id := e.maxID
	o := e.gen.order(id)
	created := now
	if !in.CreatedAt.IsZero() {
		created = in.CreatedAt.Unix()
	}
	o.shift(created - o.createdAt)
	o.status = "new"
	o.statusUpdated, o.markDatetime = created, created
	o.shipped, o.shipmentDate = false, ""
	applyInput(o, &in)
	switch in.Currency {
	case "":
		if o.currency != "" {
			o.currency = e.Currency(o.site)
		}
	case NoCurrency:
		o.currency = ""
	default:
		o.currency = in.Currency
	}
	o.recompute()
	o.payments, o.prepaySum, o.fullPaidAt = nil, 0, 0
	e.over[id] = &slot{o: o}
	e.version++
	source := "api"
	if id%2 == 0 {
		source = "user"
	}
	e.appendHistoryLocked(&histEntry{
		at: now, created: true, source: source, userID: userOf(o), field: "status",
		newV: codeValue(o.status), full: o.clone(), stub: o.stub(),
	})
	return id
}

// shift moves every instant of a generated order by d seconds.
func (o *order) shift(d int64) {
	o.createdAt += d
	o.statusUpdated += d
	o.markDatetime += d
	for i := range o.items {
		o.items[i].createdAt += d
	}
}

func applyInput(o *order, in *OrderInput) {
	switch in.Site {
	case "":
	case NoSite:
		o.site = ""
	default:
		o.site = in.Site
	}
	if in.Status != "" {
		o.status = in.Status
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&o.firstName, in.FirstName}, {&o.lastName, in.LastName}, {&o.patronymic, in.Patronymic}, {&o.phone, in.Phone}, {&o.custComment, in.CustomerComment}, {&o.externalID, in.ExternalID}, {&o.number, in.Number}} {
		if f.v != "" {
			*f.dst = strings.ToValidUTF8(f.v, "\uFFFD")
		}
	}
	if in.Email != "" {
		o.email, o.hasEmail = strings.ToValidUTF8(in.Email, "\uFFFD"), true
	}
	for code, v := range in.CustomFields {
		raw, _ := customFieldRaw(code, v)
		o.setCustomField(code, raw)
	}
	if len(in.Items) > 0 {
		base := o.items
		o.items = o.items[:0:0]
		for k, ii := range in.Items {
			it := base[k%len(base)]
			it.id = itemID(o.id, k)
			it.initialPrice = moneyOf(ii.Price)
			it.discountTotal, it.discounts = 0, nil
			it.quantity = 1000
			if ii.Quantity != 0 {
				it.quantity = qty(math.Round(ii.Quantity * 1000))
			}
			it.purchasePrice = moneyOf(ii.PurchasePrice)
			it.canceled = ii.Canceled
			it.createdAt = o.createdAt
			o.items = append(o.items, it)
		}
	}
	if in.DeliveryCost != nil {
		o.delivery.cost = moneyOf(*in.DeliveryCost)
	}
	if in.DeliveryNetCost != nil {
		o.delivery.netCost, o.delivery.hasNetCost = moneyOf(*in.DeliveryNetCost), true
	}
}

func moneyOf(v float64) money { return money(math.Round(v * 100)) }

// UpdateOrder applies changes to a live order, one history entry per change,
// keeping the order consistent (totals follow item changes).
func (e *Emulator) UpdateOrder(id int64, changes ...Change) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.materializeLocked(id)
	if err != nil {
		return err
	}
	o := s.o.clone()
	now := e.now().Unix()
	var entries []*histEntry
	for _, c := range changes {
		oldSite := siteBit(o.site)
		h, err := applyChange(o, c, now, e.loc)
		if err != nil {
			return fmt.Errorf("crmemu: update order %d: %w", id, err)
		}
		if h.oldV.equal(h.newV) {
			continue // RetailCRM records changes, not writes of the same value
		}
		h.at, h.source, h.userID = now, "user", userOf(o)
		h.stub = o.stub()
		h.sites = oldSite | siteBit(o.site)
		entries = append(entries, h)
	}
	s.o = o
	e.version++
	for _, h := range entries {
		e.appendHistoryLocked(h)
	}
	return nil
}

func applyChange(o *order, c Change, now int64, loc *time.Location) (*histEntry, error) {
	h := &histEntry{field: c.Field}
	str := func(dst *string) error {
		v, err := stringValue(c.Value)
		if err != nil {
			return err
		}
		h.oldV, h.newV = strValue(*dst), strValue(v)
		*dst = v
		return nil
	}
	switch f := c.Field; {
	case f == "status":
		v, err := stringValue(c.Value)
		if err != nil || statusGroup(v) == "" {
			return nil, fmt.Errorf("status %v: not a status code", c.Value)
		}
		h.oldV, h.newV = codeValue(o.status), codeValue(v)
		if v != o.status {
			o.status, o.statusUpdated, o.markDatetime = v, now, now
		}
	case f == "customer_comment":
		return h, str(&o.custComment)
	case f == "manager_comment":
		return h, str(&o.mgrComment)
	case f == "phone":
		return h, str(&o.phone)
	case f == "additional_phone":
		return h, str(&o.addPhone)
	case f == "first_name":
		return h, str(&o.firstName)
	case f == "last_name":
		return h, str(&o.lastName)
	case f == "patronymic":
		return h, str(&o.patronymic)
	case f == "number":
		return h, str(&o.number)
	case f == "external_id":
		return h, str(&o.externalID)
	case f == "email":
		old := hval{}
		if o.hasEmail {
			old = strValue(o.email)
		}
		if err := str(&o.email); err != nil {
			return nil, err
		}
		h.oldV = old
		o.hasEmail = c.Value != nil
	case strings.HasPrefix(f, "custom_"):
		code := strings.TrimPrefix(f, "custom_")
		raw, err := customFieldRaw(code, c.Value)
		if err != nil {
			return nil, err
		}
		old, _ := o.customField(code)
		h.oldV, h.newV = hval{raw: old}, hval{raw: raw}
		o.setCustomField(code, raw)
	case f == "delivery_cost", f == "delivery_net_cost", f == "total_summ", f == "purchase_summ":
		var m money
		if c.Value != nil {
			v, err := moneyValue(c.Value)
			if err != nil {
				return nil, err
			}
			m = v
		}
		switch f {
		case "delivery_cost":
			h.oldV = moneyHval(o.delivery.cost)
			o.delivery.cost = m
			o.recompute()
		case "delivery_net_cost":
			if o.delivery.hasNetCost {
				h.oldV = moneyHval(o.delivery.netCost)
			}
			o.delivery.netCost, o.delivery.hasNetCost = m, c.Value != nil
		case "total_summ":
			h.oldV = moneyHval(o.totalSumm)
			o.totalSumm = m
		case "purchase_summ":
			h.oldV = moneyHval(o.purchaseSumm)
			o.purchaseSumm = m
		}
		if c.Value != nil {
			h.newV = moneyHval(m)
		}
	case f == "order_product.quantity", f == "order_product.status":
		it := o.itemByID(c.ItemID)
		if it == nil {
			return nil, fmt.Errorf("%s: no item %d", f, c.ItemID)
		}
		if f == "order_product.status" {
			v, err := stringValue(c.Value)
			if err != nil {
				return nil, err
			}
			h.oldV, h.newV = codeValue(it.status), codeValue(v)
			it.status = v
		} else {
			q, err := qtyValue(c.Value)
			if err != nil {
				return nil, err
			}
			h.oldV, h.newV = hval{raw: it.quantity.appendJSON(nil)}, hval{raw: q.appendJSON(nil)}
			it.quantity = q
			o.recompute()
		}
		h.item = itemRef(it)
	case f == "site":
		v, err := stringValue(c.Value)
		if err != nil || (v != "" && siteBit(v) == 0) {
			return nil, fmt.Errorf("site %v: not a site code", c.Value)
		}
		h.oldV, h.newV = codeValue(o.site), codeValue(v)
		o.site = v
	case f == "manager":
		n, err := intValue(c.Value)
		if err != nil {
			return nil, err
		}
		h.oldV, h.newV = idValue(o.managerID), idValue(n)
		o.managerID = n
	case f == "created_at":
		t, err := timeValue(c.Value, loc)
		if err != nil {
			return nil, err
		}
		h.oldV, h.newV = hval{ts: o.createdAt, isTS: true}, hval{ts: t, isTS: true}
		o.createdAt = t
	default:
		return nil, fmt.Errorf("unsupported field %q", f)
	}
	return h, nil
}

func (o *order) itemByID(id int64) *item {
	for i := range o.items {
		if o.items[i].id == id || (id == 0 && !o.items[i].canceled) {
			return &o.items[i]
		}
	}
	return nil
}

func itemRef(it *item) []byte {
	w := enc{}
	w.open('{')
	w.kint("id", it.id)
	if it.offer != nil {
		w.kraw("offer", it.offer.ref)
	}
	w.close('}')
	return w.b
}

func strValue(s string) hval {
	if s == "" {
		return hval{}
	}
	return hval{raw: appendQuoted(nil, s)}
}

func moneyHval(m money) hval { return hval{raw: m.appendJSON(nil)} }

func idValue(id int64) hval {
	if id == 0 {
		return hval{}
	}
	return hval{raw: []byte(`{"id":` + strconv.FormatInt(id, 10) + `}`)}
}

func stringValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.ToValidUTF8(x, "\uFFFD"), nil
	}
	return "", fmt.Errorf("value %v (%T): want a string", v, v)
}

func moneyValue(v any) (money, error) {
	f, err := floatValue(v)
	return moneyOf(f), err
}

func qtyValue(v any) (qty, error) {
	f, err := floatValue(v)
	return qty(math.Round(f * 1000)), err
}

func floatValue(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case json.Number:
		return floatValue(x.String())
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("number %q: %w", x, err)
		}
		return f, nil
	}
	return 0, fmt.Errorf("value %v (%T): want a number", v, v)
}

func intValue(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case float64:
		return int64(x), nil
	}
	return 0, fmt.Errorf("value %v (%T): want an integer", v, v)
}

func timeValue(v any, loc *time.Location) (int64, error) {
	switch x := v.(type) {
	case time.Time:
		return x.Unix(), nil
	case string:
		t, err := time.ParseInLocation("2006-01-02 15:04:05", x, loc)
		if err != nil {
			return 0, fmt.Errorf("time %q: %w", x, err)
		}
		return t.Unix(), nil
	}
	return 0, fmt.Errorf("value %v (%T): want a time", v, v)
}

// customFieldRaw renders a custom field value in the JSON shape its type
// has in orders (see customFieldDef); nil clears the field.
func customFieldRaw(code string, v any) ([]byte, error) {
	var def *customFieldDef
	for i := range customFieldDefs {
		if customFieldDefs[i].code == code && customFieldDefs[i].entity == "order" {
			def = &customFieldDefs[i]
		}
	}
	if def == nil {
		return nil, fmt.Errorf("custom field %q: no such order field", code)
	}
	if v == nil {
		return nil, nil
	}
	if t, ok := v.(time.Time); ok && def.typ == "date" {
		v = t.In(dateZone).Format("2006-01-02")
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("custom field %q: %w", code, err)
	}
	return raw, nil
}

// DeleteOrder removes a live order; the history gets a "deleted": true entry.
func (e *Emulator) DeleteOrder(id int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.materializeLocked(id)
	if err != nil {
		return err
	}
	o := s.o
	s.o = nil
	e.version++
	e.appendHistoryLocked(&histEntry{
		at: e.now().Unix(), deleted: true, source: "user", userID: userOf(o), field: "id",
		oldV: hval{raw: []byte(strconv.FormatInt(id, 10))}, stub: o.stub(),
	})
	return nil
}

// MergeOrders combines order from into order into, as RetailCRM's order
// combining does: the lines of from move into into (totals recomputed, one
// order_product entry each), and from disappears with a deletion entry that
// carries combinedTo.
func (e *Emulator) MergeOrders(fromID, intoID int64) error {
	if fromID == intoID {
		return fmt.Errorf("crmemu: merge order %d into itself", fromID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	from, err := e.materializeLocked(fromID)
	if err != nil {
		return err
	}
	into, err := e.materializeLocked(intoID)
	if err != nil {
		return err
	}
	now := e.now().Unix()
	merged := into.o.clone()
	var entries []*histEntry
	for _, it := range from.o.items {
		if it.canceled {
			continue
		}
		merged.items = append(merged.items, it)
		entries = append(entries, &histEntry{
			at: now, source: "user", userID: userOf(merged), field: "order_product",
			newV: hval{raw: []byte(`{"id":` + strconv.FormatInt(it.id, 10) + `}`)}, item: itemRef(&it),
		})
	}
	merged.recompute()
	for _, h := range entries {
		h.stub = merged.stub()
		e.appendHistoryLocked(h)
	}
	into.o = merged
	gone := from.o
	from.o = nil
	target := merged.stub()
	e.appendHistoryLocked(&histEntry{
		at: now, deleted: true, source: "user", userID: userOf(gone), field: "id",
		oldV: hval{raw: []byte(strconv.FormatInt(fromID, 10))}, stub: gone.stub(), combinedTo: &target,
		sites: siteBit(gone.site) | siteBit(merged.site),
	})
	e.version++
	return nil
}

// RandomMutation applies one random create, update, delete or merge to the
// current data and reports it, for randomized model tests.
func (e *Emulator) RandomMutation(rng *rand.Rand) Mutation {
	kind := []string{"create", "update", "delete", "merge"}[pickWeighted(rng, 25, 50, 12, 13)]
	a := e.randomLive(rng)
	if a == 0 {
		kind = "create"
	}
	switch kind {
	case "update":
		changes := e.randomChanges(rng, a)
		if err := e.UpdateOrder(a, changes...); err == nil {
			return Mutation{Kind: "update", OrderID: a, Changes: changes}
		}
	case "delete":
		if err := e.DeleteOrder(a); err == nil {
			return Mutation{Kind: "delete", OrderID: a}
		}
	case "merge":
		if b := e.randomLive(rng); b != 0 && b != a {
			if err := e.MergeOrders(a, b); err == nil {
				return Mutation{Kind: "merge", OrderID: a, IntoID: b}
			}
		}
	}
	in := OrderInput{}
	if rng.IntN(4) == 0 {
		// late-arriving orders dated in the past land inside pages already walked
		e.mu.RLock()
		in.CreatedAt = time.Unix(e.gen.start+rng.Int64N(max(e.gen.span, 1)), 0)
		e.mu.RUnlock()
	}
	return Mutation{Kind: "create", OrderID: e.CreateOrder(in)}
}

func pickWeighted(rng *rand.Rand, weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := rng.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// randomLive picks a live order id, or 0 when none is found.
func (e *Emulator) randomLive(rng *rand.Rand) int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.maxID == 0 {
		return 0
	}
	for range 64 {
		id := 1 + rng.Int64N(e.maxID)
		if s, ok := e.over[id]; ok {
			if s.o != nil {
				return id
			}
			continue
		}
		if id <= e.gen.n {
			return id
		}
	}
	return 0
}

func (e *Emulator) randomChanges(rng *rand.Rand, id int64) []Change {
	e.mu.RLock()
	o := e.currentLocked(id)
	e.mu.RUnlock()
	n := 1 + rng.IntN(3)
	out := make([]Change, 0, n)
	for range n {
		var c Change
		switch rng.IntN(9) {
		case 0, 1:
			s := statusDefs[rng.IntN(len(statusDefs))]
			for !s.active {
				s = statusDefs[rng.IntN(len(statusDefs))]
			}
			c = Change{Field: "status", Value: s.code}
		case 2:
			c = Change{Field: "customer_comment", Value: customerComments[rng.IntN(len(customerComments))]}
		case 3:
			r := rnd{rng.Uint64()}
			c = Change{Field: "phone", Value: phoneShape(&r, "9"+r.digits(9), &cities[0])}
		case 4:
			c = Change{Field: "email", Value: []any{nil, "", "new." + strconv.Itoa(rng.IntN(1000)) + "@mail.ru", "BAD@"}[rng.IntN(4)]}
		case 5:
			c = Change{Field: "custom_" + FieldSessionID, Value: strconv.FormatUint(rng.Uint64(), 16)}
		case 6:
			c = Change{Field: "delivery_net_cost", Value: float64(rng.IntN(50000)) / 100}
		case 7:
			if o != nil && len(o.items) > 0 {
				it := o.items[rng.IntN(len(o.items))]
				c = Change{Field: "order_product.quantity", Value: float64(1+rng.IntN(8)) / 2, ItemID: it.id}
			} else {
				c = Change{Field: "manager_comment", Value: managerComments[rng.IntN(len(managerComments))]}
			}
		default:
			c = Change{Field: "last_name", Value: lastNames[rng.IntN(len(lastNames))][rng.IntN(2)]}
		}
		out = append(out, c)
	}
	return out
}
