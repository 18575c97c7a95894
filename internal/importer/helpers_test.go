package importer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"orderimport/internal/tasks"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/pgtest"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/servicetest"
	"orderimport/internal/store"
)

// expectedRows maps the emulator's current orders for key exactly as an import of the task
// must store them (servicetest.ExpectedRows).
func expectedRows(t testing.TB, emu *crmemu.Emulator, key string, task store.Task, counterTZ string) map[int64]store.OrderRow {
	t.Helper()
	rows, err := servicetest.ExpectedRows(emu, key, task, counterTZ)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// rowDiff names the tracker fields in which got differs from want ("" when equal).
func rowDiff(got, want store.OrderRow) string {
	var d []string
	for _, f := range []struct {
		name      string
		got, want string
	}{
		{"order_id", got.OrderID, want.OrderID}, {"order_date(UTC)", got.OrderDate, want.OrderDate},
		{"order_date", got.OrderLocal, want.OrderLocal}, {"session_id", got.SessionID, want.SessionID},
		{"user_id", got.UserID, want.UserID}, {"item_count", got.ItemCount, want.ItemCount},
		{"profit", got.Profit, want.Profit}, {"revenue", got.Revenue, want.Revenue},
		{"comment", got.Comment, want.Comment}, {"contact_name", got.ContactName, want.ContactName},
		{"contact_phone", got.ContactPhone, want.ContactPhone}, {"contact_email", got.ContactEmail, want.ContactEmail},
		{"status", got.Status, want.Status}, {"site", got.Site, want.Site},
		{"order_number", got.OrderNumber, want.OrderNumber}, {"currency", got.Currency, want.Currency},
		{"source", fmt.Sprint(got.Source), fmt.Sprint(want.Source)}, {"status_group", got.StatusGroup, want.StatusGroup},
		{"counted", fmt.Sprint(got.Counted), fmt.Sprint(want.Counted)},
	} {
		if f.got != f.want {
			d = append(d, fmt.Sprintf("%s = %q, want %q", f.name, f.got, f.want))
		}
	}
	if !slices.Equal(got.Tags, want.Tags) {
		d = append(d, fmt.Sprintf("tags = %q, want %q", got.Tags, want.Tags))
	}
	return strings.Join(d, "; ")
}

// harness is one task of one account in a fresh SQLite database, imported from an emulator
// over HTTP: the directed tests' fixture (the model test builds its own, randomized).
type harness struct {
	t    testing.TB
	emu  *crmemu.Emulator
	srv  *httptest.Server
	st   *store.Store
	im   *importer.Importer
	task store.Task
	key  string
	ctz  string
	now  func() time.Time
	kr   *secret.Keyring
	cfg  importer.Config
}

func newHarness(t testing.TB, opts crmemu.Options, cfg importer.Config, task store.Task) *harness {
	t.Helper()
	return newHarnessWrapped(t, opts, cfg, task, nil)
}

// newHarnessWrapped serves the emulator through wrap (a RetailCRM that differs on purpose).
func newHarnessWrapped(t testing.TB, opts crmemu.Options, cfg importer.Config, task store.Task, wrap func(http.Handler) http.Handler) *harness {
	t.Helper()
	return newHarnessAt(t, store.Location{}, opts, cfg, task, wrap)
}

// newHarnessOn is newHarness on the database of an engine: SQLite in a temporary directory, or
// a throwaway schema of the PostgreSQL test server.
func newHarnessOn(t testing.TB, engine store.Engine, opts crmemu.Options, cfg importer.Config, task store.Task) *harness {
	t.Helper()
	var loc store.Location
	if engine == store.Postgres {
		loc = store.Location{Engine: store.Postgres, URL: pgtest.Schema(t)}
	}
	return newHarnessAt(t, loc, opts, cfg, task, nil)
}

// engines runs fn as a parallel subtest per database engine.
func engines(t *testing.T, fn func(t *testing.T, engine store.Engine)) {
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			fn(t, engine)
		})
	}
}

// newHarnessAt is the harness on loc (zero: SQLite in a temporary directory).
func newHarnessAt(t testing.TB, loc store.Location, opts crmemu.Options, cfg importer.Config, task store.Task, wrap func(http.Handler) http.Handler) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, key: crmemu.DemoKey, ctz: "Europe/Moscow", now: time.Now}
	if opts.Now != nil {
		h.now = opts.Now
	}
	for k := range opts.Keys {
		h.key = k
	}
	h.emu = crmemu.New(opts)
	var handler http.Handler = h.emu
	if wrap != nil {
		handler = wrap(h.emu)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	if loc == (store.Location{}) {
		loc = store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "test.db")}
	}
	st, err := store.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h.st = st
	var acc int64
	if err := st.DB().QueryRowContext(ctx, `INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id`,
		"acc", time.Now().UTC()).Scan(&acc); err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCounter(ctx, acc, "shop", h.ctz)
	if err != nil {
		t.Fatal(err)
	}
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr := secret.NewKeyring(key)
	sealed, _, err := (&tasks.Keys{Keyring: kr}).Seal(acc, h.key)
	if err != nil {
		t.Fatal(err)
	}
	task.AccountID, task.CounterID, task.Name, task.Type, task.FrequencyHours = acc, c.ID, "t", "retailcrm", 1
	task.CRMURL, task.CRMKeySealed, task.CRMKeyHint = h.srv.URL, sealed, "-key"
	if task.RateLimit == 0 {
		task.RateLimit = 5000
	}
	if h.task, err = st.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout, cfg.RetryBaseDelay, cfg.RetryMaxDelay = time.Second, time.Millisecond, 5*time.Millisecond
	}
	h.kr, h.cfg = kr, cfg
	h.im = h.importerOn(st)
	return h
}

// importerOn is the harness's importer over another store (a restarted process, a copy).
func (h *harness) importerOn(st *store.Store) *importer.Importer {
	return &importer.Importer{Store: st, Keys: &tasks.Keys{Keyring: h.kr}, HTTPClient: &http.Client{Transport: &http.Transport{}},
		Limiters: retailcrm.NewLimiters(), Logger: slog.New(slog.DiscardHandler), Now: h.now, Config: h.cfg}
}

// run executes one whole run and returns it as recorded.
func (h *harness) run() (store.Run, error) {
	h.t.Helper()
	ctx := context.Background()
	r, err := h.st.CreateRun(ctx, h.task.AccountID, h.task.ID, store.RunManual)
	if err != nil {
		h.t.Fatal(err)
	}
	runErr := h.im.Run(ctx, h.task, r.ID, time.Time{})
	r, err = h.st.RunForWorker(ctx, r.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return r, runErr
}

// mustRun runs and fails the test if the run fails.
func (h *harness) mustRun() store.Run {
	h.t.Helper()
	r, err := h.run()
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return r
}

// verify fails the test unless the stored orders equal the emulator's under the task's mapping.
func (h *harness) verify(when string) {
	h.t.Helper()
	h.verifyStore(h.st, when)
}

// verifyStore is verify for another store holding the harness's task.
func (h *harness) verifyStore(st *store.Store, when string) {
	h.t.Helper()
	want := expectedRows(h.t, h.emu, h.key, h.task, h.ctz)
	got := map[int64]store.OrderRow{}
	err := st.TaskOrders(context.Background(), h.task.ID, false, func(o *store.OrderRow) error {
		if _, dup := got[o.CRMID]; dup {
			h.t.Errorf("%s: RetailCRM order %d is stored twice", when, o.CRMID)
		}
		got[o.CRMID] = *o
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for id, w := range want {
		if g, ok := got[id]; !ok {
			h.t.Errorf("%s: order %d (created %s) is missing", when, id, w.OrderDate)
		} else if d := rowDiff(g, w); d != "" {
			h.t.Errorf("%s: order %d differs: %s", when, id, d)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			h.t.Errorf("%s: order %d is stored but RetailCRM does not have it for this task", when, id)
		}
	}
}
