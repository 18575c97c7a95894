package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orderimport/internal/config"
	"orderimport/internal/pgtest"
	"orderimport/internal/secret"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// `orderimport migrate -from sqlite:PATH -db postgres://…` moves an embedded installation:
// without ORDERIMPORT_SECRET_KEY it reads the installation's key file and says how to pass the
// key on; it prints every table's rows and checksum as verified; the copied task's key opens
// with that key; a second run into the filled database is refused; a wrong key copies nothing.
func TestMigrateFromSQLite(t *testing.T) {
	pgtest.ServerURL(t)
	t.Setenv(config.EnvSecretKey, "")
	t.Setenv(config.EnvSecretKeyOld, "")
	t.Setenv(config.EnvDB, "")
	ctx := context.Background()

	// An embedded installation as `serve` leaves it: a database and its key file.
	dbPath := filepath.Join(t.TempDir(), "orderimport.db")
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: dbPath}}
	kr, created, err := cfg.Keyring()
	if err != nil || !created {
		t.Fatalf("key file: %v %v", created, err)
	}
	src, err := store.Open(ctx, cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, _, err := src.AddUser(ctx, "shop@example.com", "correct horse battery", "", false)
	if err != nil {
		t.Fatal(err)
	}
	counter, err := src.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _, err := (&tasks.Keys{Keyring: kr}).Seal(u.AccountID, "the-retailcrm-api-key")
	if err != nil {
		t.Fatal(err)
	}
	task, err := src.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: counter.ID, Name: "Заказы", Active: true, Type: "retailcrm",
		FrequencyHours: 1, CRMURL: "https://shop.retailcrm.ru", CRMKeySealed: sealed, CRMKeyHint: "…-key", RateLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()

	target, db := freshSchema(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"migrate", "-from", "sqlite:" + dbPath, "-db", target}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("migrate -from: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Log(out)
	for _, tbl := range store.CopyTables {
		if !strings.Contains(out, tbl.Name) {
			t.Errorf("the report does not mention table %s", tbl.Name)
		}
	}
	if strings.Contains(out, "MISMATCH") || strings.Count(out, "verified") != len(store.CopyTables) {
		t.Errorf("not every table verified:\n%s", out)
	}
	keyFile := cfg.KeyFilePath()
	if !strings.Contains(out, config.EnvSecretKey+`="$(cat `+keyFile+`)"`) {
		t.Errorf("the report does not tell how to pass the key file on:\n%s", out)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+stderr.String(), strings.TrimSpace(string(key))) {
		t.Error("the secret key itself was printed")
	}

	// The copy works with the key file's key: the task's RetailCRM key opens.
	dst, err := store.Open(ctx, store.Location{Engine: store.Postgres, URL: target})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.Task(ctx, u.AccountID, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := secret.ParseKey(string(key))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := (&tasks.Keys{Keyring: secret.NewKeyring(k)}).OpenKey(got); err != nil || plain != "the-retailcrm-api-key" {
		t.Fatalf("the copied key does not open: %v", err)
	}
	var riverTables int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'river_job'`).Scan(&riverTables); err != nil || riverTables != 1 {
		t.Errorf("the target's job queue tables are missing (%v)", err)
	}

	// Into a database that holds data: refused.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"migrate", "-from", "sqlite:" + dbPath, "-db", target}, strings.NewReader(""), &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "not empty") {
		t.Errorf("a copy into a filled database: exit %d, %s", code, stderr.String())
	}

	// With a key that is not the installation's: nothing copied.
	other, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvSecretKey, other.Base64())
	empty, _ := freshSchema(t)
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"migrate", "-from", "sqlite:" + dbPath, "-db", empty}, strings.NewReader(""), &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "do not open") || !strings.Contains(stderr.String(), "nothing was copied") {
		t.Errorf("a copy with the wrong key: exit %d, %s", code, stderr.String())
	}

	// Usage mistakes are exit 2.
	for _, args := range [][]string{
		{"migrate", "-from", "postgres://x/y", "-db", target},
		{"migrate", "-from", "sqlite:" + dbPath, "-db", "sqlite:other.db"},
	} {
		stderr.Reset()
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr.String())
		}
	}
}
