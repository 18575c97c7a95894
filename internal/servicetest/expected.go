package servicetest

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"orderimport/internal/counting"
	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/mapping"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// ExpectedRows maps the emulator's current orders for key exactly as an import of the task must
// store them, keyed by RetailCRM id: only orders created within the task's date range (days in
// the account's zone) and of its stores; rejected orders are not stored. Each has the status
// group RetailCRM's reference gives its status now and counts as the task's counting says.
func ExpectedRows(emu *crmemu.Emulator, key string, task store.Task, counterTZ string) (map[int64]store.OrderRow, error) {
	m, err := mapping.Compile(task.Mapping)
	if err != nil {
		return nil, err
	}
	ctz, err := time.LoadLocation(counterTZ)
	if err != nil {
		return nil, err
	}
	ref := Reference(emu)
	classes := counting.Classify(&ref, task.Counting)
	mp := importer.NewMapper(m, emu.Location(), ctz).WithReference(&ref).WithPII(task.PII)
	out := map[int64]store.OrderRow{}
	byOrderID := map[string]int64{}
	for _, raw := range emu.Orders(key) {
		o, err := retailcrm.DecodeOrder(raw)
		if err != nil {
			return nil, err
		}
		if (task.BackfillFrom != "" && o.CreatedAt < task.BackfillFrom) || (task.BackfillTo != "" && o.CreatedAt[:10] > task.BackfillTo) {
			continue
		}
		if len(task.Sites) > 0 && !slices.Contains(task.Sites, o.Site) {
			continue
		}
		row, rejected, _ := mp.MapOne(o)
		if rejected {
			continue
		}
		row.StatusGroup, row.Counted = classes.Of(o.Status)
		if other, dup := byOrderID[row.OrderID]; dup {
			return nil, fmt.Errorf("servicetest: RetailCRM orders %d and %d both map to order id %q", other, o.ID, row.OrderID)
		}
		byOrderID[row.OrderID] = o.ID
		out[o.ID] = row
	}
	return out, nil
}

// Reference is the emulator's reference now, as a run reads it (status names are their codes).
func Reference(emu *crmemu.Emulator) store.Reference {
	ref := store.Reference{DefaultCurrency: emu.Currency("")}
	groups := emu.StatusGroups()
	for _, code := range slices.Sorted(maps.Keys(groups)) {
		ref.Statuses = append(ref.Statuses, store.RefStatus{Code: code, Name: code, Group: groups[code]})
	}
	for _, g := range counting.StandardGroups {
		ref.Groups = append(ref.Groups, store.RefGroup{Code: g, Name: g})
	}
	for _, site := range []string{crmemu.SiteMain, crmemu.SiteOpt} {
		ref.Sites = append(ref.Sites, store.RefSite{Code: site, Name: site, Currency: emu.Currency(site)})
	}
	return ref
}
