package secret

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Hint shows which key is stored without revealing it: "…" and the last four
// characters. A key shorter than eight characters would give away too large a
// share of itself, so it is shown as "…" alone; an empty key as "".
func Hint(apiKey string) string {
	n := utf8.RuneCountInString(apiKey)
	switch {
	case n == 0:
		return ""
	case n < 8:
		return "…"
	}
	r := []rune(apiKey)
	return "…" + string(r[n-4:])
}

const redacted = "[redacted]"

// Redact replaces every occurrence of any of secrets in s with "[redacted]",
// including their query-escaped forms (as they appear inside URLs in error
// texts). Overlapping occurrences are merged into one, so no piece of a
// secret survives between two replacements. Empty secrets are ignored.
//
// It is the last line of defence in logs and error texts, not a way to make
// a secret safe to print.
func Redact(s string, secrets ...string) string {
	type span struct{ from, to int }
	var spans []span
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		forms := []string{sec}
		if q := url.QueryEscape(sec); q != sec {
			forms = append(forms, q)
		}
		for _, f := range forms {
			for i := 0; i < len(s); {
				j := strings.Index(s[i:], f)
				if j < 0 {
					break
				}
				spans = append(spans, span{i + j, i + j + len(f)})
				// Step one byte, not len(f): occurrences may overlap.
				i += j + 1
			}
		}
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	last := 0
	for i := 0; i < len(spans); {
		from, to := spans[i].from, spans[i].to
		for i++; i < len(spans) && spans[i].from <= to; i++ {
			to = max(to, spans[i].to)
		}
		b.WriteString(s[last:from])
		b.WriteString(redacted)
		last = to
	}
	b.WriteString(s[last:])
	return b.String()
}
