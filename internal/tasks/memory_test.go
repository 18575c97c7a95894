package tasks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/mapping"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// pii and orders_retention_days are checked with a message per field; a change of pii rewrites
// the stored orders as a mapping change does (a re-sync for now), a new retention does not.
func TestPIIAndRetentionRules(t *testing.T) {
	t.Parallel()
	ctx := access.System(context.Background())
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc, j, task := service(t, &now, 1, now.Add(time.Hour))
	bad, zero := "md5", 0
	_, err := svc.Update(ctx, task.AccountID, task.ID, tasks.Input{PII: &bad, OrdersRetentionDays: tasks.OptionalDays{Set: true, Days: &zero}})
	var inv *tasks.InvalidError
	if !errors.As(err, &inv) || len(inv.Fields) != 2 || inv.Fields[0].Field != "pii" || inv.Fields[0].Msg.Code != "pii_invalid" ||
		inv.Fields[1].Field != "orders_retention_days" || inv.Fields[1].Msg.Code != "retention_invalid" {
		t.Fatalf("invalid pii and retention: %v", err)
	}
	var in tasks.Input
	if err := json.Unmarshal([]byte(`{"orders_retention_days": 400}`), &in); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Update(ctx, task.AccountID, task.ID, in)
	if err != nil || got.OrdersRetentionDays == nil || *got.OrdersRetentionDays != 400 || got.PII != store.PIIKeep {
		t.Fatalf("a retention of 400 days: %+v %v", got, err)
	}
	if kinds := j.enqueued(); len(kinds) != 0 {
		t.Fatalf("a new retention started %v", kinds)
	}
	hash := "hash"
	if got, err = svc.Update(ctx, task.AccountID, task.ID, tasks.Input{PII: &hash}); err != nil || got.PII != store.PIIHash || *got.OrdersRetentionDays != 400 {
		t.Fatalf("pii hash: %+v %v", got, err)
	}
	if kinds := j.enqueued(); !slices.Equal(kinds, []string{store.RunRemap}) {
		t.Fatalf("a change of pii started %v, want a re-map", kinds)
	}
	if err := json.Unmarshal([]byte(`{"orders_retention_days": null}`), &in); err != nil {
		t.Fatal(err)
	}
	if got, err = svc.Update(ctx, task.AccountID, task.ID, in); err != nil || got.OrdersRetentionDays != nil {
		t.Fatalf("a cleared retention: %+v %v", got, err)
	}
}

// Every saved mapping is a version naming who saved it; restoring one makes it current (a new
// version) and rewrites the orders; one that no longer compiles is refused field by field; a
// viewer reads the versions but restores nothing.
func TestMappingVersionsAndRestore(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc, j, task := service(t, &now, 1, now.Add(time.Hour))
	owner, err := svc.Store.UserByEmail(context.Background(), "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx := access.With(context.Background(), owner.ID, task.AccountID, access.Owner)
	expr := "order.totalSumm * 2"
	if _, err := svc.Update(ctx, task.AccountID, task.ID, tasks.Input{Mapping: map[string]*string{"revenue": &expr}}); err != nil {
		t.Fatal(err)
	}
	vs, err := svc.MappingVersions(ctx, task.AccountID, task.ID)
	if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[0].CreatedBy != "owner@example.com" || vs[0].Mapping["revenue"] != expr {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	restored, err := svc.RestoreMapping(ctx, task.AccountID, task.ID, 1)
	if err != nil || len(restored.Mapping) != 0 {
		t.Fatalf("restore version 1: %+v %v", restored, err)
	}
	if vs, _ = svc.MappingVersions(ctx, task.AccountID, task.ID); len(vs) != 3 || len(vs[0].Mapping) != 0 {
		t.Fatalf("after the restore: %+v", vs)
	}
	if kinds := j.enqueued(); !slices.Equal(kinds, []string{store.RunRemap, store.RunRemap}) {
		t.Fatalf("enqueued %v: the change and the restore each rewrite the orders", kinds)
	}
	// A version that today's rules refuse (a field that does not exist any more).
	err = svc.Store.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mapping_versions (account_id, task_id, version, mapping, created_at, created_by_id, created_by)
			VALUES ($1, $2, 4, $3, $4, 0, '')`, task.AccountID, task.ID, `{"revenue_net":"order.totalSumm"}`, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var inv *tasks.InvalidError
	if _, err := svc.RestoreMapping(ctx, task.AccountID, task.ID, 4); !errors.As(err, &inv) || inv.First().Field != "mapping.revenue_net" {
		t.Fatalf("restoring a version that no longer compiles: %v", err)
	}
	if _, err := svc.RestoreMapping(ctx, task.AccountID, task.ID, 99); !tasks.IsNotFound(err) {
		t.Fatalf("restoring a version that does not exist: %v", err)
	}
	viewer := access.With(context.Background(), owner.ID, task.AccountID, access.Viewer)
	if _, err := svc.MappingVersions(viewer, task.AccountID, task.ID); err != nil {
		t.Fatalf("a viewer reading versions: %v", err)
	}
	if _, err := svc.RestoreMapping(viewer, task.AccountID, task.ID, 2); !errors.Is(err, access.ErrForbidden) {
		t.Fatalf("a viewer restoring: %v", err)
	}
}

// The orders search finds an order of a pii=hash task by the phone or email as typed.
func TestSearchFindsHashedContacts(t *testing.T) {
	t.Parallel()
	f, bad := tasks.OrderQuery(map[string][]string{"q": {" Anna.Petrova@Example.RU "}})
	if len(bad) > 0 || !slices.Contains(f.SearchHashes, mapping.HashContact("anna.petrova@example.ru")) {
		t.Fatalf("an email: %+v %v", f, bad)
	}
	f, _ = tasks.OrderQuery(map[string][]string{"q": {"+7 (912) 345-67-89"}})
	if !slices.Contains(f.SearchHashes, mapping.HashContact("79123456789")) {
		t.Fatalf("a phone: %+v", f)
	}
}
