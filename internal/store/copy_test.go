package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/locale"
	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// An embedded installation with something in every table is copied to PostgreSQL: ids are
// kept, every table verifies by count and checksum, new ids continue after the copied ones,
// a second copy into the now non-empty target is refused, and the runs the stopped
// installation left in flight are settled.
func TestCopyInstallation(t *testing.T) {
	pgtest.ServerURL(t) // skips before the SQLite source is built when there is no server
	t.Parallel()
	ctx := context.Background()
	src := OpenSQLite(t)
	u, counter, task := seedAccount(t, src, "shop@example.com")
	_, _, other := seedAccount(t, src, "agency@example.com")
	if err := src.DeleteTask(ctx, other.AccountID, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.CreateToken(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.CreateSession(ctx, u, time.Now(), time.Hour, "Mozilla/5.0 (X11; Linux)", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Invite(ctx, u.AccountID, "invited@example.com", access.Viewer, "oiv_copy", u.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := src.ReplaceRecoveryCodes(ctx, u.ID, []string{"aaaa-bbbb-cccc-dddd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AppendAudit(ctx, store.AuditEvent{AccountID: u.AccountID, UserID: u.ID, Actor: u.Email, Action: "login", IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AppendAudit(ctx, store.AuditEvent{Actor: "nobody@example.com", Action: "login_failed"}); err != nil {
		t.Fatal(err)
	}
	done, err := src.CreateRun(ctx, u.AccountID, task.ID, store.RunScheduled)
	if err != nil {
		t.Fatal(err)
	}
	ref := store.Reference{Statuses: []store.RefStatus{{Code: "new", Name: "Новый", Group: "new", Active: true}},
		Groups: []store.RefGroup{{Code: "new", Name: "Новый"}}, Sites: []store.RefSite{{Code: "shop", Name: "Магазин", Currency: "RUB"}},
		DefaultCurrency: "RUB"}
	if _, err := src.Recount(ctx, u.AccountID, task.ID, &ref, store.Classes{Statuses: map[string]store.StatusClass{"new": {Group: "new", Counted: true}}}); err != nil {
		t.Fatal(err)
	}
	rows := make([]store.OrderRow, 0, 2500)
	for i := range 2500 {
		rows = append(rows, store.OrderRow{CRMID: int64(i + 1), OrderID: fmt.Sprint(i + 1), OrderDate: "2026-01-02 03:04:05",
			OrderLocal: "2026-01-02 06:04:05", ItemCount: "1.5", Profit: "394.66", Revenue: "1395.16",
			Comment: "Позвонить после 18:00, \"домофон\" 12", ContactName: "Иванов Иван", ContactPhone: "79123456789",
			ContactEmail: "ivan@example.com", Tags: []string{"VIP", "опт"}, Status: "new", Site: "shop", Hash: fmt.Sprintf("h%d", i),
			OrderNumber: fmt.Sprintf("%dC", i+1), Currency: "RUB", Source: store.Source{Source: "yandex", Campaign: "весна"}})
		if i%3 == 0 { // kept raw orders: binary, NUL and high bytes included
			rows[i].Raw = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(i), 0xff}
		}
	}
	state := store.SyncState{TaskID: task.ID, Phase: "history", HistorySinceID: 4242, BackfillFrom: "2025-01-01", BackfillTo: "2026-01-02", BackfillNext: "2026-01-03"}
	if _, err := src.ApplyBatch(ctx, store.Batch{AccountID: u.AccountID, CounterID: counter.ID, TaskID: task.ID, Upserts: rows,
		Deletes: []int64{7}, State: &state, RunID: done.ID, Progress: &store.RunProgress{Phase: "history"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.FinishRun(ctx, done.ID, store.RunSucceeded, locale.Message{}); err != nil {
		t.Fatal(err)
	}
	dictID, err := src.ReserveRawDict(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.SetRawDict(ctx, dictID, []byte{0x37, 0xa4, 0x30, 0xec, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	hook, err := src.CreateWebhook(ctx, u.AccountID, counter.ID, "https://hooks.example.com/orders", "v1.sealed-secret")
	if err != nil {
		t.Fatal(err)
	}
	hook.Cursor = store.FeedCursor{}
	d, err := src.NextDelivery(ctx, hook, 100, "msg_copy", func(rows []store.OrderRow) ([]byte, error) { return []byte(`{"changes":[]}`), nil })
	if err != nil || d == nil {
		t.Fatal(d, err)
	}
	if _, err := src.RecordAttempt(ctx, *d, store.AttemptResult{HTTPStatus: 503, Error: locale.M("webhook_status", "status", 503), At: time.Now()},
		time.Now().Add(time.Minute), locale.Message{}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateAlertChannel(ctx, store.AlertChannel{AccountID: u.AccountID, Type: store.ChannelEmail, Address: "ops@example.com",
		Language: "ru", BaseURL: "https://orders.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := src.InTx(ctx, func(tx *sql.Tx) error {
		_, err := src.StartIncidentTx(ctx, tx, store.Incident{AccountID: u.AccountID, Subject: fmt.Sprintf("task:%d", task.ID), Kind: "task_failing",
			TaskID: task.ID, Detail: locale.M("crm_unreachable")})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	running, err := src.CreateRun(ctx, u.AccountID, task.ID, store.RunManual)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.StartRun(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := src.AcquireLease(ctx, task.ID, "stopped-process/1", time.Now().Add(time.Hour)); err != nil || !ok {
		t.Fatal(ok, err)
	}

	dst := OpenPostgres(t)
	var seen []string
	copied, err := store.CopyInstallation(ctx, src, dst, func(c store.TableCopy) { seen = append(seen, c.Table) })
	if err != nil {
		t.Fatal(err)
	}
	if len(copied) != len(store.CopyTables) || len(seen) != len(copied) {
		t.Fatalf("copied %d tables (%d reported), want %d", len(copied), len(seen), len(store.CopyTables))
	}
	for _, c := range copied {
		if !c.Verified() || c.Rows == 0 {
			t.Errorf("%s: %d rows → %d, checksums %s / %s", c.Table, c.Rows, c.TargetRows, c.Source, c.Target)
		}
	}

	// The ids are the source's, the data reads back the same.
	got, err := dst.Task(ctx, u.AccountID, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := src.Task(ctx, u.AccountID, task.ID)
	if got.CRMKeySealed != want.CRMKeySealed || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("copied task %+v, source %+v", got, want)
	}
	if st, _ := dst.SyncState(ctx, task.ID); st.HistorySinceID != 4242 || st.BackfillNext != "2026-01-03" {
		t.Errorf("copied checkpoint %+v", st)
	}
	n := 0
	if err := dst.TaskOrders(ctx, task.ID, true, func(o *store.OrderRow) error {
		n++
		if o.CRMID == 7 && !o.Deleted {
			t.Error("a deleted order came back alive")
		}
		if o.CRMID == 1 && !slices.Equal(o.Tags, []string{"VIP", "опт"}) {
			t.Errorf("tags %q", o.Tags)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(rows) {
		t.Errorf("%d orders in the target, %d in the source", n, len(rows))
	}

	// New rows continue after the copied ids.
	c2, err := dst.CreateCounter(ctx, u.AccountID, "New", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	if c2.ID <= other.CounterID {
		t.Errorf("a new counter got id %d, which the copied ids (up to %d) already use", c2.ID, other.CounterID)
	}

	// Runs the stopped installation left in flight have no job in the target: settled.
	settled, err := dst.SettleCopiedRuns(ctx)
	if err != nil || settled != 1 {
		t.Fatalf("settled %d runs (%v), want the running one", settled, err)
	}
	if r, _ := dst.RunForWorker(ctx, running.ID); r.Status != store.RunInterrupted {
		t.Errorf("the run left running is %s after the move", r.Status)
	}
	if ok, _ := dst.AcquireLease(ctx, task.ID, "new-process/1", time.Now().Add(time.Minute)); !ok {
		t.Error("the stopped process's task lease survived the move")
	}

	if _, err := store.CopyInstallation(ctx, src, dst, nil); !errors.Is(err, store.ErrTargetNotEmpty) {
		t.Fatalf("a second copy into a non-empty target: %v", err)
	}
}

// Every table of the schema is either copied or left behind on purpose: a table added by a
// later migration must be added to one of the two lists.
func TestCopyCoversEveryTable(t *testing.T) {
	t.Parallel()
	st := OpenPostgres(t)
	rows, err := st.DB().QueryContext(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'river\_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	known := slices.Clone(store.NotCopied)
	for _, c := range store.CopyTables {
		known = append(known, c.Name)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(known, name) {
			t.Errorf("table %s is neither in store.CopyTables nor in store.NotCopied: `orderimport migrate -from` would leave it behind", name)
		}
	}
}
