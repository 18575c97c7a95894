package pgtest_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"orderimport/internal/pgtest"
)

// A schema is the URL's search_path while the test runs and is gone when the test has ended.
func TestSchema(t *testing.T) {
	ctx := context.Background()
	var schema string
	t.Run("inside", func(t *testing.T) {
		db, err := sql.Open("pgx", pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "test_") {
			t.Fatalf("current_schema() = %q, want the test's own schema", schema)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE t (id int)"); err != nil {
			t.Fatal(err)
		}
	})
	db, err := sql.Open("pgx", pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s is still there after its test ended", schema)
	}
}
