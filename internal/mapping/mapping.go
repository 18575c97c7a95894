package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata"
	"unicode/utf8" // Europe/Moscow must load wherever the binary runs

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/shopspring/decimal"
)

// vmMemoryBudget caps, per evaluation, the elements of the lists, maps and
// ranges expr's VM builds (its own MemoryBudget accounting).
const vmMemoryBudget = 100_000

// maxIssueValue is how much of an offending value an Issue shows.
const maxIssueValue = 200

// moscow is the contract's default counter time zone.
var moscow = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		panic(fmt.Sprintf("mapping: load Europe/Moscow: %v", err)) // tzdata is embedded: cannot happen
	}
	return loc
}()

// FieldError is one field's compile problem. Line and Column (1-based,
// in characters) locate it in Expr; both are 0 when the problem is not in
// the expression (an unknown field, an unmapped required field).
type FieldError struct {
	Field   string
	Expr    string
	Line    int
	Column  int
	Message string
}

func (e FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %d:%d: %s", e.Field, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

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
			errs = append(errs, FieldError{Field: name, Expr: src, Message: "unknown field; the fields are " + fieldNames()})
			continue
		}
		merged[name] = strings.TrimSpace(src)
	}
	m := &Mapping{spec: merged, progs: make([]*vm.Program, len(Fields))}
	m.reads = new(projection)
	for _, k := range alwaysRead {
		m.reads = m.reads.need(path{{key: k}})
	}
	for i, f := range Fields {
		src := merged[f.Name]
		if src == "" {
			if f.Required {
				errs = append(errs, FieldError{Field: f.Name, Message: "a required field cannot be unmapped"})
			}
			continue
		}
		prog, paths, ferr := compileExpr(src)
		if ferr != nil {
			ferr.Field = f.Name
			errs = append(errs, *ferr)
			continue
		}
		m.progs[i] = prog
		for _, p := range paths {
			m.reads = m.reads.need(p)
		}
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
	return m, nil
}

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
// HH:MM:SS" in loc (nil = Europe/Moscow, the contract's default).
func (o *Order) DateIn(loc *time.Location) string {
	if loc == nil {
		loc = moscow
	}
	return o.OrderDate.In(loc).Format(time.DateTime)
}

// Issue is one problem with one order. OrderID identifies the order in
// RetailCRM ("number (id N)"); Value is the offending value as text, cut to
// about 200 characters.
type Issue struct {
	OrderID string `json:"order_id"`
	Field   string `json:"field"`
	Value   string `json:"value"`
	Message string `json:"message"`
}

// Result is one mapped order. When Rejected is true a required field is
// missing or invalid, Order is partial and must not be stored; Issues say
// why. Otherwise Issues list the optional fields stored empty or cut.
type Result struct {
	Order    Order
	Rejected bool
	Issues   []Issue
	Date     string // Order.DateIn(env.CounterTZ); "" when rejected
	Status   string // RetailCRM status code, read as is (the contract keeps it whatever the mapping)
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
	var res Result
	root, err := decodeProjected(raw, m.reads)
	obj, isObject := root.(map[string]any)
	if err != nil || !isObject {
		if err == nil {
			err = fmt.Errorf("got %s", kindOf(root))
		}
		res.Rejected = true
		res.Issues = append(res.Issues, Issue{
			Value:   truncateRunes(strings.ToValidUTF8(string(raw[:min(len(raw), 4*maxIssueValue)]), "\uFFFD"), maxIssueValue),
			Message: "order rejected: not a JSON object: " + err.Error(),
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
	s := storer{res: &res, ref: orderRef(obj), accountTZ: accountTZ}
	for i, f := range Fields {
		if m.progs[i] == nil {
			continue
		}
		r.used = 0
		val, err := eval(m.progs[i], vars)
		if err != nil {
			s.fail(f, "", expressionError(err))
			continue
		}
		s.store(f, val)
	}
	if !res.Rejected {
		res.Date = res.Order.DateIn(env.CounterTZ)
	}
	return res
}

// expressionError words a runtime error of an expression with its position.
func expressionError(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) && fe.Line > 0 {
		return fmt.Sprintf("the expression failed at %d:%d: %s", fe.Line, fe.Column+1, fe.Message)
	}
	return "the expression failed: " + err.Error()
}

// orderRef names an order the way a RetailCRM user finds it: by number,
// with the internal id.
func orderRef(o map[string]any) string {
	id, _ := textOf(o["id"])
	num, _ := o["number"].(string)
	num = strings.TrimSpace(num)
	switch {
	case num != "" && id != "" && num != id:
		return truncateRunes(num, 100) + " (id " + truncateRunes(id, 100) + ")"
	case id != "":
		return truncateRunes(id, 100)
	}
	return truncateRunes(num, 100)
}

// storer normalises field values into a Result.
type storer struct {
	res       *Result
	ref       string
	accountTZ *time.Location
}

// fail records a problem with a field: for a required field the order is
// rejected, an optional one stays empty.
func (s *storer) fail(f FieldInfo, value, reason string) {
	msg := reason
	if f.Required {
		s.res.Rejected = true
		msg = "order rejected: " + f.Name + ": " + reason
	}
	s.issue(f, value, msg)
}

func (s *storer) issue(f FieldInfo, value, msg string) {
	s.res.Issues = append(s.res.Issues, Issue{OrderID: s.ref, Field: f.Name, Value: strings.Clone(value), Message: msg})
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
			s.fail(f, "", "missing")
		}
		o.OrderID = id
	case FieldOrderDate:
		if v == nil || v == "" {
			s.fail(f, "", "missing")
			return
		}
		t, err := ParseOrderDate(v, s.accountTZ)
		if err != nil {
			s.fail(f, issueValue(v), err.Error())
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
			s.issue(f, issueValue(v), err.Error())
		}
		o.ContactPhone = p
	case FieldContactEmail:
		in := s.text(f, v, 0)
		e, err := NormalizeEmail(in)
		if err != nil {
			s.issue(f, issueValue(v), err.Error())
		}
		o.ContactEmail = strings.Clone(e)
	case FieldTags:
		tags, cut, dropped := normalizeTags(v)
		for i := range tags {
			tags[i] = strings.Clone(tags[i])
		}
		if cut {
			s.issue(f, issueValue(v), fmt.Sprintf("a tag was cut to %d characters", maxTagLen))
		}
		if dropped {
			s.issue(f, issueValue(v), fmt.Sprintf("only the first %d tags were kept", maxTags))
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
		s.issue(f, issueValue(v), "expected text, got "+kindOf(v))
		return ""
	}
	t, cut := NormalizeText(t, max)
	if cut {
		s.issue(f, issueValue(v), fmt.Sprintf("cut to %d characters", max))
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
			s.fail(f, issueValue(v), "expected text or a number, got "+kindOf(v))
			return "", false
		}
		t, _ = textOf(v)
	}
	t, _ = NormalizeText(t, 0)
	if utf8.RuneCountInString(t) > maxIDLen {
		s.fail(f, issueValue(v), fmt.Sprintf("longer than %d characters", maxIDLen))
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
		s.issue(f, issueValue(v), err.Error())
		return decimal.NullDecimal{}
	}
	if d.Exponent() < -maxScale {
		d = d.Round(maxScale)
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}
}
