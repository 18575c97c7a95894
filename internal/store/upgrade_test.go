package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/locale"
	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// Upgrades from every schema version, on both engines. For each version N the test builds a
// database the way installations got there: it applies migration 1, writes the rows version 1
// knew, applies migration 2, writes the rows version 2 added, … up to N. Then it migrates to
// the newest schema and checks that every row of every table is still there with the same
// value in every column it had, and that today's store reads them (each step's check).
//
// A new migration adds one step to upgradeSteps: the rows that use what it adds, written with
// SQL valid at its version, and a check that reads them back through the store. A migration
// that rewrites stored values on purpose (as 7 does) names the columns it rewrites; upgrades
// that cross it compare those columns through the steps' checks instead of value for value.
// The test fails for a migration without a step. The databases are built by the test, never
// committed.

// upgradeFixture carries the ids of the rows earlier steps wrote to the later ones.
type upgradeFixture struct {
	acc1, acc2           int64
	user1, user2         int64
	counter1, counter2   int64
	taskLive, taskGone   int64
	runDone, runBusy     int64
	runFailed            int64
	orderLive, orderGone int64
}

type upgradeStep struct {
	version int
	// insert writes the rows this version's schema added, with SQL valid at this version
	// (nil for a migration that adds no place for data, such as an index).
	insert func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error
	// rewrites names the columns ("table.column") whose stored values this version's migration
	// changes on purpose.
	rewrites []string
	// check reads those rows back through the newest store after the upgrade.
	check func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture)
}

var (
	upgradeT0     = time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)
	upgradeFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	upgradeToken   = "oit_upgrade-test-token"
	upgradeSession = "ois_upgrade-test-session"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// insertID runs an INSERT … RETURNING id.
func insertID(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	var id int64
	if err := tx.QueryRowContext(ctx, q+` RETURNING id`, args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Fields(q)[2], err)
	}
	return id, nil
}

var upgradeSteps = []upgradeStep{
	{
		version: 1,
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			var err error
			if f.acc1, err = insertID(ctx, tx, `INSERT INTO accounts (name, created_at) VALUES ($1, $2)`, "Acme", upgradeT0); err != nil {
				return err
			}
			if f.acc2, err = insertID(ctx, tx, `INSERT INTO accounts (name, created_at) VALUES ($1, $2)`, "Ромашка", upgradeT0); err != nil {
				return err
			}
			const user = `INSERT INTO users (account_id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)`
			if f.user1, err = insertID(ctx, tx, user, f.acc1, "owner@acme.example", "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", upgradeT0); err != nil {
				return err
			}
			if f.user2, err = insertID(ctx, tx, user, f.acc2, "директор@ромашка.рф", "$argon2id$v=19$m=65536,t=1,p=4$c2FsdDI$aGFzaDI", upgradeT0); err != nil {
				return err
			}
			const token = `INSERT INTO api_tokens (account_id, user_id, token_hash, hint, created_at, last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`
			if _, err = insertID(ctx, tx, token, f.acc1, f.user1, sha256Hex(upgradeToken), "oken", upgradeT0, upgradeT0.Add(time.Hour), nil); err != nil {
				return err
			}
			if _, err = insertID(ctx, tx, token, f.acc1, f.user1, sha256Hex("oit_revoked"), "oked", upgradeT0, nil, upgradeT0.Add(2*time.Hour)); err != nil {
				return err
			}
			const counter = `INSERT INTO counters (account_id, name, timezone, created_at) VALUES ($1, $2, $3, $4)`
			if f.counter1, err = insertID(ctx, tx, counter, f.acc1, "Shop", "Europe/Moscow", upgradeT0); err != nil {
				return err
			}
			if f.counter2, err = insertID(ctx, tx, counter, f.acc2, "Магазин", "Asia/Yekaterinburg", upgradeT0); err != nil {
				return err
			}
			const task = `INSERT INTO import_tasks (account_id, counter_id, name, active, type, frequency_hours, crm_url, crm_key_sealed,
				crm_key_hint, rate_limit, mapping, backfill_from, status, status_message, consecutive_failures, next_run_at, lease_owner,
				lease_until, created_at, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`
			if f.taskLive, err = insertID(ctx, tx, task, f.acc1, f.counter1, "Заказы", true, "retailcrm", 1, "https://acme.retailcrm.ru",
				"v1.k1.sealed-key", "…abcd", 7.5, `{"session_id":"customFields.k50_sid"}`, "2024-01-01", "ok", "", 0, upgradeT0.Add(time.Hour),
				"host_p1_x/42", upgradeT0.Add(time.Minute), upgradeT0, upgradeT0, nil); err != nil {
				return err
			}
			if f.taskGone, err = insertID(ctx, tx, task, f.acc1, f.counter1, "Old", false, "retailcrm", 24, "https://acme.retailcrm.ru",
				"v1.k1.other", "…wxyz", 10, `{}`, "", "needs_attention", "RetailCRM rejected the API key (HTTP 401)", 5, nil, "", nil, upgradeT0, upgradeT0,
				upgradeT0.Add(3*time.Hour)); err != nil {
				return err
			}
			const run = `INSERT INTO runs (account_id, task_id, kind, status, phase, queued_at, started_at, finished_at, heartbeat_at, fetched,
				created, updated, deleted, invalid, requests, pages, progress_done, progress_total, cursor, error, issues, issues_total)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`
			// Before version 7 run issues and failures were English sentences.
			issues := `[{"order_id":"A-1 (id 101)","field":"contact_phone","value":"12","message":"not a valid phone number"}]`
			if f.runDone, err = insertID(ctx, tx, run, f.acc1, f.taskLive, "manual", "succeeded_with_warnings", "history", upgradeT0,
				upgradeT0, upgradeT0.Add(time.Minute), upgradeT0.Add(time.Minute), 250, 240, 5, 1, 4, 12, 3, 10, 10, "history:77", "",
				issues, 1); err != nil {
				return err
			}
			if f.runBusy, err = insertID(ctx, tx, run, f.acc1, f.taskLive, "scheduled", "running", "backfill", upgradeT0.Add(time.Hour),
				upgradeT0.Add(time.Hour), nil, upgradeT0.Add(time.Hour), 100, 100, 0, 0, 0, 3, 1, 2, 30, "backfill:2024-02-01", "",
				"", 0); err != nil {
				return err
			}
			if f.runFailed, err = insertID(ctx, tx, run, f.acc1, f.taskGone, "scheduled", "failed", "history", upgradeT0,
				upgradeT0, upgradeT0.Add(time.Second), upgradeT0.Add(time.Second), 0, 0, 0, 0, 0, 1, 0, 0, 0, "",
				"could not reach RetailCRM (dial tcp: i/o timeout)", "", 0); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO sync_state (task_id, account_id, phase, history_since_id, history_start,
				backfill_from, backfill_to, backfill_next, resync_started_at, resync_mark, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				f.taskLive, f.acc1, "history", 77, "", "2024-01-01", "2025-03-01", "2025-03-02", nil, 0, upgradeT0); err != nil {
				return fmt.Errorf("sync_state: %w", err)
			}
			const order = `INSERT INTO orders (account_id, counter_id, task_id, crm_id, order_id, order_date, order_local, session_id,
				user_id, item_count, profit, revenue, comment, contact_name, contact_phone, contact_email, tags, status, site, deleted, hash,
				sync_mark, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`
			if f.orderLive, err = insertID(ctx, tx, order, f.acc1, f.counter1, f.taskLive, 101, "A-1", "2025-02-28 21:30:00",
				"2025-03-01 00:30:00", "sid-1", "user-1", "3", "1234.50", "2469.00", "доставка до двери, «срочно»", "Анна Петрова",
				"79161234567", "anna@example.com", `["vip","опт"]`, "complete", "shop-main", false, "0123456789abcdef0123456789abcdef",
				0, upgradeT0); err != nil {
				return err
			}
			if f.orderGone, err = insertID(ctx, tx, order, f.acc1, f.counter1, f.taskLive, 102, "A-2", "2025-02-28 22:00:00",
				"2025-03-01 01:00:00", "", "", "", "", "", "", "", "", "", `[]`, "cancel-other", "shop-main", true,
				"fedcba9876543210fedcba9876543210", 7, upgradeT0); err != nil {
				return err
			}
			return nil
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			if u, err := st.UserByEmail(ctx, "директор@ромашка.рф"); err != nil || u.AccountID != f.acc2 {
				t.Errorf("user of account 2: %+v %v", u, err)
			}
			if u, err := st.UserByToken(ctx, upgradeToken); err != nil || u.ID != f.user1 {
				t.Errorf("the active token: %+v %v", u, err)
			}
			if _, err := st.UserByToken(ctx, "oit_revoked"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the revoked token: %v", err)
			}
			if cs, err := st.Counters(ctx, f.acc2); err != nil || len(cs) != 1 || cs[0].Timezone != "Asia/Yekaterinburg" {
				t.Errorf("counters of account 2: %+v %v", cs, err)
			}
			task, err := st.Task(ctx, f.acc1, f.taskLive)
			if err != nil || task.RateLimit != 7.5 || task.BackfillFrom != "2024-01-01" || task.NextRunAt == nil || !task.NextRunAt.Equal(upgradeT0.Add(time.Hour)) {
				t.Errorf("the live task: %+v %v", task, err)
			}
			if _, err := st.Task(ctx, f.acc1, f.taskGone); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the deleted task: %v", err)
			}
			var status string
			if err := st.DB().QueryRowContext(ctx, `SELECT status_message FROM import_tasks WHERE id = $1`, f.taskGone).Scan(&status); err != nil ||
				locale.Decode(status).Code != "crm_invalid_key" || locale.Decode(status).Detail != "HTTP 401" {
				t.Errorf("the parked task's status: %q %v", status, err)
			}
			runs, err := st.Runs(ctx, f.acc1, f.taskLive, 10)
			if err != nil || len(runs) != 2 || runs[1].ID != f.runDone || runs[1].Counts.Created != 240 || runs[0].Status != store.RunRunning ||
				runs[0].FinishedAt != nil {
				t.Fatalf("runs: %+v %v", runs, err)
			}
			// Version 7 turned the sentences into message codes.
			if is := runs[1].Issues; len(is) != 1 || is[0].Field != "contact_phone" || is[0].Msg.Code != "phone_invalid" ||
				is[0].OrderNumber != "A-1" || is[0].OrderID != "101" {
				t.Errorf("the issues of the finished run: %+v", is)
			}
			if r, err := st.RunForWorker(ctx, f.runFailed); err != nil || r.Error.Code != "crm_transport" || r.Error.Detail != "dial tcp: i/o timeout" {
				t.Errorf("the failed run: %+v %v", r.Error, err)
			}
			ss, err := st.SyncState(ctx, f.taskLive)
			if err != nil || ss.Phase != "history" || ss.HistorySinceID != 77 || ss.BackfillNext != "2025-03-02" {
				t.Errorf("sync state: %+v %v", ss, err)
			}
			orders, _, err := st.Orders(ctx, f.acc1, f.counter1, store.OrderFilter{IncludeDeleted: true, Limit: 10})
			if err != nil || len(orders) != 2 {
				t.Fatalf("orders: %d %v", len(orders), err)
			}
			live := orders[slices.IndexFunc(orders, func(o store.OrderRow) bool { return o.ID == f.orderLive })]
			if live.Profit != "1234.50" || live.Revenue != "2469.00" || !slices.Equal(live.Tags, []string{"vip", "опт"}) ||
				live.Comment != "доставка до двери, «срочно»" || live.Deleted {
				t.Errorf("the live order: %+v", live)
			}
			gone := orders[slices.IndexFunc(orders, func(o store.OrderRow) bool { return o.ID == f.orderGone })]
			if !gone.Deleted || len(gone.Tags) != 0 {
				t.Errorf("the deleted order: %+v", gone)
			}
		},
	},
	{
		version: 2,
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, account_id, created_at, last_seen_at, expires_at, user_agent, ip)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sha256Hex(upgradeSession), f.user1, f.acc1, upgradeT0, upgradeT0.Add(time.Minute),
				upgradeFuture, "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.7")
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			ss, u, err := st.SessionByToken(ctx, upgradeSession, upgradeT0.Add(time.Hour))
			if err != nil || u.ID != f.user1 || ss.IP != "203.0.113.7" || !ss.ExpiresAt.Equal(upgradeFuture) {
				t.Errorf("session: %+v %+v %v", ss, u, err)
			}
		},
	},
	{
		version: 3,
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			_, err := tx.ExecContext(ctx, `UPDATE sync_state SET fingerprint = $1 WHERE task_id = $2`, "9f86d081884c7d659a2feaa0c55ad015", f.taskLive)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			if ss, err := st.SyncState(ctx, f.taskLive); err != nil || ss.Fingerprint != "9f86d081884c7d659a2feaa0c55ad015" {
				t.Errorf("fingerprint: %+v %v", ss, err)
			}
		},
	},
	{
		version: 4,
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			const lease = `INSERT INTO crm_account_leases (account_url, owner, lease_until, prev_owner, prev_until) VALUES ($1, $2, $3, $4, $5)`
			if _, err := tx.ExecContext(ctx, lease, "https://acme.retailcrm.ru", "host_p1_x/42", upgradeFuture, "", nil); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, lease, "https://romashka.retailcrm.ru", "", upgradeT0, "host_p2_y/7", upgradeT0.Add(-time.Second))
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			l, err := st.AcquireAccountLease(ctx, "https://acme.retailcrm.ru", "someone else", upgradeFuture.Add(time.Hour))
			if err != nil || l.Acquired || l.Owner != "host_p1_x/42" || !l.Until.Equal(upgradeFuture) {
				t.Errorf("a held account lease: %+v %v", l, err)
			}
		},
	},
	{
		version: 5,
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			const event = `INSERT INTO audit_log (account_id, user_id, actor, action, target, detail, ip, user_agent, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
			if _, err := tx.ExecContext(ctx, event, f.acc1, f.user1, "owner@acme.example", "import.update", fmt.Sprintf("import:%d", f.taskLive),
				"rate limit 10 → 7.5", "203.0.113.7", "curl/8", upgradeT0); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, event, nil, 0, "ghost@example.com", "login.failed", "", "unknown email", "198.51.100.1", "", upgradeT0)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			es, err := st.AuditEvents(ctx, f.acc1, 0, 10)
			if err != nil || len(es) != 1 || es[0].Detail.Detail != "rate limit 10 → 7.5" || !es[0].CreatedAt.Equal(upgradeT0) {
				t.Errorf("audit events: %+v %v", es, err)
			}
		},
	},
	{
		version: 6, // indexes for the order search: no new place for data; the search finds the orders of version 1
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			for _, q := range []string{"79161234567", "ANNA@example.com", "A-1"} {
				os, _, err := st.Orders(ctx, f.acc1, f.counter1, store.OrderFilter{Search: q, Limit: 10})
				if err != nil || len(os) != 1 || os[0].ID != f.orderLive {
					t.Errorf("search %q: %+v %v", q, os, err)
				}
			}
		},
	},
	{
		version:  7, // messages stored as codes with arguments; the sentences of earlier rows are converted
		rewrites: []string{"runs.error", "runs.issues", "import_tasks.status_message"},
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			_, err := tx.ExecContext(ctx, `UPDATE runs SET error = $1, issues = $2, issues_total = $3 WHERE id = $4`,
				`{"code":"crm_rate_limited","detail":"HTTP 503"}`,
				`[{"order_id":"202","order_number":"B-2","field":"contact_email","value":"x@","code":"email_invalid"}]`, 1, f.runBusy)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			r, err := st.RunForWorker(ctx, f.runBusy)
			if err != nil || r.Error.Code != "crm_rate_limited" || r.Error.Detail != "HTTP 503" || len(r.Issues) != 1 ||
				r.Issues[0].Msg.Code != "email_invalid" || r.Issues[0].OrderNumber != "B-2" {
				t.Errorf("a run written with message codes: %+v %v", r, err)
			}
		},
	},
	{
		version: 8, // what counts: the orders' number, status group, currency, counted flag and source; tasks' counting, stores, range end; the kept reference
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			if _, err := tx.ExecContext(ctx, `UPDATE orders SET order_number = $1, number_key = $2, status_group = $3, currency = $4, counted = $5,
				utm_source = $6, utm_medium = $7, utm_campaign = $8, utm_keyword = $9, utm_content = $10 WHERE id = $11`,
				"A-1C", "a-1c", "complete", "KZT", true, "yandex", "cpc", "весна", "обувь", "баннер", f.orderLive); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE orders SET status_group = $1, counted = $2 WHERE id = $3`, "cancel", false, f.orderGone); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE import_tasks SET counting = $1, sites = $2, backfill_to = $3 WHERE id = $4`,
				`{"status_groups":["complete"],"exclude_statuses":["3"]}`, `["shop-main"]`, "2025-12-31", f.taskLive); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO crm_references (task_id, account_id, reference, classes, classes_version, recount_pending,
				read_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, f.taskLive, f.acc1,
				`{"statuses":[{"code":"complete","name":"Выполнен","group":"complete","active":true,"ordering":10},`+
					`{"code":"cancel-other","name":"Отменён","group":"cancel","active":true,"ordering":60}],`+
					`"groups":[{"code":"complete","name":"Выполнен","ordering":50},{"code":"cancel","name":"Отменен","ordering":60}],`+
					`"sites":[{"code":"shop-main","name":"Главный","currency":"KZT"}],"default_currency":"RUB"}`,
				`{"statuses":{"complete":{"group":"complete","counted":true},"cancel-other":{"group":"cancel","counted":false}},"unknown":false}`,
				3, false, upgradeT0, upgradeT0)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			task, err := st.Task(ctx, f.acc1, f.taskLive)
			if err != nil || task.Counting == nil || !slices.Equal(task.Counting.StatusGroups, []string{"complete"}) ||
				!slices.Equal(task.Counting.ExcludeStatuses, []string{"3"}) || !slices.Equal(task.Sites, []string{"shop-main"}) ||
				task.BackfillTo != "2025-12-31" {
				t.Errorf("the task's counting, stores and range: %+v %v", task, err)
			}
			ref, err := st.TaskReference(ctx, f.acc1, f.taskLive)
			if err != nil || ref.RecountPending || ref.Reference.DefaultCurrency != "RUB" || len(ref.Reference.Statuses) != 2 ||
				ref.Reference.Sites[0].Currency != "KZT" {
				t.Errorf("the kept reference: %+v %v", ref, err)
			}
			if g, counted := ref.Classes.Of("cancel-other"); g != "cancel" || counted {
				t.Errorf("the classes of cancel-other: %q %v", g, counted)
			}
			orders, _, err := st.Orders(ctx, f.acc1, f.counter1, store.OrderFilter{IncludeDeleted: true, Limit: 10})
			if err != nil || len(orders) != 2 {
				t.Fatalf("orders: %d %v", len(orders), err)
			}
			live := orders[slices.IndexFunc(orders, func(o store.OrderRow) bool { return o.ID == f.orderLive })]
			if live.OrderNumber != "A-1C" || live.StatusGroup != "complete" || live.Currency != "KZT" || !live.Counted ||
				live.Source != (store.Source{Source: "yandex", Medium: "cpc", Campaign: "весна", Keyword: "обувь", Content: "баннер"}) {
				t.Errorf("the live order's new fields: %+v", live)
			}
			for _, q := range []string{"a-1C", "101"} {
				if os, _, err := st.Orders(ctx, f.acc1, f.counter1, store.OrderFilter{Search: q, Limit: 10}); err != nil || len(os) != 1 || os[0].ID != f.orderLive {
					t.Errorf("search %q: %+v %v", q, os, err)
				}
			}
			counted := false
			if os, _, err := st.Orders(ctx, f.acc1, f.counter1, store.OrderFilter{IncludeDeleted: true, Counted: &counted, Limit: 10}); err != nil ||
				len(os) != 1 || os[0].ID != f.orderGone {
				t.Errorf("uncounted orders: %+v %v", os, err)
			}
		},
	},
	{
		version: 11, // people and access: roles and statuses (earlier users own their accounts), invitations, TOTP, recovery codes
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			invited, err := insertID(ctx, tx, `INSERT INTO users (account_id, email, password_hash, created_at, role, status) VALUES ($1, $2, '', $3, $4, $5)`,
				f.acc1, "analyst@acme.example", upgradeT0, "viewer", "invited")
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (account_id, user_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				f.acc1, invited, sha256Hex("oiv_upgrade-test-link"), f.user1, upgradeT0, upgradeFuture); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = $1, totp_enabled_at = $2, totp_last_step = $3 WHERE id = $4`,
				"v1.k1.sealed-totp", upgradeT0, 58000000, f.user1); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)`, f.user1, sha256Hex("aaaabbbbccccdddd"))
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			for _, id := range []int64{f.user1, f.user2} {
				if u, err := st.UserByID(ctx, id); err != nil || u.Role != access.Owner || u.Status != store.UserActive {
					t.Errorf("a user of before roles: %+v %v, want an active owner", u, err)
				}
			}
			if u, _ := st.UserByID(ctx, f.user1); !u.TOTPEnabled {
				t.Error("the second factor of user 1 is off")
			}
			inv, err := st.InvitationByToken(ctx, "oiv_upgrade-test-link")
			if err != nil || inv.Email != "analyst@acme.example" || inv.Role != access.Viewer || inv.AccountID != f.acc1 || inv.UsedAt != nil {
				t.Errorf("the invitation: %+v %v", inv, err)
			}
			if n, err := st.RecoveryCodesLeft(ctx, f.user1); err != nil || n != 1 {
				t.Errorf("recovery codes: %d %v", n, err)
			}
		},
	},
	{
		version: 9, // orders flow on: the changes feed, webhooks and their deliveries, the trigger, alerts
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			if _, err := tx.ExecContext(ctx, `UPDATE counters SET feed_seq = $1 WHERE id = $2`, 7, f.counter1); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE orders SET feed_seq = $1 WHERE id = $2`, 7, f.orderGone); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE import_tasks SET trigger_hash = $1, trigger_sealed = $2, trigger_run_at = $3 WHERE id = $4`,
				sha256Hex("upgrade-trigger-token"), "v1.k1.sealed-token", upgradeT0, f.taskLive); err != nil {
				return err
			}
			hook, err := insertID(ctx, tx, `INSERT INTO webhooks (account_id, counter_id, url, secret_sealed, enabled, disabled_reason, disabled_at,
				cursor_seq, cursor_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				f.acc1, f.counter1, "https://hooks.acme.example/orders", "v1.k1.sealed-secret", false, `{"code":"webhook_gave_up","args":{"hours":24}}`,
				upgradeT0, 5, f.orderLive, upgradeT0)
			if err != nil {
				return err
			}
			delivery, err := insertID(ctx, tx, `INSERT INTO webhook_deliveries (webhook_id, account_id, msg_id, type, body, changes, end_seq, end_id,
				status, attempts, created_at, first_attempt_at, next_attempt_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				hook, f.acc1, "msg_upgrade", "orders.changed", `{"type":"orders.changed"}`, 1, 7, f.orderGone, "abandoned", 2, upgradeT0,
				upgradeT0, nil, upgradeT0.Add(time.Hour))
			if err != nil {
				return err
			}
			if _, err := insertID(ctx, tx, `INSERT INTO webhook_attempts (webhook_id, delivery_id, account_id, attempt, status, http_status, error,
				duration_ms, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				hook, delivery, f.acc1, 2, "failed", 503, `{"code":"webhook_status","args":{"status":503}}`, 120, upgradeT0.Add(time.Hour)); err != nil {
				return err
			}
			if _, err := insertID(ctx, tx, `INSERT INTO alert_channels (account_id, type, address, url, secret_sealed, language, base_url, last_sent_at,
				last_error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				f.acc1, "email", "ops@acme.example", "", "", "ru", "https://orders.acme.example", upgradeT0, "", upgradeT0); err != nil {
				return err
			}
			_, err = insertID(ctx, tx, `INSERT INTO incidents (account_id, subject, kind, task_id, webhook_id, detail, started_at, ended_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				f.acc1, fmt.Sprintf("webhook:%d", hook), "webhook_disabled", 0, hook, `{"code":"webhook_gave_up","args":{"hours":24}}`, upgradeT0, nil)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			page, err := st.Feed(ctx, f.acc1, f.counter1, store.FeedCursor{}, 10)
			if err != nil || len(page) == 0 || page[len(page)-1].ID != f.orderGone || page[len(page)-1].FeedSeq != 7 {
				t.Errorf("the feed: %+v %v", page, err)
			}
			if task, err := st.TaskByTrigger(ctx, sha256Hex("upgrade-trigger-token")); err != nil || task.ID != f.taskLive ||
				task.TriggerSealed != "v1.k1.sealed-token" || task.TriggerRunAt == nil || !task.TriggerRunAt.Equal(upgradeT0) {
				t.Errorf("the task by its trigger: %+v %v", task, err)
			}
			hooks, err := st.Webhooks(ctx, f.acc1, f.counter1)
			if err != nil || len(hooks) != 1 || hooks[0].Enabled || hooks[0].DisabledReason.Code != "webhook_gave_up" || hooks[0].Cursor.Seq != 5 {
				t.Fatalf("webhooks: %+v %v", hooks, err)
			}
			log, err := st.Attempts(ctx, f.acc1, hooks[0].ID, 0, 10)
			if err != nil || len(log) != 1 || log[0].MsgID != "msg_upgrade" || log[0].HTTPStatus != 503 || log[0].Error.Code != "webhook_status" {
				t.Errorf("deliveries log: %+v %v", log, err)
			}
			chans, err := st.AlertChannels(ctx, f.acc1)
			if err != nil || len(chans) != 1 || chans[0].Address != "ops@acme.example" || chans[0].Language != "ru" {
				t.Errorf("alert channels: %+v %v", chans, err)
			}
			incs, err := st.Incidents(ctx, f.acc1, 10)
			if err != nil || len(incs) != 1 || incs[0].Kind != "webhook_disabled" || incs[0].EndedAt != nil {
				t.Errorf("incidents: %+v %v", incs, err)
			}
		},
	},
	{
		version: 10, // order memory: timelines, kept raw orders, mapping versions, pii and retention
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO order_events (order_row_id, counter_id, task_id, at, run_id, source, changes)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.orderLive, f.counter1, f.taskLive, upgradeT0, f.runDone, "history",
				`{"revenue":{"old":"100.00","new":"150.50"}}`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE orders SET raw = $1, events = $2 WHERE id = $3`, []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff}, 1, f.orderLive); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO mapping_versions (account_id, task_id, version, mapping, created_at, created_by_id, created_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.acc1, f.taskLive, 2, `{"revenue":"order.totalSumm"}`, upgradeT0, f.user1, "owner@acme.example"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE import_tasks SET pii = $1, orders_retention_days = $2 WHERE id = $3`, "hash", 365, f.taskLive)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			ev, err := st.Timeline(ctx, f.acc1, f.counter1, "A-1")
			if err != nil || len(ev) != 1 || ev[0].RunID != f.runDone || ev[0].Source != "history" || ev[0].Changes["revenue"].New != "150.50" {
				t.Errorf("the timeline: %+v %v", ev, err)
			}
			raws, err := st.RawOrdersIn(ctx, f.taskLive, 0, math.MaxInt64, false)
			if err != nil || len(raws) != 1 || raws[0].ID != f.orderLive || string(raws[0].Raw) != string([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff}) {
				t.Errorf("raw orders: %+v %v", raws, err)
			}
			vs, err := st.MappingVersions(ctx, f.acc1, f.taskLive)
			if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[0].CreatedBy != "owner@acme.example" || vs[0].Mapping["revenue"] != "order.totalSumm" {
				t.Errorf("mapping versions: %+v %v", vs, err)
			}
			task, err := st.Task(ctx, f.acc1, f.taskLive)
			if err != nil || task.PII != store.PIIHash || task.OrdersRetentionDays == nil || *task.OrdersRetentionDays != 365 {
				t.Errorf("the task's pii and retention: %+v %v", task, err)
			}
		},
	},
	{
		version: 12, // re-mapping stored orders: the re-map's checkpoint, compression dictionaries
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			if _, err := tx.ExecContext(ctx, `UPDATE sync_state SET remap_after = $1 WHERE task_id = $2`, f.orderLive, f.taskLive); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO raw_dicts (task_id, dict, created_at) VALUES ($1, $2, $3)`, f.taskLive, []byte{0x37, 0xa4, 0x30, 0xec, 1}, upgradeT0)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			ss, err := st.SyncState(ctx, f.taskLive)
			if err != nil || ss.RemapAfter != f.orderLive {
				t.Errorf("the re-map's checkpoint: %+v %v", ss, err)
			}
			dicts, err := st.RawDicts(ctx, f.taskLive)
			if err != nil || len(dicts) != 1 || string(dicts[0].Data) != string([]byte{0x37, 0xa4, 0x30, 0xec, 1}) {
				t.Errorf("dictionaries: %+v %v", dicts, err)
			}
		},
	},
	{
		version: 13, // re-mapping only what changed: the fields a re-map under way evaluates
		insert: func(ctx context.Context, tx *sql.Tx, f *upgradeFixture) error {
			_, err := tx.ExecContext(ctx, `UPDATE sync_state SET remap_fields = $1 WHERE task_id = $2`, "revenue,tags", f.taskLive)
			return err
		},
		check: func(t *testing.T, ctx context.Context, st *store.Store, f *upgradeFixture) {
			ss, err := st.SyncState(ctx, f.taskLive)
			if err != nil || ss.RemapFields != "revenue,tags" || ss.RemapAfter != f.orderLive {
				t.Errorf("the re-map's fields: %+v %v", ss, err)
			}
		},
	},
}

func TestUpgradeFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	versions, err := openBare(t, store.SQLite).MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	steps := map[int]upgradeStep{}
	for _, s := range upgradeSteps {
		steps[s.version] = s
	}
	for _, v := range versions {
		if _, ok := steps[v]; !ok {
			t.Fatalf("migration %04d has no upgrade step: add the rows it makes room for (or none, for an index) and their check to upgradeSteps", v)
		}
	}
	newest := versions[len(versions)-1]
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			for i, from := range versions {
				t.Run(fmt.Sprintf("from_%04d", from), func(t *testing.T) {
					st := openBare(t, engine)
					f := &upgradeFixture{}
					for _, v := range versions[:i+1] {
						if got, err := st.MigrateTo(ctx, v); err != nil || got != v {
							t.Fatalf("migrate to %d: reached %d, %v", v, got, err)
						}
						if ins := steps[v].insert; ins != nil {
							if err := st.InTx(ctx, func(tx *sql.Tx) error { return ins(ctx, tx, f) }); err != nil {
								t.Fatalf("rows of version %d: %v", v, err)
							}
						}
					}
					before := snapshot(t, ctx, st)
					if got, err := st.Migrate(ctx); err != nil || got != newest {
						t.Fatalf("upgrade from %d: reached %d, %v", from, got, err)
					}
					after := snapshot(t, ctx, st)
					rewritten := map[string]bool{}
					for _, v := range versions[i+1:] {
						for _, c := range steps[v].rewrites {
							rewritten[c] = true
						}
					}
					compareSnapshots(t, before, after, rewritten)
					for _, v := range versions[:i+1] {
						if c := steps[v].check; c != nil {
							c(t, ctx, st, f)
						}
					}
				})
			}
		})
	}
}

// openBare opens an empty, unmigrated database of the engine, closed when the test ends.
func openBare(t *testing.T, engine store.Engine) *store.Store {
	t.Helper()
	loc := store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "upgrade.db")}
	if engine == store.Postgres {
		loc = store.Location{Engine: store.Postgres, URL: pgtest.Schema(t)}
	}
	st, err := store.Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// tableRows is a table's columns and its rows, each row as one text per column.
type tableRows struct {
	columns []string
	rows    [][]string
}

// snapshot reads every table of the store's schema (the migration history included) in full.
func snapshot(t *testing.T, ctx context.Context, st *store.Store) map[string]tableRows {
	t.Helper()
	db := st.DB()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if st.Engine() == store.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	var tables []string
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	out := map[string]tableRows{}
	for _, table := range tables {
		cols := tableColumns(t, ctx, st, table)
		// The columns by name, not *: PostgreSQL refuses to run a statement prepared (and
		// cached by pgx) before a migration changed the shape of its result.
		rows, err := db.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		tr := tableRows{columns: cols}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = canonicalValue(v)
			}
			tr.rows = append(tr.rows, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[table] = tr
	}
	return out
}

// tableColumns lists a table's columns from the engine's catalogue.
func tableColumns(t *testing.T, ctx context.Context, st *store.Store, table string) []string {
	t.Helper()
	q := `SELECT name FROM pragma_table_info($1) ORDER BY cid`
	if st.Engine() == store.Postgres {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`
	}
	rows, err := st.DB().QueryContext(ctx, q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil || len(cols) == 0 {
		t.Fatalf("columns of %s: %v %v", table, cols, err)
	}
	return cols
}

func canonicalValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return "t:" + v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return "s:" + string(v)
	case string:
		return "s:" + v
	default:
		return fmt.Sprintf("%T:%v", v, v)
	}
}

// compareSnapshots checks that every table of before is in after with the same rows, read in
// the columns it had before (later migrations may add columns), except the columns the
// migrations in between rewrite on purpose ("table.column").
func compareSnapshots(t *testing.T, before, after map[string]tableRows, rewritten map[string]bool) {
	t.Helper()
	for table, b := range before {
		a, ok := after[table]
		if !ok {
			t.Errorf("table %s is gone after the upgrade", table)
			continue
		}
		var idx, kept []int
		for i, c := range b.columns {
			if rewritten[table+"."+c] {
				continue
			}
			j := slices.Index(a.columns, c)
			if j < 0 {
				t.Errorf("column %s.%s is gone after the upgrade", table, c)
			}
			idx, kept = append(idx, j), append(kept, i)
		}
		if t.Failed() {
			continue
		}
		got := make([]string, 0, len(a.rows))
		for _, r := range a.rows {
			proj := make([]string, len(idx))
			for i, j := range idx {
				proj[i] = r[j]
			}
			got = append(got, strings.Join(proj, "\x1f"))
		}
		want := make([]string, 0, len(b.rows))
		for _, r := range b.rows {
			proj := make([]string, len(kept))
			for i, j := range kept {
				proj[i] = r[j]
			}
			want = append(want, strings.Join(proj, "\x1f"))
		}
		if table == "schema_migrations" {
			// The upgrade adds the newer versions' rows; the earlier ones stay as they were.
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("schema_migrations lost %q", w)
				}
			}
			continue
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("table %s changed in the upgrade:\nbefore %q\nafter  %q", table, want, got)
		}
	}
}
