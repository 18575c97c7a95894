package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"orderimport/internal/config"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// backupCmd writes a consistent copy of the embedded (SQLite) database, safe to run while
// `serve` imports. PostgreSQL has its own tools for that, which the command names.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	dbFlag := fs.String("db", "", "the database to copy: sqlite:PATH or a file path (env "+config.EnvDB+", default "+config.DefaultDB+")")
	out := fs.String("out", "", "the file to write the backup to (replaced if it exists)")
	if err := parse(fs, args); err != nil {
		return err
	}
	dbText := strings.TrimSpace(*dbFlag)
	if dbText == "" {
		dbText = strings.TrimSpace(os.Getenv(config.EnvDB))
	}
	if dbText == "" {
		dbText = config.DefaultDB
	}
	loc, err := store.ParseLocation(dbText)
	if err != nil {
		return &config.UsageError{Msg: "-db / " + config.EnvDB + ": " + err.Error()}
	}
	if loc.Engine == store.Postgres {
		return &config.UsageError{Msg: "the database is PostgreSQL: back it up with PostgreSQL's own tools, e.g. `pg_dump -Fc -f orderimport.dump \"$ORDERIMPORT_DB\"` (docs/DEPLOY.md, Backup and restore)"}
	}
	if strings.TrimSpace(*out) == "" {
		return &config.UsageError{Msg: "-out is required: the file to write the backup to"}
	}
	if info, err := os.Stat(loc.Path); err != nil || !info.Mode().IsRegular() {
		return fmt.Errorf("no SQLite database at %s", loc.Path)
	}
	st, err := store.Open(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	b, err := st.Backup(ctx, *out)
	if errors.Is(err, store.ErrBackupTarget) {
		return &config.UsageError{Msg: "-out: " + store.ErrBackupTarget.Error()}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s: %d bytes, schema version %d, %d orders\n", b.Path, b.Bytes, b.SchemaVersion, b.Orders)
	printKeyReminder(stdout, config.Config{DB: loc})
	return nil
}

// printKeyReminder says which key opens the RetailCRM keys stored in the backup: the backup
// holds them sealed, and a backup restored without its key makes every task ask for its key
// again. The key is not copied into the backup on purpose: a backup kept elsewhere must not
// carry what opens it.
func printKeyReminder(w io.Writer, cfg config.Config) {
	if os.Getenv(config.EnvSecretKey) != "" {
		fmt.Fprintf(w, "\nThe RetailCRM keys stored in it are sealed with %s: keep that key (and %s, if set) where you keep the backup's secrets; a restore needs it.\n",
			config.EnvSecretKey, config.EnvSecretKeyOld)
		return
	}
	keyFile := cfg.KeyFilePath()
	fmt.Fprintf(w, "\nThe RetailCRM keys stored in it are sealed with the key file %s, which is NOT in the backup.\n", keyFile)
	if _, err := os.Stat(secret.OldKeysPath(keyFile)); err == nil {
		fmt.Fprintf(w, "Keep a copy of it and of %s (the keys replaced by rotations) apart from the backup: a restore needs them.\n", secret.OldKeysPath(keyFile))
	} else {
		fmt.Fprintln(w, "Keep a copy of it apart from the backup: a restore needs it.")
	}
	fmt.Fprintln(w, "To restore: stop serve, remove the database's -wal and -shm files, copy the backup to the database's path next to its key file, start serve (docs/DEPLOY.md).")
}
