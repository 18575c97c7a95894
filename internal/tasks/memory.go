package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
)

// MaxRetentionDays bounds orders_retention_days (a hundred years: a typo, not a policy).
const MaxRetentionDays = 36500

// OptionalDays is a nullable number of days in a partial change: absent leaves the value as it
// is, null clears it, a number sets it.
type OptionalDays struct {
	Set  bool
	Days *int
}

// UnmarshalJSON reads null or a whole number; anything else is a decoding error.
func (o *OptionalDays) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Days = nil
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	o.Days = &n
	return nil
}

// Days returns an OptionalDays that sets n days.
func Days(n int) OptionalDays { return OptionalDays{Set: true, Days: &n} }

// applyMemory checks and applies what the task keeps: pii and orders_retention_days.
func applyMemory(t *store.Task, in Input, creating bool, ch *changes, bad *problems) {
	if in.PII != nil {
		mode := *in.PII
		if !slices.Contains(mapping.PIIModes, mode) {
			bad.add("pii", locale.M("pii_invalid"))
		} else {
			ch.pii = !creating && mode != piiOf(t)
			t.PII = mode
		}
	} else if creating {
		t.PII = mapping.PIIKeep
	}
	if in.OrdersRetentionDays.Set {
		d := in.OrdersRetentionDays.Days
		if d != nil && (*d < 1 || *d > MaxRetentionDays) {
			bad.add("orders_retention_days", locale.M("retention_invalid", "max", MaxRetentionDays))
		} else {
			t.OrdersRetentionDays = d
		}
	}
}

// piiOf is a task's pii mode ("" read as keep).
func piiOf(t *store.Task) string {
	if t.PII == "" {
		return mapping.PIIKeep
	}
	return t.PII
}

func sameDays(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// author is the user acting in ctx (0 for the System): who a saved mapping version names.
func author(ctx context.Context) int64 {
	p, _ := access.From(ctx)
	return p.UserID
}

// remap rewrites the task's stored orders under its saved mapping and pii: a run of kind remap,
// which applies them to the orders' kept copies without reading RetailCRM (and reads again only
// what the copies cannot give: the importer decides, remap.go).
func (s *Service) remap(ctx context.Context, t store.Task) error {
	_, err := s.Jobs.Enqueue(ctx, t, store.RunRemap)
	return err
}

// MappingVersions lists the task's saved mappings, the newest (the current one) first.
func (s *Service) MappingVersions(ctx context.Context, accountID, taskID int64) ([]store.MappingVersion, error) {
	if err := access.Require(ctx, accountID, access.Read); err != nil {
		return nil, err
	}
	if _, err := s.Store.Task(ctx, accountID, taskID); err != nil {
		return nil, err
	}
	return s.Store.MappingVersions(ctx, accountID, taskID)
}

// RestoreMapping makes a saved mapping version the task's mapping again — a new version, named
// after who restored it — and rewrites the stored orders with it as a mapping change does. A
// version that no longer compiles under today's rules is refused with its fields' problems
// ("mapping.<field>"); restoring the current mapping changes nothing.
func (s *Service) RestoreMapping(ctx context.Context, accountID, taskID int64, version int) (store.Task, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Task{}, err
	}
	t, err := s.Store.Task(ctx, accountID, taskID)
	if err != nil {
		return store.Task{}, err
	}
	v, err := s.Store.MappingVersionOf(ctx, accountID, taskID, version)
	if err != nil {
		return store.Task{}, err
	}
	if fields := mappingProblems(v.Mapping); len(fields) > 0 {
		return store.Task{}, &InvalidError{Fields: fields}
	}
	if sameMapping(v.Mapping, t.Mapping) {
		return t, nil
	}
	t.Mapping, t.SavedBy = v.Mapping, author(ctx)
	if t, err = s.Store.UpdateTask(ctx, t); err != nil {
		return store.Task{}, err
	}
	s.Audit.Record(ctx, accountID, audit.ImportUpdate, taskTarget(t.ID), locale.M("audit_mapping_restored", "version", version))
	if err := s.remap(ctx, t); err != nil {
		return t, err
	}
	return t, nil
}

// OrderTimeline is one of a counter's orders with its timeline, oldest event first.
func (s *Service) OrderTimeline(ctx context.Context, accountID, counterID int64, orderID string) (store.OrderRow, []store.OrderEvent, error) {
	if err := access.Require(ctx, accountID, access.Read); err != nil {
		return store.OrderRow{}, nil, err
	}
	o, err := s.Store.Order(ctx, accountID, counterID, orderID)
	if err != nil {
		return store.OrderRow{}, nil, err
	}
	events, err := s.Store.Timeline(ctx, accountID, counterID, orderID)
	if err != nil {
		return store.OrderRow{}, nil, err
	}
	return o, events, nil
}
