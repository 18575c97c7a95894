package mapping

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/Moscow must load wherever the binary runs
	"unicode/utf8"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"

	"orderimport/internal/locale"
)

// vmMemoryBudget caps, per evaluation, the elements of the lists, maps and
// ranges expr's VM builds (its own MemoryBudget accounting).
const vmMemoryBudget = 100_000

// maxIssueValue is how much of an offending value an Issue shows.
const maxIssueValue = 200

// moscow is a counter's default time zone.
var moscow = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		panic(fmt.Sprintf("mapping: load Europe/Moscow: %v", err)) // tzdata is embedded: cannot happen
	}
	return loc
}()

// FieldError is one field's compile problem. Line and Column (1-based,
// in characters) locate it in Expr; both are 0 when the problem is not in
// the expression (an unknown field, an unmapped required field). Msg says
// what is wrong: mapping_unknown_field, mapping_required_unmapped,
// expression_too_long or expression_invalid (with expr's diagnostic as its
// Detail).
type FieldError struct {
	Field  string
	Expr   string
	Line   int
	Column int
	Msg    locale.Message
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg.String() }

// CompileError lists every field of a mapping that did not compile.
type CompileError struct {
	Errors []FieldError
}

func (e *CompileError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Error()
	}
	return "mapping: " + strings.Join(parts, "; ")
}

// Mapping is a compiled mapping. It is immutable and safe for concurrent
// use by any number of goroutines.
type Mapping struct {
	spec  map[string]string
	progs []*vm.Program // by position in Fields; nil = unmapped
	paths [][]path      // what each program reads, by position in Fields
	reads *projection   // the parts of an order the expressions read
}

// alwaysRead are the order keys Map reads itself: id and number name the
// order in issues, status and site go into every Result.
var alwaysRead = []string{"id", "number", "status", "site"}

// Compile merges spec over Default() and compiles every expression once.
// In spec, "" (or only spaces) unmaps an optional field; unmapping order_id
// or order_date, unknown field names and expressions that do not compile are
// errors, all reported together in a *CompileError.
func Compile(spec map[string]string) (*Mapping, error) {
	merged := Default()
	var errs []FieldError
	for name, src := range spec {
		if _, ok := fieldIndex[name]; !ok {
			errs = append(errs, FieldError{Field: name, Expr: src, Msg: locale.M("mapping_unknown_field", "name", truncateRunes(name, maxIssueValue), "fields", fieldNames())})
			continue
		}
		merged[name] = strings.TrimSpace(src)
	}
	m := &Mapping{spec: merged, progs: make([]*vm.Program, len(Fields)), paths: make([][]path, len(Fields))}
	for i, f := range Fields {
		src := merged[f.Name]
		if src == "" {
			if f.Required {
				errs = append(errs, FieldError{Field: f.Name, Msg: locale.M("mapping_required_unmapped")})
			}
			continue
		}
		prog, paths, ferr := compileExpr(src)
		if ferr != nil {
			ferr.Field = f.Name
			errs = append(errs, *ferr)
			continue
		}
		m.progs[i], m.paths[i] = prog, paths
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b FieldError) int {
			ia, okA := fieldIndex[a.Field]
			ib, okB := fieldIndex[b.Field]
			switch {
			case okA && okB:
				return ia - ib
			case okA != okB: // known fields first
				if okA {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Field, b.Field)
		})
		return nil, &CompileError{Errors: errs}
	}
	m.reads = readsOf(m.paths)
	return m, nil
}

// readsOf is the projection of what Map reads itself and what the programs read.
func readsOf(paths [][]path) *projection {
	reads := new(projection)
	for _, k := range alwaysRead {
		reads = reads.need(path{{key: k}})
	}
	for _, ps := range paths {
		for _, p := range ps {
			reads = reads.need(p)
		}
	}
	return reads
}

// Only is the mapping restricted to the named fields: the others are not evaluated (their
// values in a Result stay empty and raise no issue, a required one included) and what only
// they read is not decoded. A re-map whose change touched some fields evaluates only those
// and keeps the others as stored. Unknown names are ignored.
func (m *Mapping) Only(fields []string) *Mapping {
	out := &Mapping{spec: m.spec, progs: make([]*vm.Program, len(Fields)), paths: make([][]path, len(Fields))}
	for _, name := range fields {
		if i, ok := fieldIndex[name]; ok {
			out.progs[i], out.paths[i] = m.progs[i], m.paths[i]
		}
	}
	out.reads = readsOf(out.paths)
	return out
}

// fieldNames lists the tracker fields for a message naming the valid ones.
func fieldNames() string {
	names := make([]string, len(Fields))
	for i, f := range Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// Spec returns the effective expression of every field after the merge,
// "" for unmapped ones.
func (m *Mapping) Spec() map[string]string {
	out := make(map[string]string, len(m.spec))
	for k, v := range m.spec {
		out[k] = v
	}
	return out
}

// Env is what an evaluation needs besides the order.
type Env struct {
	AccountTZ *time.Location // RetailCRM account's time zone (settings.timezone); nil = UTC
	CounterTZ *time.Location // the counter's time zone, for Result.Date; nil = Europe/Moscow
	// PII is what is kept of the buyer's contacts: PIIKeep ("" too), PIIHash or PIIDrop. Under
	// PIIHash and PIIDrop no issue carries a contact's value (nor an expression's diagnostic
	// about it, which may quote it).
	PII string
}

// Order is one order in the tracker's fields.
type Order struct {
	OrderID      string
	OrderDate    time.Time // UTC, whole seconds
	SessionID    string
	UserID       string
	ItemCount    decimal.NullDecimal // Valid=false: empty
	Profit       decimal.NullDecimal
	Revenue      decimal.NullDecimal
	Comment      string
	ContactName  string
	ContactPhone string // digits, country code first
	ContactEmail string // lower case
	Tags         []string
}

// DateIn formats the order date as the tracker shows it: "YYYY-MM-DD
// HH:MM:SS" in loc (nil = Europe/Moscow, a counter's default).
func (o *Order) DateIn(loc *time.Location) string {
	if loc == nil {
		loc = moscow
	}
	return o.OrderDate.In(loc).Format(time.DateTime)
}

// Issue is one problem with one order. OrderID is the order's order_id as
// the mapping derived it, the one exported ("" when order_id itself could not
// be derived); OrderNumber is RetailCRM's number of the order, as a user
// finds it there. Field is the tracker field ("" when the whole order is
// unreadable), Value the offending value as text, cut to about 200
// characters, and Msg what is wrong (its Detail, for expression_failed, the
// expression's runtime diagnostic).
type Issue struct {
	OrderID     string         `json:"order_id"`
	OrderNumber string         `json:"order_number"`
	Field       string         `json:"field"`
	Value       string         `json:"value"`
	Msg         locale.Message `json:"msg"`
}

// Result is one mapped order. When Rejected is true a required field is
// missing or invalid, Order is partial and must not be stored; Issues say
// why. Otherwise Issues list the optional fields stored empty or cut.
type Result struct {
	Order    Order
	Rejected bool
	Issues   []Issue
	Date     string // Order.DateIn(env.CounterTZ); "" when rejected
	Status   string // RetailCRM status code, read as is (the export keeps it whatever the mapping)
	Site     string // RetailCRM store code, read as is
}

var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// eval runs one program on a pooled VM.
func eval(p *vm.Program, env map[string]any) (any, error) {
	machine := vms.Get().(*vm.VM)
	machine.MemoryBudget = vmMemoryBudget
	out, err := machine.Run(p, env)
	// Do not keep the order alive in the pool.
	clear(machine.Stack[:cap(machine.Stack)])
	clear(machine.Variables)
	vms.Put(machine)
	return out, err
}

// Map evaluates the mapping over one RetailCRM order object, raw JSON as
// RetailCRM sent it.
func (m *Mapping) Map(raw []byte, env Env) Result {
	root, err := decodeProjected(raw, m.reads)
	return m.mapRoot(raw, root, err, env)
}

// MapMembers is Map over an order object whose top-level members the decoder of RetailCRM's
// answer has already found (retailcrm.Order.Members): only the members the expressions read are
// parsed, so an order's bytes are scanned once on the way from the answer to the stored row.
// raw is the whole object, for the issue of an order that cannot be read.
func (m *Mapping) MapMembers(raw []byte, members iter.Seq2[string, []byte], env Env) Result {
	root, err := decodeMembers(members, m.reads)
	if err != nil {
		return m.mapRoot(raw, nil, err, env)
	}
	return m.mapRoot(raw, root, nil, env)
}

// mapRoot evaluates the expressions over a decoded order (root), or reports why it could not be
// decoded (err).
func (m *Mapping) mapRoot(raw []byte, root any, err error, env Env) Result {
	var res Result
	obj, isObject := root.(map[string]any)
	if err != nil || !isObject {
		msg := locale.M("order_not_object", "kind", kindCode(root))
		if err != nil {
			msg = locale.M("order_invalid_json").WithDetail(err.Error())
		}
		res.Rejected = true
		res.Issues = append(res.Issues, Issue{
			Value: truncateRunes(strings.ToValidUTF8(string(raw[:min(len(raw), 4*maxIssueValue)]), "\uFFFD"), maxIssueValue),
			Msg:   msg,
		})
		return res
	}
	res.Status, _ = obj["status"].(string)
	res.Site, _ = obj["site"].(string)
	res.Status, res.Site = strings.Clone(res.Status), strings.Clone(res.Site)

	accountTZ := env.AccountTZ
	if accountTZ == nil {
		accountTZ = time.UTC
	}
	r := &run{accountTZ: accountTZ}
	vars := map[string]any{envOrder: obj, envRun: r}
	s := storer{res: &res, accountTZ: accountTZ}
	for i, f := range Fields {
		if m.progs[i] == nil {
			continue
		}
		s.hashed = false
		if isContact(f.Name) {
			skip, hash := contactPolicy(env.PII, f.Name)
			if skip {
				continue
			}
			s.hashed = hash
		}
		r.used = 0
		val, err := eval(m.progs[i], vars)
		if err != nil {
			s.fail(f, "", expressionFailed(err))
			continue
		}
		s.store(f, val)
	}
	// Issues of order_id itself are recorded before the id is known, so
	// every issue is labelled once the order is mapped.
	if len(res.Issues) > 0 {
		number := orderNumber(obj)
		for i := range res.Issues {
			res.Issues[i].OrderID = res.Order.OrderID
			res.Issues[i].OrderNumber = number
		}
	}
	if !res.Rejected {
		res.Date = res.Order.DateIn(env.CounterTZ)
	}
	return res
}

// expressionFailed is the message of a runtime error of an expression: its
// position, and expr's diagnostic as the detail.
func expressionFailed(err error) locale.Message {
	line, column, diag := 1, 1, err.Error()
	// The VM reports every error as a *file.Error bound to the source.
	var fe *file.Error
	if errors.As(err, &fe) && fe.Line > 0 {
		line, column, diag = fe.Line, fe.Column+1, fe.Message
	}
	return locale.M("expression_failed", "line", line, "column", column).WithDetail(diag)
}

// orderNumber is the order's number in RetailCRM, as a user finds it there.
func orderNumber(o map[string]any) string {
	num, _ := textOf(o["number"])
	return strings.Clone(truncateRunes(num, maxIDLen))
}

// storer normalises field values into a Result.
type storer struct {
	res       *Result
	accountTZ *time.Location
	// hashed: the field is a contact kept only as HashContact, so its issues carry neither its
	// value nor a diagnostic (which may quote it).
	hashed bool
}

// fail records a problem with a field: for a required field the order is
// rejected (the message order_rejected carries the reason), an optional one
// stays empty.
func (s *storer) fail(f FieldInfo, value string, reason locale.Message) {
	if f.Required {
		s.res.Rejected = true
		detail := reason.Detail
		reason.Detail = ""
		reason = locale.M("order_rejected", "reason", reason).WithDetail(detail)
	}
	s.issue(f, value, reason)
}

func (s *storer) issue(f FieldInfo, value string, msg locale.Message) {
	if s.hashed {
		value, msg.Detail = "", ""
	}
	s.res.Issues = append(s.res.Issues, Issue{Field: f.Name, Value: strings.Clone(value), Msg: msg})
}

// messageOf is the message of an error from this package's normalisers, all
// of which carry one.
func messageOf(err error) locale.Message {
	msg, _ := locale.MessageOf(err)
	return msg
}

func issueValue(v any) string {
	return render(v, maxIssueValue)
}

func (s *storer) store(f FieldInfo, v any) {
	o := &s.res.Order
	switch f.Name {
	case FieldOrderID:
		id, ok := s.identifier(f, v)
		if ok && id == "" {
			s.fail(f, "", locale.M("required_missing"))
		}
		o.OrderID = id
	case FieldOrderDate:
		if v == nil || v == "" {
			s.fail(f, "", locale.M("required_missing"))
			return
		}
		t, err := ParseOrderDate(v, s.accountTZ)
		if err != nil {
			s.fail(f, issueValue(v), messageOf(err))
			return
		}
		o.OrderDate = t
	case FieldSessionID:
		o.SessionID, _ = s.identifier(f, v)
	case FieldUserID:
		o.UserID, _ = s.identifier(f, v)
	case FieldItemCount:
		o.ItemCount = s.number(f, v)
	case FieldProfit:
		o.Profit = s.number(f, v)
	case FieldRevenue:
		o.Revenue = s.number(f, v)
	case FieldComment:
		o.Comment = s.text(f, v, maxCommentLen)
	case FieldContactName:
		o.ContactName = s.text(f, v, maxNameLen)
	case FieldContactPhone:
		in := s.text(f, v, 0)
		p, err := NormalizePhone(in)
		if err != nil {
			s.issue(f, issueValue(v), messageOf(err))
		}
		if s.hashed {
			p = HashContact(p)
		}
		o.ContactPhone = p
	case FieldContactEmail:
		in := s.text(f, v, 0)
		e, err := NormalizeEmail(in)
		if err != nil {
			s.issue(f, issueValue(v), messageOf(err))
		}
		if s.hashed {
			e = HashContact(e)
		}
		o.ContactEmail = strings.Clone(e)
	case FieldTags:
		tags, cut, dropped := normalizeTags(v)
		for i := range tags {
			tags[i] = strings.Clone(tags[i])
		}
		if cut {
			s.issue(f, issueValue(v), locale.M("tag_truncated", "max", maxTagLen))
		}
		if dropped {
			s.issue(f, issueValue(v), locale.M("tags_dropped", "max", maxTags))
		}
		o.Tags = tags
	}
}

// text stores a text field: scalars become text, cleaned and capped (max ≤ 0:
// no cap); lists and objects are an issue.
func (s *storer) text(f FieldInfo, v any, max int) string {
	if v == nil {
		return ""
	}
	t, ok := textOf(v)
	if !ok {
		s.issue(f, issueValue(v), locale.M("text_expected", "kind", kindCode(v)))
		return ""
	}
	t, cut := NormalizeText(t, max)
	if cut {
		s.issue(f, issueValue(v), locale.M("text_truncated", "max", max))
	}
	return strings.Clone(t)
}

// identifier stores order_id, session_id or user_id: text or a number,
// cleaned; too long or of another kind, it is left empty (ok=false) rather
// than cut, since a cut identifier would name something else.
func (s *storer) identifier(f FieldInfo, v any) (string, bool) {
	if v == nil {
		return "", true
	}
	var t string
	switch v.(type) {
	case string:
		t = v.(string)
	default:
		if _, isNum, _ := numberOf(v); !isNum {
			s.fail(f, issueValue(v), locale.M("identifier_kind", "kind", kindCode(v)))
			return "", false
		}
		t, _ = textOf(v)
	}
	t, _ = NormalizeText(t, 0)
	if utf8.RuneCountInString(t) > maxIDLen {
		s.fail(f, issueValue(v), locale.M("identifier_too_long", "max", maxIDLen))
		return "", false
	}
	return strings.Clone(t), true
}

// number stores a money amount or a quantity, exact, with at most 20
// decimal places (more only arise from division and are rounded half away
// from zero).
func (s *storer) number(f FieldInfo, v any) decimal.NullDecimal {
	if v == nil {
		return decimal.NullDecimal{}
	}
	if t, ok := v.(string); ok && strings.TrimSpace(t) == "" {
		return decimal.NullDecimal{}
	}
	d, err := ParseDecimal(v)
	if err != nil {
		s.issue(f, issueValue(v), messageOf(err))
		return decimal.NullDecimal{}
	}
	if d.Exponent() < -maxScale {
		d = d.Round(maxScale)
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}
}
