package web

import (
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/locale"
	"orderimport/internal/people"
	"orderimport/internal/store"
)

// funcs are the template functions of one language: every word, number, sum and moment a page
// shows goes through one of them.
func (h *Web) funcs(lang string) template.FuncMap {
	p := locale.For(lang)
	return template.FuncMap{
		"t":  p.T,
		"td": func(key string, args ...any) template.HTML { return tData(p, key, args...) },
		"msg": func(m locale.Message) template.HTML {
			return template.HTML(p.MsgMarked(m, template.HTMLEscapeString, dataHTML))
		},
		"plural":     func(key string, n any) string { return p.Plural(key, toInt(n)) },
		"fieldTitle": func(name string) string { return p.T("field." + name) },
		"fieldHelp":  func(name string) string { return p.T("field_help." + name) },
		"num":        func(v any) string { return p.Number(fmt.Sprint(v)) },
		"percent":    func(v any) string { return p.Percent(toInt(v)) },
		"money":      func(v any, currency string) string { return p.Money(fmt.Sprint(v), currency) },
		"currency":   locale.CurrencySign,
		"day":        p.Date,
		"datetime":   p.DateTime,
		"counts":     func(c store.Counts) string { return countsText(p, c) },
		"every":      p.Every,
		"zone":       func(name string) string { return p.Zone(name, h.now()) },
		"scope": func(code string) string {
			if k := "scope." + code; p.Has(k) {
				return p.T(k)
			}
			return code
		},
		"when": func(t any, tz string) string { return whenText(p, t, tz) },
		"dict": dict,
		"can":  can,
		"role": func(r access.Role) string { return p.Msg(people.RoleName(r)) },
		"add":  func(a, b int) int { return a + b },
		"hasPrefix": func(s, pre string) bool {
			return len(s) >= len(pre) && s[:len(pre)] == pre
		},
	}
}

// countsText says what a run changed, naming only what it did: "новых 900, с ошибками 3", or
// "без изменений".
func countsText(p *locale.Printer, c store.Counts) string {
	var parts []string
	for _, n := range []struct {
		key string
		n   int64
	}{{"run.counts.created", c.Created}, {"run.counts.updated", c.Updated}, {"run.counts.deleted", c.Deleted}, {"run.counts.invalid", c.Invalid}} {
		if n.n != 0 {
			parts = append(parts, p.T(n.key, p.Int(n.n)))
		}
	}
	if len(parts) == 0 {
		return p.T("run.counts.none")
	}
	return strings.Join(parts, ", ")
}

// tData is T whose arguments (%s each) are data — a task's name, an order's number — marked
// as such in the HTML it returns.
func tData(p *locale.Printer, key string, args ...any) template.HTML {
	marks := make([]any, len(args))
	for i := range args {
		marks[i] = dataMark(i)
	}
	s := template.HTMLEscapeString(p.T(key, marks...))
	for i, a := range args {
		s = strings.Replace(s, dataMark(i), dataHTML(fmt.Sprint(a)), 1)
	}
	return template.HTML(s)
}

// dataMark stands for an argument while the text around it is escaped: private-use characters,
// which neither a catalogue nor the escaping contains.
func dataMark(i int) string { return "\ue000" + strconv.Itoa(i) + "\ue001" }

// can tells whether the visitor's role may take an action (access's permission names): the
// pages offer only what it may. An unknown name fails the page, so a typo cannot hide a control.
func can(v *visitor, perm string) (bool, error) {
	p, err := access.ParsePermission(perm)
	if err != nil || v == nil {
		return false, err
	}
	return v.User.Role.Can(p), nil
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	i, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	return i
}

// whenText shows a moment in the counter's timezone, in the language's usual order.
func whenText(p *locale.Printer, t any, tz string) string {
	var at time.Time
	switch v := t.(type) {
	case time.Time:
		at = v
	case *time.Time:
		if v == nil {
			return ""
		}
		at = *v
	default:
		return ""
	}
	var loc *time.Location
	if l, err := time.LoadLocation(tz); err == nil && tz != "" {
		loc = l
	}
	return p.Time(at, loc)
}

// dict builds a map for sub-templates: {{template "x" dict "A" 1 "B" 2}}.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %d is not a string", i)
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
