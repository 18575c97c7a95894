package store_test

import (
	"context"
	"errors"
	"orderimport/internal/locale"
	"strings"
	"testing"
	"time"

	"orderimport/internal/store"
)

func TestAuditLogIsAppendOnlyAndPerAccount(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, _, _ := seedAccount(t, st, "a@example.com")
		b, _, _ := seedAccount(t, st, "b@example.com")
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		var ids []int64
		for i, action := range []string{"login", "import.create", "import.key_replaced"} {
			e, err := st.AppendAudit(ctx, store.AuditEvent{AccountID: a.AccountID, UserID: a.ID, Actor: a.Email, Action: action,
				Target: "import:1", Detail: locale.M("audit_session_started"), IP: "192.0.2.1", UserAgent: strings.Repeat("u", 2000), CreatedAt: at.Add(time.Duration(i) * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		if _, err := st.AppendAudit(ctx, store.AuditEvent{AccountID: b.AccountID, UserID: b.ID, Actor: b.Email, Action: "login"}); err != nil {
			t.Fatal(err)
		}
		// A failed login for an unknown email belongs to no account.
		if _, err := st.AppendAudit(ctx, store.AuditEvent{Actor: "ghost@example.com", Action: "login.failed", IP: "192.0.2.9"}); err != nil {
			t.Fatal(err)
		}

		got, err := st.AuditEvents(ctx, a.AccountID, 0, 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("account a: %d events, %v", len(got), err)
		}
		if got[0].Action != "import.key_replaced" || got[2].Action != "login" || !got[2].CreatedAt.Equal(at) {
			t.Errorf("newest first with their times: %+v", got)
		}
		if len(got[0].UserAgent) > 512 || got[0].IP != "192.0.2.1" || got[0].AccountID != a.AccountID || got[0].UserID != a.ID {
			t.Errorf("stored event: %+v", got[0])
		}
		page, err := st.AuditEvents(ctx, a.AccountID, ids[2], 1)
		if err != nil || len(page) != 1 || page[0].ID != ids[1] {
			t.Errorf("page before %d: %+v %v", ids[2], page, err)
		}
		if other, _ := st.AuditEvents(ctx, b.AccountID, 0, 10); len(other) != 1 || other[0].Actor != b.Email {
			t.Errorf("account b sees %+v", other)
		}

		for _, q := range []string{`UPDATE audit_log SET detail = 'rewritten'`, `DELETE FROM audit_log`} {
			if _, err := st.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v; want refused as append-only", q, err)
			}
		}
		if st.Engine() == store.Postgres {
			if _, err := st.DB().ExecContext(ctx, `TRUNCATE audit_log`); err == nil {
				t.Error("TRUNCATE of the audit log succeeded")
			}
		}
		if again, _ := st.AuditEvents(ctx, a.AccountID, 0, 10); len(again) != 3 || again[0].Detail.Code != "audit_session_started" {
			t.Errorf("the log changed: %+v", again)
		}
	})
}

func TestSealedKeysAndDelete(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a, _, ta := seedAccount(t, st, "a@example.com")
		_, _, tb := seedAccount(t, st, "b@example.com")
		keys, err := st.SealedKeys(ctx)
		if err != nil || len(keys) != 2 || keys[0].TaskID != ta.ID || keys[0].AccountID != a.AccountID || keys[0].Sealed != "v1.sealed" {
			t.Fatalf("sealed keys: %+v %v", keys, err)
		}
		if ok, err := st.ReplaceSealedKey(ctx, ta.ID, "v1.not-what-is-stored", "v1.new"); ok || err != nil {
			t.Fatalf("replace of a value changed meanwhile: %v %v; want not replaced", ok, err)
		}
		if ok, err := st.ReplaceSealedKey(ctx, ta.ID, "v1.sealed", "v1.new"); !ok || err != nil {
			t.Fatalf("replace: %v %v", ok, err)
		}
		if got, _ := st.Task(ctx, a.AccountID, ta.ID); got.CRMKeySealed != "v1.new" {
			t.Fatalf("stored %q", got.CRMKeySealed)
		}
		if err := st.DeleteTask(ctx, a.AccountID, ta.ID); err != nil {
			t.Fatal(err)
		}
		keys, _ = st.SealedKeys(ctx)
		if len(keys) != 1 || keys[0].TaskID != tb.ID {
			t.Fatalf("a deleted task keeps its sealed key: %+v", keys)
		}
		var sealed string
		if err := st.DB().QueryRowContext(ctx, `SELECT crm_key_sealed FROM import_tasks WHERE id = $1`, ta.ID).Scan(&sealed); err != nil || sealed != "" {
			t.Fatalf("deleted task's row holds %q (%v)", sealed, err)
		}
		if _, err := st.Task(ctx, a.AccountID, ta.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted task: %v", err)
		}
	})
}
