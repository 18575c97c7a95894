package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/jobs"
	"orderimport/internal/store"
)

// servedApp is the service running in this process on an SQLite database.
type servedApp struct {
	app  *app.App
	api  *apiClient
	stop func()
}

func serveSQLite(t *testing.T, path string, withUser bool, token string) *servedApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: path}, AllowPrivate: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, log, app.Options{Workers: 2, Migrate: true, Jobs: jobs.Config{TickInterval: time.Hour}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if withUser {
		u, _, err := a.Store.AddUser(ctx, "owner@example.com", "correct horse battery", "Shop", false)
		if err != nil {
			t.Fatal(err)
		}
		if token, _, err = a.Store.CreateToken(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	stopped := false
	s := &servedApp{app: a, api: &apiClient{t: t, base: "http://" + ln.Addr().String(), token: token}}
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	}
	t.Cleanup(s.stop)
	return s
}

type runView struct {
	ID      int64  `json:"id"`
	Status  string `json:"status"`
	Pages   int64  `json:"pages"`
	Created int64  `json:"created"`
	Error   string `json:"error"`
}

// waitRunDone polls a run until it is final.
func (c *apiClient) waitRunDone(id int64, within time.Duration) runView {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var r runView
		c.do("GET", fmt.Sprintf("/api/v1/runs/%d", id), nil, &r, 200)
		if r.Status != store.RunQueued && r.Status != store.RunRunning {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %d still %s after %s", id, r.Status, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A backup taken with `orderimport backup` while serve is in the middle of a first import,
// restored into a fresh directory next to a copy of the key file: the copy is consistent (its
// orders are exactly the pages its run had committed, each as RetailCRM has it), and the
// service started on it finishes the import exactly.
func TestBackupMidImportRestores(t *testing.T) {
	const tz = "Europe/Moscow"
	crm := newCRMAccount(t, 0, 4000, 10)
	live := filepath.Join(t.TempDir(), "shop.db")
	s := serveSQLite(t, live, true, "")

	var counter struct{ ID int64 }
	s.api.do("POST", "/api/v1/counters", map[string]any{"name": "Shop", "timezone": tz}, &counter, 201)
	var task struct{ ID int64 }
	s.api.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), map[string]any{
		"name": "Заказы", "active": false, "type": "retailcrm", "frequency_hours": 1,
		"retailcrm": map[string]any{"url": crm.url, "api_key": crm.key, "rate_limit": 8},
	}, &task, 201)
	var run runView
	s.api.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &run, 202)
	deadline := time.Now().Add(2 * time.Minute)
	for run.Pages < 5 {
		s.api.do("GET", fmt.Sprintf("/api/v1/runs/%d", run.ID), nil, &run, 200)
		if run.Status != store.RunQueued && run.Status != store.RunRunning || time.Now().After(deadline) {
			t.Fatalf("the first run did not get under way: %+v", run)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The backup, while the import goes on.
	backup := filepath.Join(t.TempDir(), "nightly.db")
	var out, errOut bytes.Buffer
	if code := run_([]string{"backup", "-db", "sqlite:" + live, "-out", backup}, &out, &errOut); code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	keyFile := strings.TrimSuffix(live, ".db") + ".key"
	if !strings.Contains(out.String(), "key file "+keyFile) || !strings.Contains(out.String(), "NOT in the backup") {
		t.Errorf("the backup does not remind of the key file %s:\n%s", keyFile, out.String())
	}
	var after runView
	s.api.do("GET", fmt.Sprintf("/api/v1/runs/%d", run.ID), nil, &after, 200)
	if after.Status != store.RunRunning {
		t.Fatalf("the import was not under way any more when the backup was done: %+v", after)
	}
	s.stop()

	// Restore: the backup as the database of a fresh directory, the key file beside it under
	// the database's name.
	dir := t.TempDir()
	restored := filepath.Join(dir, "restored.db")
	copyFile(t, backup, restored)
	copyFile(t, keyFile, filepath.Join(dir, "restored.key"))

	// Consistent as it is: the copy's run counted exactly the orders the copy holds, and each
	// of them is as RetailCRM has it.
	db, err := sql.Open("sqlite", "file:"+restored+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var snapshot runView
	var stored int64
	if err := db.QueryRow(`SELECT status, pages, created FROM runs WHERE id = $1`, run.ID).Scan(&snapshot.Status, &snapshot.Pages, &snapshot.Created); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM orders`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	db.Close()
	want := crm.expected(t, tz)
	if snapshot.Status != store.RunRunning || snapshot.Pages < 5 || stored != snapshot.Created || int(stored) >= len(want) {
		t.Fatalf("the backup holds %d orders and a run %+v; want the orders its committed pages created, mid-import", stored, snapshot)
	}

	r := serveSQLite(t, restored, false, s.api.token)
	got := r.api.csv(counter.ID)
	byID := map[string]string{}
	for _, w := range want {
		byID[w[0]] = strings.Join(w, "|")
	}
	for _, g := range got {
		if byID[g[0]] != strings.Join(g, "|") {
			t.Fatalf("the restored order %s is %q, RetailCRM has %q", g[0], g, byID[g[0]])
		}
	}

	// The restored service resumes the interrupted import by itself; the run after it is exact.
	var runs struct{ Runs []runView }
	deadline = time.Now().Add(3 * time.Minute)
	for {
		r.api.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &runs, 200)
		if len(runs.Runs) > 0 && runs.Runs[0].Status != store.RunQueued && runs.Runs[0].Status != store.RunRunning && runs.Runs[0].ID != run.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restored service did not finish the interrupted import: %+v", runs.Runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := runs.Runs[0].Status; st != store.RunSucceeded && st != store.RunSucceededWithWarnings {
		t.Fatalf("the resumed import: %+v", runs.Runs[0])
	}
	var next runView
	r.api.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &next, 202)
	if next = r.api.waitRunDone(next.ID, 2*time.Minute); next.Status != store.RunSucceeded && next.Status != store.RunSucceededWithWarnings {
		t.Fatalf("the next run after the restore: %+v", next)
	}
	compareRows(t, task.ID, r.api.csv(counter.ID), want)
	t.Logf("backup taken at page %d of the first run (%d orders stored); restored, resumed (%s) and completed: %d orders exact",
		snapshot.Pages, stored, runs.Runs[0].Status, len(want))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The backup refuses PostgreSQL (pg_dump is the tool there) and a target that is the database.
func TestBackupRefuses(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run_([]string{"backup", "-db", "postgres://u@127.0.0.1:1/db", "-out", filepath.Join(t.TempDir(), "x")}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "pg_dump") {
		t.Errorf("PostgreSQL: exit %d, %q; want 2 and the advice to use pg_dump", code, errOut.String())
	}
	live := filepath.Join(t.TempDir(), "shop.db")
	s := serveSQLite(t, live, true, "")
	errOut.Reset()
	if code := run_([]string{"backup", "-db", live, "-out", live}, &out, &errOut); code != 2 {
		t.Errorf("-out the database itself: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run_([]string{"backup", "-db", live, "-out", live + "-wal"}, &out, &errOut); code != 2 {
		t.Errorf("-out the database's WAL: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run_([]string{"backup", "-db", live}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "-out") {
		t.Errorf("no -out: exit %d, %q", code, errOut.String())
	}
	s.stop()
}

// run_ is the command line without stdin.
func run_(args []string, stdout, stderr io.Writer) int {
	return run(args, strings.NewReader(""), stdout, stderr)
}
