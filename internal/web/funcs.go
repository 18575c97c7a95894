package web

import (
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"time"
)

// funcs are the template functions of one language.
func (h *Web) funcs(lang string) template.FuncMap {
	cat := h.catalogs[lang]
	return template.FuncMap{
		"t":          cat.T,
		"fieldTitle": func(name string) string { return fieldTitle(lang, name) },
		"fieldHelp":  func(name string) string { return fieldHelp(lang, name) },
		"num":        func(v any) string { return numberText(lang, fmt.Sprint(v)) },
		"when":       func(t any, tz string) string { return whenText(lang, t, tz) },
		"dict":       dict,
		"add":        func(a, b int) int { return a + b },
		"hasPrefix":  func(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p },
	}
}

// whenText shows a moment in the counter's timezone, in the language's usual order.
func whenText(lang string, t any, tz string) string {
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
	if at.IsZero() {
		return ""
	}
	if loc, err := time.LoadLocation(tz); err == nil && tz != "" {
		at = at.In(loc)
	}
	if lang == "en" {
		return at.Format("2006-01-02 15:04")
	}
	return at.Format("02.01.2006 15:04")
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
