package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"orderimport/internal/mapping"
)

// Every user-facing word of the UI lives in one catalogue per language, looked up by key;
// templates and handlers only name keys. A test keeps the catalogues' key sets equal and
// checks that every key named in a template or handler exists.

//go:embed i18n/*.json
var i18nFS embed.FS

// Languages of the UI; the first is the default (the product's users are Russian-speaking).
var languages = []string{"ru", "en"}

const langCookie = "lang"

type catalog map[string]string

func loadCatalogs() (map[string]catalog, error) {
	out := make(map[string]catalog, len(languages))
	for _, lang := range languages {
		b, err := i18nFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("web: read catalogue %s: %w", lang, err)
		}
		var c catalog
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// T looks a key up and formats it with args (fmt verbs). An unknown key shows itself in
// brackets, so a gap is visible on screen rather than a blank; the catalogue test prevents it.
func (c catalog) T(key string, args ...any) string {
	msg, ok := c[key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// scriptPrefixes are the catalogue entries the page's script needs: its own (js.) and those it
// shows while following a run or rendering a preview.
var scriptPrefixes = []string{"js.", "run.status.", "progress.", "preview.", "form.custom_field", "form.suggested"}

func (c catalog) forScript() map[string]string {
	out := map[string]string{}
	for k, v := range c {
		for _, p := range scriptPrefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

func validLang(l string) bool {
	for _, v := range languages {
		if v == l {
			return true
		}
	}
	return false
}

// requestLang picks the language: ?lang= (remembered in a cookie), then the cookie, then the
// default. A switch link is all it takes, with or without JavaScript.
func requestLang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); validLang(l) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && validLang(c.Value) {
		return c.Value
	}
	return languages[0]
}

// fieldTitle and fieldHelp give a tracker field's seed title and description in lang.
func fieldTitle(lang, name string) string {
	for _, f := range mapping.Fields {
		if f.Name == name {
			if lang == "en" {
				return f.TitleEN
			}
			return f.TitleRU
		}
	}
	return name
}

func fieldHelp(lang, name string) string {
	for _, f := range mapping.Fields {
		if f.Name == name {
			if lang == "en" {
				return f.HelpEN
			}
			return f.HelpRU
		}
	}
	return ""
}

// langSwitchURL is the current page's URL with ?lang=to, other query parameters kept.
func langSwitchURL(r *http.Request, to string) string {
	q := r.URL.Query()
	q.Set("lang", to)
	return r.URL.Path + "?" + q.Encode()
}

// numberText groups digits for reading: 1 234 567 in Russian, 1,234,567 in English; the
// decimal separator follows the language too. Input is a plain decimal text as stored.
func numberText(lang, s string) string {
	if s == "" {
		return ""
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	sep, dec := "\u00a0", ","
	if lang == "en" {
		sep, dec = ",", "."
	}
	var b strings.Builder
	if neg {
		b.WriteString("−")
	}
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString(dec)
		b.WriteString(frac)
	}
	return b.String()
}
