package importer_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/mapping"
	"orderimport/internal/retailcrm"
	"orderimport/internal/store"
)

// expectedRows maps the emulator's current orders for key exactly as an import with this
// mapping must store them, keyed by RetailCRM id. Orders created before backfillFrom (a day in
// the account's zone) are not the task's; rejected orders are not stored.
func expectedRows(t testing.TB, emu *crmemu.Emulator, key string, spec map[string]string, counterTZ, backfillFrom string) map[int64]store.OrderRow {
	t.Helper()
	m, err := mapping.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctz, err := time.LoadLocation(counterTZ)
	if err != nil {
		t.Fatal(err)
	}
	mp := importer.NewMapper(m, emu.Location(), ctz)
	out := map[int64]store.OrderRow{}
	byOrderID := map[string]int64{}
	for _, raw := range emu.Orders(key) {
		var o struct {
			ID        int64  `json:"id"`
			Site      string `json:"site"`
			Status    string `json:"status"`
			CreatedAt string `json:"createdAt"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if backfillFrom != "" && o.CreatedAt < backfillFrom {
			continue
		}
		row, rejected, _ := mp.MapOne(&retailcrm.Order{ID: o.ID, Site: o.Site, Status: o.Status, CreatedAt: o.CreatedAt, Raw: raw})
		if rejected {
			continue
		}
		if other, dup := byOrderID[row.OrderID]; dup {
			t.Fatalf("test data: RetailCRM orders %d and %d both map to order id %q", other, o.ID, row.OrderID)
		}
		byOrderID[row.OrderID] = o.ID
		out[o.ID] = row
	}
	return out
}

// rowDiff names the tracker fields in which got differs from want ("" when equal).
func rowDiff(got, want store.OrderRow) string {
	var d []string
	for _, f := range []struct {
		name      string
		got, want string
	}{
		{"order_id", got.OrderID, want.OrderID}, {"order_date(UTC)", got.OrderDate, want.OrderDate},
		{"order_date", got.OrderLocal, want.OrderLocal}, {"session_id", got.SessionID, want.SessionID},
		{"user_id", got.UserID, want.UserID}, {"item_count", got.ItemCount, want.ItemCount},
		{"profit", got.Profit, want.Profit}, {"revenue", got.Revenue, want.Revenue},
		{"comment", got.Comment, want.Comment}, {"contact_name", got.ContactName, want.ContactName},
		{"contact_phone", got.ContactPhone, want.ContactPhone}, {"contact_email", got.ContactEmail, want.ContactEmail},
		{"status", got.Status, want.Status}, {"site", got.Site, want.Site},
	} {
		if f.got != f.want {
			d = append(d, fmt.Sprintf("%s = %q, want %q", f.name, f.got, f.want))
		}
	}
	if !slices.Equal(got.Tags, want.Tags) {
		d = append(d, fmt.Sprintf("tags = %q, want %q", got.Tags, want.Tags))
	}
	return strings.Join(d, "; ")
}
