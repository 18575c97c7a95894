package web

import (
	"net/http"
	"strings"
	"time"

	"orderimport/internal/locale"
)

// The words of the UI live in internal/locale's catalogues, looked up by key; templates and
// handlers only name keys and render messages. A test keeps every key the UI names present.

const langCookie = "lang"

// dateTimeLayout is how orders store their local date and time (time.DateTime).
const dateTimeLayout = "2006-01-02 15:04:05"

// scriptPrefixes are the catalogue entries the page's script needs: its own (js.) and those it
// shows while following a run or rendering a preview.
var scriptPrefixes = []string{"js.", "run.status.", "progress.", "preview.", "choice.custom_field", "form.suggested", "plural.orders.", "number.",
	"form.status_inactive", "form.counting_unreadable"}

// forScript is the script's share of the catalogue, with the number format of the language, so
// that a number the script writes reads like one the server wrote.
func forScript(p *locale.Printer) map[string]string {
	group, decimal := p.Separators()
	out := map[string]string{"number.group": group, "number.decimal": decimal, "number.minus": locale.Minus,
		// The layout of an order's date and time, as an example the script fills in.
		"format.datetime": p.DateTime(dateTimeLayout)}
	for _, k := range p.Keys() {
		for _, pre := range scriptPrefixes {
			if strings.HasPrefix(k, pre) {
				out[k] = p.Raw(k)
			}
		}
	}
	return out
}

// requestLang picks the language: ?lang= (remembered in a cookie), then the cookie, then the
// default. A switch link is all it takes, with or without JavaScript.
func requestLang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); locale.Valid(l) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isTLS(r)})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && locale.Valid(c.Value) {
		return c.Value
	}
	return locale.Default
}

// langSwitchURL is the current page's URL with ?lang=to, other query parameters kept.
func langSwitchURL(r *http.Request, to string) string {
	q := r.URL.Query()
	q.Set("lang", to)
	return r.URL.Path + "?" + q.Encode()
}
