package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"orderimport/internal/access"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
)

// Both catalogues have exactly the same keys, and every key the UI names exists: in
// templates ({{t "key"}}, {{td "key" data}}), in handlers (vw.T("key"), textErr(vw, "key")),
// in the script (T("key")) and in the
// families of keys that are built at run time (statuses, kinds, phases, error kinds).
func TestCataloguesComplete(t *testing.T) {
	t.Parallel()
	// The catalogues agreeing with each other is internal/locale's test; this one checks that
	// the UI names no key they lack.
	ru := locale.For("ru")

	used := map[string]string{} // key → where
	scan := func(dir, pattern string, re *regexp.Regexp) {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = f
			}
		}
	}
	scan("templates", "*.html", regexp.MustCompile(`(?:\{\{|\()td? "([^"]+)"`))
	scan(".", "*.go", regexp.MustCompile(`(?:\.T|\.Text|textErr\(vw,)\(?\s*"([^"]+)"`))
	scan("static", "*.js", regexp.MustCompile(`\bT\("([^"]+)"`))
	if len(used) < 100 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for _, v := range notices {
		used[v] = "notices"
	}
	for _, s := range []string{store.RunQueued, store.RunRunning, store.RunSucceeded, store.RunSucceededWithWarnings, store.RunFailed, store.RunInterrupted} {
		used["run.status."+s] = "run statuses"
	}
	for _, k := range []string{store.RunScheduled, store.RunManual, store.RunResync, store.RunRemap} {
		used["run.kind."+k] = "run kinds"
	}
	for _, p := range []string{importer.PhaseBackfill, importer.PhaseHistory, importer.PhaseRemap, "waiting"} {
		used["progress.phase."+p] = "run phases"
	}
	for _, f := range mapping.Fields {
		used["field."+f.Name], used["field_help."+f.Name] = "fieldTitle", "fieldHelp"
	}
	for _, k := range []string{"created", "updated", "deleted", "invalid", "none"} {
		used["run.counts."+k] = "countsText"
	}
	for _, e := range []errorPage{{Title: "error.notfound.title", Text: "error.notfound.text"}, {Title: "error.internal.title", Text: "error.internal.text"},
		{Title: "error.csrf.title", Text: "error.csrf.text"}, {Title: "error.toolarge.title", Text: "error.toolarge.text"},
		{Title: "error.busy.title", Text: "error.busy.text"}, {Title: "error.full.title", Text: "error.full.text"},
		{Title: "error.forbidden.title", Text: "error.forbidden.text"}, {Title: "twofa.gone.title", Text: "twofa.gone.text"}} {
		used[e.Title], used[e.Text] = "error pages", "error pages"
	}
	for _, k := range []string{"sso.refused.title", "sso.back_to_login", "invite.refused.title"} {
		used[k] = "error pages"
	}
	for _, r := range access.Roles {
		used["users.role_help."+string(r)] = "roles"
	}
	var missing []string
	for k, where := range used {
		if strings.HasSuffix(k, ".") {
			continue // a prefix completed at run time; its family is listed above
		}
		if !ru.Has(k) {
			missing = append(missing, k+" (used in "+where+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("catalogue has no key %s", m)
	}
}

// Templates hold no words of their own: every text node is a template action or punctuation.
func TestTemplatesHaveNoLiteralText(t *testing.T) {
	t.Parallel()
	tag := regexp.MustCompile(`(?s)<[^>]*>|\{\{.*?\}\}`)
	word := regexp.MustCompile(`\p{L}{2,}`)
	err := fs.WalkDir(templatesFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templatesFS.ReadFile(p)
		if err != nil {
			return err
		}
		for _, text := range tag.Split(string(b), -1) {
			if w := word.FindString(text); w != "" {
				t.Errorf("%s: literal text %q: put it in the catalogues", p, strings.TrimSpace(text))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The script's share of the catalogue holds what it shows.
func TestScriptCatalogue(t *testing.T) {
	t.Parallel()
	js := forScript(locale.For("ru"))
	for _, k := range []string{"js.working", "run.status.running", "progress.rate", "preview.summary", "choice.custom_field", "form.suggested"} {
		if _, ok := js[k]; !ok {
			t.Errorf("the script's catalogue lacks %q", k)
		}
	}
	if _, ok := js["login.title"]; ok {
		t.Error("the script's catalogue carries entries it does not use")
	}
}
