package tasks_test

import (
	"go/build"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The layers of the service and what each may import. Data flows one way: web/api → tasks and
// people (the rules) → store / jobs → importer → retailcrm → mapping; no package reaches back
// up. The web UI and the JSON API are adapters over internal/tasks and internal/people: they read
// the store for plain listings but never talk to RetailCRM or the identity provider, send mail,
// open keys or run the import themselves, and neither imports the other. The role model
// (internal/access) sits below every use case that asks it.
// The rules of what counts (counting) stand on the store's types alone.
var layerRules = []struct {
	pkg       string
	forbidden []string // never imported directly
	above     []string // never reached, directly or through others
}{
	{pkg: "web", forbidden: []string{"api", "importer", "retailcrm", "secret", "jobs", "sso", "mail", "webhook", "alert"}, above: []string{"api", "app"}},
	{pkg: "api", forbidden: []string{"web", "importer", "retailcrm", "secret", "jobs", "sso", "mail", "webhook", "alert"}, above: []string{"web", "app"}},
	{pkg: "tasks", above: []string{"api", "web", "app", "jobs", "people"}},
	{pkg: "people", above: []string{"api", "web", "app", "jobs"}},
	{pkg: "access", above: []string{"api", "web", "app", "tasks", "people", "jobs", "importer", "store", "retailcrm", "mapping", "secret"}},
	{pkg: "sso", above: []string{"api", "web", "app", "tasks", "people", "jobs", "store"}},
	{pkg: "mail", above: []string{"api", "web", "app", "tasks", "people", "jobs", "store"}},
	{pkg: "clientip", above: []string{"api", "web", "app", "tasks", "people", "jobs", "store"}},
	{pkg: "jobs", above: []string{"api", "web", "app", "tasks"}},
	{pkg: "importer", above: []string{"api", "web", "app", "tasks", "jobs"}},
	{pkg: "counting", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "retailcrm", "mapping", "secret"}},
	{pkg: "store", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "retailcrm", "mapping", "secret", "counting"}},
	{pkg: "retailcrm", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "store", "mapping"}},
	{pkg: "mapping", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "store", "retailcrm"}},
	// The orders' way out: the exported shape of an order, the signed sender, the alerts' rules
	// and mail sit below the use cases and the jobs, and know nothing of them.
	{pkg: "alert", above: []string{"api", "web", "app", "tasks", "jobs", "importer"}},
	{pkg: "webhook", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "alert"}},
	{pkg: "export", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "webhook", "alert"}},
	{pkg: "locale", above: []string{"api", "web", "app", "tasks", "jobs", "importer", "store", "retailcrm", "mapping", "netguard"}},
}

const module = "orderimport/internal/"

func TestLayers(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	direct := map[string][]string{} // package (relative to internal/) → its direct imports inside the module
	var load func(rel string)
	load = func(rel string) {
		if _, done := direct[rel]; done {
			return
		}
		p, err := build.Default.ImportDir(filepath.Join(root, "internal", rel), 0)
		if err != nil {
			t.Fatalf("read package internal/%s: %v", rel, err)
		}
		var mine []string
		for _, imp := range p.Imports {
			if dep, ok := strings.CutPrefix(imp, module); ok {
				mine = append(mine, dep)
			}
		}
		direct[rel] = mine
		for _, dep := range mine {
			load(dep)
		}
	}
	for _, r := range layerRules {
		load(r.pkg)
	}
	reach := func(from string) []string {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, d := range direct[p] {
				if !seen[d] {
					seen[d] = true
					walk(d)
				}
			}
		}
		walk(from)
		out := make([]string, 0, len(seen))
		for p := range seen {
			out = append(out, p)
		}
		slices.Sort(out)
		return out
	}
	if len(direct["web"]) == 0 || !slices.Contains(direct["web"], "tasks") {
		t.Fatalf("web's imports %v: the reading of the import graph is broken", direct["web"])
	}
	for _, r := range layerRules {
		for _, f := range r.forbidden {
			if slices.Contains(direct[r.pkg], f) {
				t.Errorf("internal/%s imports internal/%s: it must go through internal/tasks", r.pkg, f)
			}
		}
		all := reach(r.pkg)
		for _, a := range r.above {
			if slices.Contains(all, a) {
				t.Errorf("internal/%s reaches internal/%s (imports %v): a package never depends on a layer above it", r.pkg, a, all)
			}
		}
	}
}
