package store

import (
	"strings"
	"testing"
)

// The hot statements are prepared with SQLite's anonymous parameters: each $k becomes ?, in
// order, and anything else is refused rather than bound to the wrong column.
func TestAnonymousParameters(t *testing.T) {
	for _, q := range []string{upsertOrderSQL, insertEventSQL, liveByCRMIDSQL + placeholders(3, hotPage) + `)`,
		existingByIDSQL + placeholders(2, hotPage) + `)`, rowsByIDSQL + placeholders(1, hotPage) + `)`} {
		got := anonymous(q)
		if strings.Contains(got, "$") {
			t.Errorf("a numbered parameter is left in %q", got)
		}
		if want := strings.Count(q, "$"); strings.Count(got, "?") != want {
			t.Errorf("%d anonymous parameters for %d numbered ones in %q", strings.Count(got, "?"), want, got)
		}
	}
	if got, want := anonymous(`UPDATE orders SET revenue = $1, hash = $2 WHERE id = $3`), `UPDATE orders SET revenue = ?, hash = ? WHERE id = ?`; got != want {
		t.Errorf("anonymous = %q, want %q", got, want)
	}
	for _, q := range []string{`SELECT $2, $1`, `SELECT $1, $1`, `SELECT $1, $3`, `SELECT $`, `SELECT $x`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("anonymous(%q) did not refuse", q)
				}
			}()
			anonymous(q)
		}()
	}
}
