// Package counting decides which orders count in revenue and profit, and in which currency
// their sums are: the rules over RetailCRM's reference (statuses and their groups, stores and
// their currencies) and a task's choice (store.Counting). The use cases (internal/tasks) and
// the import (internal/importer) both apply them; the store only keeps their outcome
// (store.Classes) and applies it to the orders.
package counting

import (
	"slices"

	"orderimport/internal/store"
)

// Cancel is the status group of cancelled orders, which by default do not count: a cancelled
// or never reached order brought no money, and counting it inflates the ROI a marketer reads.
const Cancel = "cancel"

// StandardGroups are RetailCRM's status groups, in its order. An account cannot add groups of
// its own (only statuses within them), so these are what a key that may not read the
// reference is checked against.
var StandardGroups = []string{"new", "approval", "assembling", "delivery", "complete", Cancel}

// Groups are the status group codes of a reference, or the standard ones when it names none.
func Groups(ref *store.Reference) []string {
	if ref == nil || len(ref.Groups) == 0 {
		return slices.Clone(StandardGroups)
	}
	out := make([]string, 0, len(ref.Groups))
	for _, g := range ref.Groups {
		out = append(out, g.Code)
	}
	return out
}

// Effective is the counting a task applies: its own, or the default (every group of the
// reference except Cancel, no status excluded).
func Effective(c *store.Counting, ref *store.Reference) store.Counting {
	if c != nil {
		return store.Counting{StatusGroups: nonNil(c.StatusGroups), ExcludeStatuses: nonNil(c.ExcludeStatuses)}
	}
	var groups []string
	for _, g := range Groups(ref) {
		if g != Cancel {
			groups = append(groups, g)
		}
	}
	return store.Counting{StatusGroups: nonNil(groups), ExcludeStatuses: []string{}}
}

// Classify is what a task's counting makes of each status of the reference: an order counts
// when its status's group is one of the counting's groups and its status is not excluded. A
// status the reference does not name (the key may not read it, or the status is newer than
// the reference) counts under the default counting, where only cancelled orders are left out,
// and not under a task's own choice of groups, which it is in none of.
func Classify(ref *store.Reference, c *store.Counting) store.Classes {
	eff := Effective(c, ref)
	out := store.Classes{Statuses: map[string]store.StatusClass{}, Unknown: c == nil}
	if ref == nil {
		return out
	}
	for _, s := range ref.Statuses {
		out.Statuses[s.Code] = store.StatusClass{Group: s.Group,
			Counted: slices.Contains(eff.StatusGroups, s.Group) && !slices.Contains(eff.ExcludeStatuses, s.Code)}
	}
	for _, code := range eff.ExcludeStatuses {
		if _, known := out.Statuses[code]; !known {
			// An excluded status stays excluded even while the reference does not name it.
			out.Statuses[code] = store.StatusClass{}
		}
	}
	return out
}

// Currency is an order's currency: its own, else its store's, else the account's default.
func Currency(own, site string, ref *store.Reference) string {
	if own != "" {
		return own
	}
	if ref == nil {
		return ""
	}
	if s, ok := ref.Site(site); ok && s.Currency != "" {
		return s.Currency
	}
	return ref.DefaultCurrency
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
