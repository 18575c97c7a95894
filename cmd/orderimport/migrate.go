package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/jobs"
	"orderimport/internal/secret"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	resolve := config.Flags(fs, false)
	from := fs.String("from", "", "copy the embedded installation at sqlite:PATH into the PostgreSQL database of -db")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from != "" {
		return migrateFrom(ctx, *from, fs.Lookup("db").Value.String(), stdout, stderr)
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	a, err := app.New(ctx, cfg, log, app.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// migrateFrom moves an embedded installation to PostgreSQL: it checks that the secret key
// opens every stored RetailCRM key, migrates both databases to this version's schema, copies
// every table with its ids, verifies counts and checksums per table and settles the runs the
// stopped installation left in flight. The SQLite database is left as it was (apart from
// its schema version), so going back is possible until PostgreSQL takes writes.
func migrateFrom(ctx context.Context, fromText, dbFlag string, stdout, stderr io.Writer) error {
	srcLoc, err := store.ParseLocation(fromText)
	if err != nil || srcLoc.Engine != store.SQLite {
		return &config.UsageError{Msg: "-from must name the embedded installation's database: sqlite:PATH"}
	}
	dstText := strings.TrimSpace(dbFlag)
	if dstText == "" {
		dstText = strings.TrimSpace(os.Getenv(config.EnvDB))
	}
	dstLoc, err := store.ParseLocation(dstText)
	if err != nil || dstLoc.Engine != store.Postgres {
		return &config.UsageError{Msg: "-db (or " + config.EnvDB + ") must name the PostgreSQL database to copy into: postgres://…"}
	}
	if info, err := os.Stat(srcLoc.Path); err != nil || !info.Mode().IsRegular() {
		return fmt.Errorf("no SQLite database at %s", srcLoc.Path)
	}
	kr, keyFile, err := migrationKeyring(srcLoc)
	if err != nil {
		return err
	}

	src, err := store.Open(ctx, srcLoc)
	if err != nil {
		return err
	}
	defer src.Close()
	// The same schema on both sides: the embedded installation is brought to this version's
	// schema first, as `serve` of this version would on start.
	if _, err := src.Migrate(ctx); err != nil {
		return err
	}
	oldKeys, err := checkSealedKeys(ctx, src, kr, keyFile)
	if err != nil {
		return err
	}

	dst, err := store.Open(ctx, dstLoc)
	if err != nil {
		return err
	}
	defer dst.Close()
	if _, err := dst.Migrate(ctx); err != nil {
		return err
	}
	if err := jobs.Migrate(ctx, dst); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "%-14s %10s  %s\n", "table", "rows", "sha-256 of the rows")
	copied, err := store.CopyInstallation(ctx, src, dst, func(c store.TableCopy) {
		verdict := "verified"
		if !c.Verified() {
			verdict = fmt.Sprintf("MISMATCH: %d rows, sha-256 %s in PostgreSQL", c.TargetRows, c.Target)
		}
		fmt.Fprintf(stdout, "%-14s %10d  %s  %s\n", c.Table, c.Rows, c.Source, verdict)
	})
	if errors.Is(err, store.ErrTargetNotEmpty) {
		return fmt.Errorf("%w; copy into a new, empty database (nothing was copied)", err)
	}
	if err != nil {
		return fmt.Errorf("%w\nthe copy stopped half-way: drop and recreate the PostgreSQL database, then run the command again", err)
	}
	var rows int64
	var bad []string
	for _, c := range copied {
		rows += c.Rows
		if !c.Verified() {
			bad = append(bad, c.Table)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the copy does not match the source in %s: do not use the PostgreSQL database; drop and recreate it and report this", strings.Join(bad, ", "))
	}
	settled, err := dst.SettleCopiedRuns(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ncopied %d rows in %d tables; every table has the same rows and checksum in PostgreSQL as in SQLite\n", rows, len(copied))
	if settled > 0 {
		fmt.Fprintf(stdout, "%d runs the embedded installation had queued or running are marked interrupted; their tasks resume from their checkpoints at their next run\n", settled)
	}
	switch {
	case keyFile != "":
		fmt.Fprintf(stdout, "\nThe stored RetailCRM keys are sealed with the key in %s. Every process on PostgreSQL needs it:\n  export %s=\"$(cat %s)\"\n",
			keyFile, config.EnvSecretKey, keyFile)
		if oldKeys > 0 {
			fmt.Fprintf(stdout, "%d of them are sealed with an older key from %s; give the older keys as well:\n  export %s=\"$(paste -sd, %s)\"\n",
				oldKeys, secret.OldKeysPath(keyFile), config.EnvSecretKeyOld, secret.OldKeysPath(keyFile))
		}
	default:
		fmt.Fprintf(stdout, "\nEvery process on PostgreSQL needs the %s this command was given", config.EnvSecretKey)
		if oldKeys > 0 {
			fmt.Fprintf(stdout, " and the %s (%d keys are sealed with an older key)", config.EnvSecretKeyOld, oldKeys)
		}
		fmt.Fprintln(stdout, ".")
	}
	return nil
}

// migrationKeyring is the key the PostgreSQL processes will use: ORDERIMPORT_SECRET_KEY when
// it is set, otherwise the embedded installation's key file (whose path is returned, so the
// user can be told to pass its key on).
func migrationKeyring(src store.Location) (*secret.Keyring, string, error) {
	var old []secret.Key
	for _, v := range strings.Split(os.Getenv(config.EnvSecretKeyOld), ",") {
		if strings.TrimSpace(v) == "" {
			continue
		}
		k, err := secret.ParseKey(v)
		if err != nil {
			return nil, "", &config.UsageError{Msg: config.EnvSecretKeyOld + ": " + err.Error()}
		}
		old = append(old, k)
	}
	if v := strings.TrimSpace(os.Getenv(config.EnvSecretKey)); v != "" {
		k, err := secret.ParseKey(v)
		if err != nil {
			return nil, "", &config.UsageError{Msg: err.Error()}
		}
		return secret.NewKeyring(k, old...), "", nil
	}
	path := config.Config{DB: src}.KeyFilePath()
	primary, fromFile, err := secret.LoadKeyFiles(path)
	if err != nil {
		return nil, "", fmt.Errorf("%s is not set and the embedded installation's key cannot be read (%w); set %s to the key it uses", config.EnvSecretKey, err, config.EnvSecretKey)
	}
	return secret.NewKeyring(primary, append(fromFile, old...)...), path, nil
}

// checkSealedKeys opens every stored RetailCRM key with the keyring before anything is
// copied: a copy whose keys PostgreSQL's processes cannot open would leave every task asking
// its user for the key again. It returns how many are sealed with an older key.
func checkSealedKeys(ctx context.Context, src *store.Store, kr *secret.Keyring, keyFile string) (int, error) {
	keys, err := src.SealedKeys(ctx)
	if err != nil {
		return 0, err
	}
	var failed []string
	old := 0
	for _, k := range keys {
		if _, err := (&tasks.Keys{Keyring: kr}).OpenKey(store.Task{ID: k.TaskID, AccountID: k.AccountID, CRMKeySealed: k.Sealed}); err != nil {
			failed = append(failed, fmt.Sprint(k.TaskID))
			continue
		}
		if kr.NeedsReseal(k.Sealed) {
			old++
		}
	}
	if len(failed) > 0 {
		given := "the key in " + config.EnvSecretKey
		if keyFile != "" {
			given = "the key file " + keyFile
		}
		return 0, fmt.Errorf("the RetailCRM keys of tasks %s do not open with %s; nothing was copied. Give %s the key the embedded installation uses (its key file is %s)",
			strings.Join(failed, ", "), given, config.EnvSecretKey, config.Config{DB: store.Location{Engine: store.SQLite, Path: src.Path()}}.KeyFilePath())
	}
	return old, nil
}
