// Package locale holds every word a person reads, in each language the product speaks, and
// turns message codes with arguments into those words at the edge: the web UI in the user's
// language, the JSON API in English or, with Accept-Language: ru, in Russian.
//
// Code below the edge never builds sentences for people. It names a Message: a stable code
// (documented in docs/API.md) and its arguments. Run issues, run failures and task statuses are
// stored that way, so a stored record reads in whichever language it is shown.
//
// The catalogues (catalog/<lang>/*.json, one file per part of the product, merged at start) are
// flat maps of keys to texts; a key lives in one file only. Two kinds of keys live there:
//
//   - UI keys ("orders.title", "form.save"), formatted with fmt verbs by T;
//   - message codes ("msg.phone_invalid"), formatted with named placeholders by Msg:
//     {name} is the argument as text, {name:number} a number in the reader's format,
//     {name:field} a tracker field's title, {name:kind} the name of a kind of JSON value,
//     {name:fieldlist} a comma-separated list of a task's fields by their names ("taskfield.*"),
//     {name:plural:key} the count with the plural form of key ("plural.key.one|few|many"),
//     and an argument that is itself a Message is rendered in place.
package locale

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed catalog
var catalogFS embed.FS

// Languages the product speaks; the first is the default (its users are Russian-speaking
// marketers).
var Languages = []string{"ru", "en"}

// Default is the language of anyone who has not chosen one.
const Default = "ru"

// Printer renders keys and messages in one language.
type Printer struct {
	lang string
	cat  map[string]string
}

var (
	loadOnce sync.Once
	printers map[string]*Printer
	loadErr  error
)

func load() {
	printers = make(map[string]*Printer, len(Languages))
	for _, lang := range Languages {
		c, err := loadLang(lang)
		if err != nil {
			loadErr = err
			return
		}
		printers[lang] = &Printer{lang: lang, cat: c}
	}
}

func loadLang(lang string) (map[string]string, error) {
	files, err := fs.Glob(catalogFS, "catalog/"+lang+"/*.json")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("locale: no catalogue for %s", lang)
	}
	out := map[string]string{}
	where := map[string]string{}
	for _, f := range files {
		b, err := catalogFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("locale: read %s: %w", f, err)
		}
		var c map[string]string
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("locale: %s: %w", f, err)
		}
		for k, v := range c {
			if prev, dup := where[k]; dup {
				return nil, fmt.Errorf("locale: key %q is in both %s and %s", k, prev, path.Base(f))
			}
			where[k] = path.Base(f)
			out[k] = v
		}
	}
	return out, nil
}

// Check reports a catalogue that does not load: a programming error that every test building
// the UI or the API catches at once.
func Check() error {
	loadOnce.Do(load)
	return loadErr
}

// For is the printer of lang, or of the default language when lang is not spoken.
func For(lang string) *Printer {
	loadOnce.Do(load)
	if loadErr != nil {
		panic(loadErr)
	}
	if p, ok := printers[lang]; ok {
		return p
	}
	return printers[Default]
}

// English renders for logs and error strings: the words operators read.
func English() *Printer { return For("en") }

// Valid reports whether lang is one of the Languages.
func Valid(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Lang is the printer's language.
func (p *Printer) Lang() string { return p.lang }

// Has reports whether the catalogue has key.
func (p *Printer) Has(key string) bool {
	_, ok := p.cat[key]
	return ok
}

// Keys lists the catalogue's keys, sorted (tests).
func (p *Printer) Keys() []string {
	out := make([]string, 0, len(p.cat))
	for k := range p.cat {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Raw is the catalogue text of key as written, "" when absent (tests, the script's share).
func (p *Printer) Raw(key string) string { return p.cat[key] }

// T looks a UI key up and formats it with args (fmt verbs). An unknown key shows itself in
// brackets, so a gap is visible on screen rather than a blank; the catalogue tests prevent it.
func (p *Printer) T(key string, args ...any) string {
	msg, ok := p.cat[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// Plural is the count n with the form of key its number takes: "plural.<key>.one", ".few" or
// ".many" (English uses one and many; its few repeats many). The form's %s is the count in the
// reader's format.
func (p *Printer) Plural(key string, n int64) string {
	return p.T("plural."+key+"."+p.pluralForm(n), p.Int(n))
}

func (p *Printer) pluralForm(n int64) string {
	if n < 0 {
		n = -n
	}
	if p.lang == "ru" {
		switch {
		case n%10 == 1 && n%100 != 11:
			return "one"
		case n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
			return "few"
		}
		return "many"
	}
	if n == 1 {
		return "one"
	}
	return "many"
}

// Msg renders a message in the printer's language. Its Detail (verbatim text nobody can
// translate, such as RetailCRM's own words) is not part of it: the edge shows it apart.
func (p *Printer) Msg(m Message) string {
	if m.Code == "" {
		return ""
	}
	return p.MsgMarked(m, plain, plain)
}

func plain(s string) string { return s }

// MsgMarked renders a message like Msg, passing the catalogue's words through words and every
// argument shown as it is (a value, a name, an address: data, not words) through data. The web
// UI escapes both for HTML and marks the data as not translated, so that a reader (and the test
// that looks for words of the wrong language) can tell the product's words from a user's.
func (p *Printer) MsgMarked(m Message, words, data func(string) string) string {
	if m.Code == "" {
		return ""
	}
	text, ok := p.cat["msg."+m.Code]
	if !ok {
		return words("[" + m.Code + "]")
	}
	return p.fill(text, m.Args, words, data)
}

// MsgDetail is Msg followed by the detail, for readers that get one line of text (the API's
// message when it has no separate detail field, logs).
func (p *Printer) MsgDetail(m Message) string {
	s := p.Msg(m)
	if m.Detail != "" {
		s = strings.TrimSuffix(s, ".") + ": " + m.Detail
	}
	return s
}

// fill replaces the {name[:kind[:arg]]} placeholders of text: the text and what the
// catalogue says about an argument go through words, an argument shown as it is through data.
func (p *Printer) fill(text string, args map[string]any, words, data func(string) string) string {
	if !strings.Contains(text, "{") {
		return words(text)
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(text, '{')
		if i < 0 {
			b.WriteString(words(text))
			break
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			b.WriteString(words(text))
			break
		}
		b.WriteString(words(text[:i]))
		b.WriteString(p.placeholder(text[i+1:i+j], args, words, data))
		text = text[i+j+1:]
	}
	return b.String()
}

// fieldValue shows a task setting's value in a list of changes: a choice by its words
// ("taskfield.<field>.<value>"), switches as words, the
// frequency as "каждые 3 часа", other numbers in the reader's format.
func (p *Printer) fieldValue(field, v string) string {
	if k := "taskfield." + field + "." + v; p.Has(k) {
		return p.T(k)
	}
	if k := "taskfield.bool." + v; p.Has(k) {
		return p.T(k)
	}
	if n, ok := intOf(v); ok && field == "frequency_hours" {
		return p.Every(int(n))
	}
	return p.Number(v)
}

func (p *Printer) placeholder(spec string, args map[string]any, words, data func(string) string) string {
	name, kind, _ := strings.Cut(spec, ":")
	kind, extra, _ := strings.Cut(kind, ":")
	v, ok := args[name]
	if !ok {
		return ""
	}
	switch kind {
	case "number":
		return words(p.Number(textOf(v)))
	case "field":
		key := "field." + textOf(v)
		if p.Has(key) {
			return words(p.T(key))
		}
		return data(textOf(v))
	case "kind":
		return words(p.T("kind." + textOf(v)))
	case "fieldlist":
		var names []string
		for _, item := range strings.Split(textOf(v), ",") {
			if item == "" {
				continue
			}
			// An item is a field's name, or "name:old:new" for a change worth showing.
			field, change, changed := strings.Cut(item, ":")
			name := field
			if k := "taskfield." + field; p.Has(k) {
				name = p.T(k)
			}
			if old, now, ok := strings.Cut(change, ":"); changed && ok {
				name += " (" + p.fieldValue(field, old) + " → " + p.fieldValue(field, now) + ")"
			}
			names = append(names, name)
		}
		if len(names) == 0 {
			return words(p.T("taskfield.none"))
		}
		return words(strings.Join(names, ", "))
	case "plural":
		n, _ := intOf(v)
		return words(p.Plural(extra, n))
	}
	if m, ok := asMessage(v); ok {
		return p.MsgMarked(m, words, data)
	}
	switch v.(type) {
	case int, int64, int32, float64, json.Number:
		// A count or a position (a run's number, a line in an expression) reads as part of
		// the sentence; text is what a user or RetailCRM wrote.
		return words(textOf(v))
	}
	return data(textOf(v))
}
