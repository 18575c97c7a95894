package webhook

import (
	"encoding/json"
	"time"

	"orderimport/internal/export"
	"orderimport/internal/store"
)

// MaxChanges is the most changes one delivery carries.
const MaxChanges = 100

// Event is the body of every message: the Standard Webhooks envelope.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is what an orders.changed (or webhook.test) message carries: the counter and its
// changes, as the changes feed has them.
type EventData struct {
	CounterID int64           `json:"counter_id"`
	Changes   []export.Change `json:"changes"`
}

// ChangesBody is the body of a delivery of the counter's feed changes (rows in feed order),
// the orders' codes named by names.
func ChangesBody(counterID int64, at time.Time, rows []store.OrderRow, names export.Namer) ([]byte, error) {
	ev := Event{Type: store.EventOrdersChanged, Timestamp: at.UTC().Truncate(time.Second), Data: EventData{CounterID: counterID,
		Changes: make([]export.Change, 0, len(rows))}}
	for i := range rows {
		ev.Data.Changes = append(ev.Data.Changes, export.ChangeOf(&rows[i], names))
	}
	return marshal(ev)
}

// TestBody is the body of a test message: the envelope with no changes.
func TestBody(counterID int64, at time.Time) ([]byte, error) {
	return marshal(Event{Type: store.EventTest, Timestamp: at.UTC().Truncate(time.Second), Data: EventData{CounterID: counterID,
		Changes: []export.Change{}}})
}

func marshal(ev Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return b, nil
}
