package store

import (
	"encoding/json"
	"slices"
	"testing"
)

// The diff names every field the timeline knows, in TimelineFields' order, and its encoding is
// the JSON object the API reads back.
func TestDiffNamesEveryTimelineField(t *testing.T) {
	a := &OrderRow{Tags: []string{"a"}}
	b := &OrderRow{OrderLocal: "x", OrderNumber: "x", SessionID: "x", UserID: "x", ItemCount: "x", Profit: "x", Revenue: "x", Currency: "x",
		Comment: "x", ContactName: "x", ContactPhone: "x", ContactEmail: "x", Tags: []string{"b"}, Status: "x", StatusGroup: "x", Counted: true,
		Site: "x", Source: Source{"x", "x", "x", "x", "x"}, Deleted: true}
	changes := diffOrders(a, b)
	var fields []string
	for _, c := range changes {
		fields = append(fields, c.field)
	}
	if !slices.Equal(fields, TimelineFields) {
		t.Fatalf("the diff names %v, the timeline %v", fields, TimelineFields)
	}
	text, err := encodeChanges(changes)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]Change
	if err := json.Unmarshal([]byte(text), &back); err != nil || len(back) != len(TimelineFields) || back["counted"].New != true ||
		back["revenue"].Old != "" || back["revenue"].New != "x" {
		t.Fatalf("%s: %v %v", text, back, err)
	}
	if diffOrders(b, b) != nil {
		t.Error("an unchanged order has changes")
	}
}
