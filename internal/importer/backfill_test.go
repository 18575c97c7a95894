package importer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/store"
)

// dayAccount is 250 orders created on one day in Moscow, read at 21:00 that day: the whole
// backfill is one window of three pages of 100.
func dayAccount(seed int64) crmemu.Options {
	msk, _ := time.LoadLocation("Europe/Moscow")
	now := time.Date(2026, 5, 10, 21, 0, 0, 0, msk)
	return crmemu.Options{Seed: seed, Orders: 250, OrderSize: "small", Timezone: "Europe/Moscow",
		Start: time.Date(2026, 5, 10, 1, 0, 0, 0, msk), End: time.Date(2026, 5, 10, 20, 0, 0, 0, msk),
		Now: func() time.Time { return now }}
}

// createdAt reads an order's createdAt from the emulator's truth.
func createdAt(t *testing.T, emu *crmemu.Emulator, id int64) time.Time {
	t.Helper()
	for _, raw := range emu.Orders("") {
		var o struct {
			ID        int64  `json:"id"`
			CreatedAt string `json:"createdAt"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		if o.ID == id {
			at, err := time.ParseInLocation(time.DateTime, o.CreatedAt, emu.Location())
			if err != nil {
				t.Fatal(err)
			}
			return at
		}
	}
	t.Fatalf("order %d not found", id)
	return time.Time{}
}

// onSecondPage calls fn once, just before the second page of a window walk is answered.
func onSecondPage(emu *crmemu.Emulator, fn func()) {
	var once sync.Once
	emu.OnRequest(func(r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path == "/api/v5/orders" && q.Get("page") == "2" && q.Get("limit") == "100" && q.Get("filter[ids][]") == "" {
			once.Do(fn)
		}
	})
}

// walkModes are the two ways a window is read: a page at a time (one request in flight), and
// with pages in flight (RetailCRM answering in 20 ms, so that the depth the pace calls for is
// several pages).
var walkModes = []struct {
	name     string
	inFlight int
	answer   time.Duration
}{
	{"page by page", 1, 0},
	{"pages in flight", 0, 20 * time.Millisecond},
}

// An order on a page already read is deleted while an order dated further down the list is
// added: the total stays the same, every later order moves one place up, and the order at the
// start of the next page is skipped. A count check cannot see it (the walk saw as many orders
// as the total says); the feed entries of the walk do.
func TestBackfillWindowShiftedByDeleteAndInsert(t *testing.T) {
	t.Parallel()
	for _, m := range walkModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			opts := dayAccount(11)
			opts.Latency = m.answer
			backfillWindowShiftedByDeleteAndInsert(t, opts, importer.Config{PageSize: 100, MaxInFlight: m.inFlight})
		})
	}
}

func backfillWindowShiftedByDeleteAndInsert(t *testing.T, opts crmemu.Options, cfg importer.Config) {
	h := newHarness(t, opts, cfg, store.Task{})
	ids := h.emu.OrderIDs("")
	victim := ids[5]     // on page 1
	boundary := ids[100] // first order of page 2: skipped once everything moves up
	below := createdAt(t, h.emu, ids[180])
	onSecondPage(h.emu, func() {
		if err := h.emu.DeleteOrder(victim); err != nil {
			t.Error(err)
		}
		h.emu.CreateOrder(crmemu.OrderInput{CreatedAt: below.Add(time.Second)})
	})
	h.mustRun()
	h.verify("after the first run")
	found := false
	err := h.st.TaskOrders(t.Context(), h.task.ID, false, func(o *store.OrderRow) error {
		found = found || o.CRMID == boundary
		return nil
	})
	if err != nil || !found {
		t.Fatalf("the unchanged order %d at the page boundary was skipped (%v)", boundary, err)
	}
}

// Orders added at the top of the list while it is paged push everything down. Read a page at a
// time, the walk sees some orders twice, skips none, and the feed replays the new ones: no
// re-read is needed. With pages in flight, RetailCRM may answer a later page before an earlier
// one, and an insertion between the two pushes an order onto the page already read: the
// change of the total gives it away, and the window is read again, a page at a time, once.
func TestBackfillWindowInsertsAtTheTop(t *testing.T) {
	t.Parallel()
	for i, m := range walkModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			opts := dayAccount(12)
			opts.Latency = m.answer
			h := newHarness(t, opts, importer.Config{PageSize: 100, MaxInFlight: m.inFlight}, store.Task{})
			onSecondPage(h.emu, func() {
				for range 5 {
					h.emu.CreateOrder(crmemu.OrderInput{})
				}
			})
			var mu sync.Mutex
			walks := 0
			h.emu.OnRequest(func(r *http.Request) {
				q := r.URL.Query()
				if r.URL.Path == "/api/v5/orders" && q.Get("page") == "1" && q.Get("limit") == "100" && q.Get("filter[ids][]") == "" {
					mu.Lock()
					walks++
					mu.Unlock()
				}
			})
			h.mustRun()
			h.verify("after the first run")
			if want := i + 1; walks != want {
				t.Errorf("the window was walked %d times, want %d", walks, want)
			}
		})
	}
}

// A split (RetailCRM moves some lines of an order into a new one): the new order's creation
// entry names the order it came from as "ancestor". The importer re-fetches the ancestor too,
// so its smaller totals arrive even if the feed said nothing else about it.
func TestSplitRefetchesTheAncestor(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ancestor, split int64
	// RetailCRM as the split leaves it: the new order's creation entry carries "ancestor",
	// and the entries that changed the ancestor's lines are not in the feed.
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			a, s := ancestor, split
			mu.Unlock()
			if r.URL.Path != "/api/v5/orders/history" || a == 0 {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var page map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Error(err)
				return
			}
			var kept []any
			for _, e := range page["history"].([]any) {
				entry := e.(map[string]any)
				id := int64(entry["order"].(map[string]any)["id"].(float64))
				if id == a {
					continue
				}
				if id == s && entry["created"] == true {
					entry["ancestor"] = map[string]any{"id": a}
				}
				kept = append(kept, entry)
			}
			page["history"] = kept
			b, _ := json.Marshal(page)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
		})
	}
	h := newHarnessWrapped(t, spreadAccount(25, 60), importer.Config{}, store.Task{}, wrap)
	h.mustRun()
	a := h.emu.OrderIDs("")[7]
	if err := h.emu.UpdateOrder(a, crmemu.Change{Field: "order_product.quantity", Value: 7.0}); err != nil {
		t.Fatal(err)
	}
	s := h.emu.CreateOrder(crmemu.OrderInput{Items: []crmemu.ItemInput{{Price: 1000, Quantity: 1}}})
	mu.Lock()
	ancestor, split = a, s
	mu.Unlock()
	h.mustRun()
	h.verify("after the split")
}
