package importer_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/store"
)

// The timeline is what changed in RetailCRM: after a run that takes in random mutations of the
// shop (updates of every kind, creations, deletions, merges), every order the mutations changed
// in what the tracker exports has one event of that run whose fields, old and new values are
// exactly the difference between the order as stored before and after; no other order has an
// event; a created order has none (its first import is not a change); a deleted one says so.
func TestTimelineEqualsTheCRMChanges(t *testing.T) {
	t.Parallel()
	engines(t, timelineEqualsTheCRMChanges)
}

func timelineEqualsTheCRMChanges(t *testing.T, engine store.Engine) {
	h := newHarnessOn(t, engine, crmemu.Options{Seed: 24, Orders: 500}, importer.Config{}, store.Task{})
	h.mustRun()
	h.verify("the first run")
	before := storedRows(t, h.st, h.task.ID)

	rng := rand.New(rand.NewPCG(24, 0))
	mutated := map[int64]bool{}
	for range 60 {
		m := h.emu.RandomMutation(rng)
		mutated[m.OrderID] = true
		if m.IntoID != 0 {
			mutated[m.IntoID] = true
		}
	}
	r := h.mustRun()
	h.verify("after the mutations")
	after := storedRows(t, h.st, h.task.ID)

	ctx := context.Background()
	events, changed := 0, 0
	for id, old := range before {
		want := map[string]store.Change{}
		if now, ok := after[id]; ok {
			oldV, newV := store.ExportedValues(&old), store.ExportedValues(&now)
			for i := range oldV {
				if asJSON(t, oldV[i].Value) != asJSON(t, newV[i].Value) {
					want[oldV[i].Field] = store.Change{Old: oldV[i].Value, New: newV[i].Value}
				}
			}
		} else {
			want["deleted"] = store.Change{Old: false, New: true}
		}
		got, err := h.st.Timeline(ctx, h.task.AccountID, h.task.CounterID, old.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		events += len(got)
		if len(want) == 0 {
			if len(got) != 0 {
				t.Errorf("order %d did not change but has events %+v", id, got)
			}
			continue
		}
		changed++
		if !mutated[id] {
			t.Errorf("order %d changed although no mutation touched it: %v", id, want)
		}
		if len(got) != 1 {
			t.Errorf("order %d changed once and has %d events: %+v", id, len(got), got)
			continue
		}
		if got[0].RunID != r.ID {
			t.Errorf("order %d: the event names run %d, not the run that took the change in (%d)", id, got[0].RunID, r.ID)
		}
		if g, w := asJSON(t, got[0].Changes), asJSON(t, want); g != w {
			t.Errorf("order %d: the event says %s, the stored order changed %s", id, g, w)
		}
	}
	for id, now := range after {
		if _, old := before[id]; old {
			continue
		}
		got, err := h.st.Timeline(ctx, h.task.AccountID, h.task.CounterID, now.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("order %d was created and has events %+v", id, got)
		}
	}
	if changed < 20 {
		t.Fatalf("only %d orders changed: the scene proves little", changed)
	}
	t.Logf("%s: 60 mutations touched %d orders; %d changed what is exported, with %d events", engine, len(mutated), changed, events)
}

// asJSON is v as JSON with sorted keys, the form the timeline keeps values in.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var norm any
	if err := json.Unmarshal(b, &norm); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(norm)
	return string(b)
}
