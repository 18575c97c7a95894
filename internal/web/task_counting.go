package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"orderimport/internal/counting"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// The form's «Что учитывать» part: RetailCRM's status groups with their statuses as check
// boxes (a group's box counts its orders, a status's box left empty leaves that status out),
// and the stores the key can read. Until the connection is checked the form knows no
// reference; then it shows the account's own groups, statuses and stores by their names.

// formReference is what the form needs of RetailCRM's reference, carried in a hidden field
// between posts of a form that is not saved yet (like the custom fields).
type formReference struct {
	Groups          []tasks.GroupInfo `json:"status_groups"`
	Sites           []tasks.SiteInfo  `json:"sites"`
	DefaultCurrency string            `json:"default_currency"`
	Readable        bool              `json:"reference_readable"`
}

// countGroupRow is a status group of the form with its statuses.
type countGroupRow struct {
	Code, Name string
	Checked    bool
	Statuses   []countStatusRow
}

type countStatusRow struct {
	Code, Name string
	Checked    bool
	Inactive   bool
}

type siteRow struct {
	Code, Name, Currency string
	Checked              bool
}

// countingState is what the form says counts and which stores it imports.
type countingState struct {
	Shown    bool            // the choice was on the form (it knew the reference)
	Groups   map[string]bool // checked groups
	Excluded map[string]bool // statuses left out within checked groups
	Sites    map[string]bool // checked stores; empty: every store
}

func referenceOf(res *tasks.CheckResult) *formReference {
	return &formReference{Groups: res.StatusGroups, Sites: res.Sites, DefaultCurrency: res.DefaultCurrency, Readable: res.ReferenceReadable}
}

// keptFormReference is a saved task's kept reference as the form shows it: the stores the key
// may read, the groups with their statuses.
func keptFormReference(ref *store.Reference) *formReference {
	fr := &formReference{Groups: tasks.Groups(ref), DefaultCurrency: ref.DefaultCurrency, Readable: !ref.Unreadable}
	for _, s := range ref.Sites {
		if ref.KeySites == nil || slices.Contains(ref.KeySites, s.Code) {
			fr.Sites = append(fr.Sites, tasks.SiteInfo{Code: s.Code, Name: s.Name, Currency: s.Currency})
		}
	}
	return fr
}

// countingFromTask starts the choice from what the task counts (or the default for a new one).
func countingFromTask(c store.Counting, sites []string) countingState {
	st := countingState{Groups: map[string]bool{}, Excluded: map[string]bool{}, Sites: map[string]bool{}}
	for _, g := range c.StatusGroups {
		st.Groups[g] = true
	}
	for _, s := range c.ExcludeStatuses {
		st.Excluded[s] = true
	}
	for _, s := range sites {
		st.Sites[s] = true
	}
	return st
}

// readReference reads the reference a form carries from an earlier check; it only lays the
// choice out, whose codes the use case checks against RetailCRM's reference itself.
func readReference(r *http.Request, f *taskForm) {
	if raw := r.PostFormValue("reference"); raw != "" {
		var fr formReference
		if json.Unmarshal([]byte(raw), &fr) == nil {
			f.Reference = &fr
		}
	}
	f.BackfillTo = strings.TrimSpace(r.PostFormValue("backfill_to"))
}

// readCounting reads the choice as posted, over the reference the form has.
func readCounting(r *http.Request, f *taskForm) {
	if r.PostFormValue("counting_shown") != "1" {
		return
	}
	st := countingState{Shown: true, Groups: map[string]bool{}, Excluded: map[string]bool{}, Sites: map[string]bool{}}
	for _, g := range r.PostForm["count_group"] {
		st.Groups[g] = true
	}
	counted := map[string]bool{}
	for _, s := range r.PostForm["count_status"] {
		counted[s] = true
	}
	if f.Reference != nil {
		for _, g := range f.Reference.Groups {
			for _, s := range g.Statuses {
				if st.Groups[g.Code] && !counted[s.Code] {
					st.Excluded[s.Code] = true
				}
			}
		}
	}
	for _, s := range r.PostForm["site"] {
		st.Sites[s] = true
	}
	f.Counting = st
}

// countingInput is the choice for the use case: nil when the form did not show it (the task's
// stays), {} when it is the default (every group but cancel, no status left out).
func countingInput(f *taskForm) *tasks.CountingInput {
	if !f.Counting.Shown || f.Reference == nil || len(f.Reference.Groups) == 0 {
		return nil
	}
	var groups, excluded []string
	def := true
	for _, g := range f.Reference.Groups {
		on := f.Counting.Groups[g.Code]
		if on {
			groups = append(groups, g.Code)
		}
		def = def && on == (g.Code != counting.Cancel)
		for _, s := range g.Statuses {
			if on && f.Counting.Excluded[s.Code] {
				excluded = append(excluded, s.Code)
			}
		}
	}
	if def && len(excluded) == 0 {
		return &tasks.CountingInput{}
	}
	if groups == nil {
		groups = []string{} // nothing checked: the rules say at least one group
	}
	return &tasks.CountingInput{StatusGroups: groups, ExcludeStatuses: excluded}
}

// sitesInput is the stores for the use case: nil when the form did not show them, [] for every
// store (none or all checked: also the stores the key may read later).
func sitesInput(f *taskForm) *[]string {
	if !f.Counting.Shown || f.Reference == nil || len(f.Reference.Sites) == 0 {
		return nil
	}
	var out []string
	for _, s := range f.Reference.Sites {
		if f.Counting.Sites[s.Code] {
			out = append(out, s.Code)
		}
	}
	if len(out) == len(f.Reference.Sites) {
		out = nil
	}
	if out == nil {
		out = []string{}
	}
	return &out
}

// buildCounting lays the choice out for the template.
func buildCounting(f *taskForm) {
	f.CountGroups, f.SiteRows = nil, nil
	if f.Reference == nil {
		return
	}
	if b, err := json.Marshal(f.Reference); err == nil {
		f.ReferenceJSON = string(b)
	}
	for _, g := range f.Reference.Groups {
		row := countGroupRow{Code: g.Code, Name: g.Name, Checked: f.Counting.Groups[g.Code]}
		for _, s := range g.Statuses {
			row.Statuses = append(row.Statuses, countStatusRow{Code: s.Code, Name: s.Name, Checked: !f.Counting.Excluded[s.Code], Inactive: !s.Active})
		}
		f.CountGroups = append(f.CountGroups, row)
	}
	all := len(f.Counting.Sites) == 0
	for _, s := range f.Reference.Sites {
		f.SiteRows = append(f.SiteRows, siteRow{Code: s.Code, Name: s.Name, Currency: s.Currency, Checked: all || f.Counting.Sites[s.Code]})
	}
}
