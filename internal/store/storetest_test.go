package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// engines runs fn once per engine: SQLite always, PostgreSQL when ORDERIMPORT_TEST_POSTGRES
// holds a server URL (each test then gets a schema of its own; without one the postgres leg is
// skipped, see pgtest). One suite, every engine.
func engines(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		st := OpenSQLite(t)
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		st := OpenPostgres(t)
		fn(t, st)
	})
}

// OpenSQLite opens a migrated store in a temp directory.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// OpenPostgres opens a migrated store in a schema of the test's own on the test server.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.Postgres, URL: pgtest.Schema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}
