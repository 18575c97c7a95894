package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BackupInfo describes a backup the store wrote.
type BackupInfo struct {
	Path          string
	Bytes         int64
	SchemaVersion int
	Orders        int64
}

// ErrBackupTarget is returned when the backup would overwrite the database it copies.
var ErrBackupTarget = errors.New("the backup file must not be the database itself or one of its files")

// Backup writes a consistent copy of an SQLite database to out while other processes (serve)
// keep reading and writing it. VACUUM INTO reads one snapshot, so the copy holds every
// transaction committed before it began and none after: each page of an import commits
// with its checkpoint, so the copy's orders and checkpoints agree. The copy is written beside
// out under a temporary name, checked (integrity_check) and synced, and only then renamed to
// out, so out is either the previous file or a complete new backup.
func (s *Store) Backup(ctx context.Context, out string) (BackupInfo, error) {
	if s.engine != SQLite {
		return BackupInfo{}, errors.New("store: backup: only an SQLite database is copied by the service; back PostgreSQL up with pg_dump")
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	if err := s.checkBackupTarget(abs); err != nil {
		return BackupInfo{}, err
	}
	dir := filepath.Dir(abs)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".partial-*")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: create a file in %s: %w", dir, err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()
	// The writer connection, as the read pool's query_only refuses VACUUM INTO; what it takes
	// of the database is a read transaction, so the writers of serve never wait for it.
	if _, err := s.w.ExecContext(ctx, `VACUUM INTO $1`, tmpPath); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: copy the database: %w", err)
	}
	info := BackupInfo{Path: abs}
	if info.SchemaVersion, info.Orders, err = checkBackup(ctx, tmpPath); err != nil {
		return BackupInfo{}, err
	}
	if err := syncFile(tmpPath); err != nil {
		return BackupInfo{}, err
	}
	if err := os.Rename(tmpPath, abs); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	done = true
	if err := syncFile(dir); err != nil {
		return BackupInfo{}, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	info.Bytes = st.Size()
	return info, nil
}

// checkBackupTarget refuses to write over the database or its journal files.
func (s *Store) checkBackupTarget(out string) error {
	target, err := os.Stat(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if f, err := os.Stat(s.path + suffix); err == nil && os.SameFile(f, target) {
			return fmt.Errorf("store: backup to %s: %w", out, ErrBackupTarget)
		}
	}
	if !target.Mode().IsRegular() {
		return fmt.Errorf("store: backup to %s: not a regular file", out)
	}
	return nil
}

// checkBackup opens a written copy read-only and checks it page by page, and reads its schema
// version and order count for the report.
func checkBackup(ctx context.Context, path string) (version int, orders int64, err error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, 0, fmt.Errorf("store: backup: open the copy: %w", err)
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check(1)`).Scan(&verdict); err != nil {
		return 0, 0, fmt.Errorf("store: backup: check the copy: %w", err)
	}
	if verdict != "ok" {
		return 0, 0, fmt.Errorf("store: backup: the copy fails its integrity check: %s", verdict)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, 0, fmt.Errorf("store: backup: read the copy's schema version: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&orders); err != nil {
		return 0, 0, fmt.Errorf("store: backup: count the copy's orders: %w", err)
	}
	return version, orders, nil
}

// syncFile flushes a file (or a directory's entries) to the disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: backup: sync %s: %w", path, err)
	}
	return nil
}
