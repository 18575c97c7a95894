package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// A new database gets pages of sqlitePageSize; one made with SQLite's default keeps its own
// (and a writer threshold of 64 MB of them) until a backup of it, which has pages of
// sqlitePageSize, is restored.
func TestPageSizeOfNewAndOldDatabases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pageSize := func(t *testing.T, db *sql.DB) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	fresh, err := Open(ctx, Location{Engine: SQLite, Path: filepath.Join(dir, "new.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pageSize(t, fresh.w); n != sqlitePageSize {
		t.Errorf("a new database has pages of %d bytes, want %d", n, sqlitePageSize)
	}
	fresh.Close()

	// A database of an earlier release: 4 KB pages, in WAL mode, with a table already.
	oldPath := filepath.Join(dir, "old.db")
	raw, err := sql.Open("sqlite", "file:"+oldPath+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE earlier (x TEXT)`); err != nil {
		t.Fatal(err)
	}
	if n := pageSize(t, raw); n != 4096 {
		t.Fatalf("the old database was made with %d-byte pages", n)
	}
	raw.Close()
	old, err := Open(ctx, Location{Engine: SQLite, Path: oldPath})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var threshold int
	if err := old.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&threshold); err != nil || threshold != writerCheckpointBytes/4096 {
		t.Errorf("the old database's writer checkpoints after %d pages (%v), want %d", threshold, err, writerCheckpointBytes/4096)
	}
	if _, err := old.w.ExecContext(ctx, `INSERT INTO earlier (x) VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	if n := pageSize(t, old.w); n != 4096 {
		t.Errorf("opening the old database changed its pages to %d bytes", n)
	}

	info, err := old.Backup(ctx, filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	if n := pageSize(t, old.w); n != 4096 {
		t.Errorf("a backup changed the database's pages to %d bytes", n)
	}
	if _, err := old.w.ExecContext(ctx, `INSERT INTO earlier (x) VALUES ('after the backup')`); err != nil {
		t.Fatalf("write after the backup: %v", err)
	}
	restored, err := Open(ctx, Location{Engine: SQLite, Path: info.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if n := pageSize(t, restored.w); n != sqlitePageSize {
		t.Errorf("the backup has pages of %d bytes, want %d", n, sqlitePageSize)
	}
	var x string
	if err := restored.r.QueryRowContext(ctx, `SELECT x FROM earlier`).Scan(&x); err != nil || x != "kept" {
		t.Errorf("the backup holds %q (%v)", x, err)
	}
	if v, err := restored.Migrate(ctx); err != nil || v != info.SchemaVersion {
		t.Errorf("the backup migrated to version %d (%v), it was at %d", v, err, info.SchemaVersion)
	}
}
