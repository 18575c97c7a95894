package importer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"orderimport/internal/importer"
	"orderimport/internal/store"
)

// streamedRowHash is how RowHash was computed when the stored hashes were written: each field
// and its separator written to the hash in turn. A row hashed differently now would look
// changed to every import after an upgrade, and be written again with a timeline event.
func streamedRowHash(o *store.OrderRow) string {
	h := sha256.New()
	for _, f := range []string{o.OrderID, o.OrderDate, o.OrderLocal, o.SessionID, o.UserID, o.ItemCount, o.Profit, o.Revenue,
		o.Comment, o.ContactName, o.ContactPhone, o.ContactEmail, strings.Join(o.Tags, "\x1e"), o.Status, o.Site,
		o.OrderNumber, o.Currency, o.Source.Source, o.Source.Medium, o.Source.Campaign, o.Source.Keyword, o.Source.Content} {
		h.Write([]byte(f))
		h.Write([]byte{0x1f})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func TestRowHashIsTheStoredOne(t *testing.T) {
	o := store.OrderRow{OrderID: "1042A", OrderDate: "2026-11-30 18:04:05", OrderLocal: "2026-11-30 21:04:05", Revenue: "1520.50",
		ContactPhone: "79161234567", Tags: []string{"vip", "опт"}, Status: "complete", Site: "shop", Currency: "RUB"}
	if got := importer.RowHash(&o); got != streamedRowHash(&o) || got != "53b569ccf24b3e595ba9c5677ef0525c" {
		t.Fatalf("RowHash = %s, the stored rows' digest %s", got, streamedRowHash(&o))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	text := func() string {
		b := make([]byte, rnd.IntN(700)) // past the buffer RowHash starts with, now and then
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return string(b)
	}
	for range 500 {
		o := store.OrderRow{OrderID: text(), OrderDate: text(), Comment: text(), ContactName: text(), Profit: text(),
			Tags: []string{text(), text()}, Source: store.Source{Source: text(), Content: text()}}
		if got, want := importer.RowHash(&o), streamedRowHash(&o); got != want {
			t.Fatalf("RowHash = %s, the stored rows' digest %s", got, want)
		}
	}
}
