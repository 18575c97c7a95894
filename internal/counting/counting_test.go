package counting_test

import (
	"slices"
	"testing"

	"orderimport/internal/counting"
	"orderimport/internal/store"
)

var ref = &store.Reference{
	Statuses: []store.RefStatus{{Code: "new", Group: "new"}, {Code: "complete", Group: "complete"}, {Code: "3", Group: "complete"},
		{Code: "no-call", Group: "cancel"}},
	Groups: []store.RefGroup{{Code: "new"}, {Code: "approval"}, {Code: "assembling"}, {Code: "delivery"}, {Code: "complete"},
		{Code: "cancel"}},
	Sites:           []store.RefSite{{Code: "shop", Currency: "KZT"}, {Code: "plain"}},
	DefaultCurrency: "RUB",
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		counting *store.Counting
		want     map[string]bool // status → counted ("mystery": a status the reference does not name)
	}{
		{"the default: every group but cancel", nil, map[string]bool{"new": true, "complete": true, "3": true, "no-call": false, "mystery": true}},
		{"completed orders only", &store.Counting{StatusGroups: []string{"complete"}},
			map[string]bool{"new": false, "complete": true, "3": true, "no-call": false, "mystery": false}},
		{"a status left out", &store.Counting{StatusGroups: []string{"new", "complete"}, ExcludeStatuses: []string{"3", "gone"}},
			map[string]bool{"new": true, "complete": true, "3": false, "no-call": false, "mystery": false, "gone": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := counting.Classify(ref, tc.counting)
			for status, want := range tc.want {
				if _, counted := c.Of(status); counted != want {
					t.Errorf("%s counts %v, want %v", status, counted, want)
				}
			}
			if g, _ := c.Of("3"); g != "complete" {
				t.Errorf("the group of 3: %q", g)
			}
		})
	}
}

func TestEffectiveAndGroups(t *testing.T) {
	if got := counting.Effective(nil, ref).StatusGroups; !slices.Equal(got, []string{"new", "approval", "assembling", "delivery", "complete"}) {
		t.Errorf("the default groups: %v", got)
	}
	if got := counting.Effective(nil, nil).StatusGroups; !slices.Equal(got, []string{"new", "approval", "assembling", "delivery", "complete"}) {
		t.Errorf("the default groups without a reference: %v", got)
	}
	own := &store.Counting{StatusGroups: []string{"complete"}}
	if got := counting.Effective(own, ref); !slices.Equal(got.StatusGroups, []string{"complete"}) || got.ExcludeStatuses == nil {
		t.Errorf("a task's own: %+v", got)
	}
}

func TestCurrency(t *testing.T) {
	for _, tc := range []struct{ own, site, want string }{
		{"USD", "shop", "USD"}, {"", "shop", "KZT"}, {"", "plain", "RUB"}, {"", "elsewhere", "RUB"},
	} {
		if got := counting.Currency(tc.own, tc.site, ref); got != tc.want {
			t.Errorf("Currency(%q, %q) = %q, want %q", tc.own, tc.site, got, tc.want)
		}
	}
	if got := counting.Currency("", "shop", nil); got != "" {
		t.Errorf("without a reference: %q", got)
	}
}
