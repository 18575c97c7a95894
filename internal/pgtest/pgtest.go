// Package pgtest gives a test a throwaway PostgreSQL schema of its own on the test server named
// by ORDERIMPORT_TEST_POSTGRES, so that tests of several packages can share one server at once.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names the variable holding the test server's URL (a role that may create schemas),
// e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvURL = "ORDERIMPORT_TEST_POSTGRES"

// adminTimeout bounds creating and dropping a schema: a server that does not answer fails the
// test instead of hanging it.
const adminTimeout = 30 * time.Second

// ServerURL is the test server's URL. Without one the test is skipped, except under CI=true,
// where the PostgreSQL legs are part of what CI proves (.ci/run starts a server and sets the
// variable), so a missing server fails the test.
func ServerURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: .ci/run starts a throwaway PostgreSQL and sets it", EnvURL)
		}
		t.Skipf("%s is not set; skipping the PostgreSQL test (set it to a server URL to run it)", EnvURL)
	}
	return url
}

// Schema creates an empty, uniquely named schema on the test server, drops it with everything
// in it when the test ends, and returns the server URL with search_path set to that schema.
// Whatever the test opens on that URL must be closed by then (register its Cleanup after
// calling Schema: cleanups run last-registered first).
func Schema(t testing.TB) string {
	t.Helper()
	url := ServerURL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := exec(ctx, url, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := exec(ctx, url, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// exec runs one statement on a connection of its own to the server.
func exec(ctx context.Context, url, stmt string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}
