package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// secretCmd rotates the key that seals the stored RetailCRM keys, while the service runs.
//
// With the key file of an SQLite installation: a new key becomes the primary key in the file,
// the replaced one moves to the .old file beside it; running processes read both files again
// when they meet a value under a key they do not know and before they seal, so they keep
// working throughout. With ORDERIMPORT_SECRET_KEY (PostgreSQL): the environment already names
// the new primary key and ORDERIMPORT_SECRET_KEY_OLD the old ones (docs/SECURITY.md has the
// rollout). Either way every stored key is then sealed anew under the primary key.
func secretCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return &config.UsageError{Msg: "usage: orderimport secret rotate [-db URL]"}
	}
	cfg, err := loadConfig("secret rotate", args[1:], false, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stderr)
	fileMode := cfg.SecretKey == ""
	if fileMode {
		path := cfg.KeyFilePath()
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no key file at %s: the database at %s has never been opened with one (set %s, or run serve once first)", path, cfg.DB.Path, config.EnvSecretKey)
		}
		unlock, err := secret.LockKeyFile(path)
		if err != nil {
			return err
		}
		defer unlock()
		next, old, err := secret.RotateKeyFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new primary key %s written to %s; the replaced key %s is kept in %s\n", next.ID, path, old[0].ID, secret.OldKeysPath(path))
	}
	a, err := app.New(ctx, cfg, log, app.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.Tasks.Keys.ResealKeys(ctx, a.Store)
	if err != nil {
		return err
	}
	primary := a.Keyring.Primary().ID
	a.Log.Info("secret rotation", "primary_key_id", primary, "keys", rep.Keys, "resealed", rep.Resealed, "remaining", rep.Remaining, "failed", len(rep.Failed))
	fmt.Fprintf(stdout, "stored RetailCRM keys: %d; sealed anew under key %s: %d; under key %s now: %d; under older keys: %d\n",
		rep.Keys, primary, rep.Resealed, primary, rep.Current, rep.Remaining)
	fmt.Fprintf(stdout, "stored trigger tokens and signing secrets: %d; sealed anew: %d; under key %s now: %d; under older keys: %d\n",
		rep.Secrets.Total, rep.Secrets.Resealed, primary, rep.Secrets.Current, rep.Secrets.Remaining)
	for _, f := range rep.Failed {
		what := fmt.Sprintf("%s of task %d", f.Kind, f.ID)
		switch f.Kind {
		case "crm_key":
			what = fmt.Sprintf("task %d", f.ID)
		case store.SecretWebhook:
			what = fmt.Sprintf("webhook %d", f.ID)
		case store.SecretAlertChannel:
			what = fmt.Sprintf("alert channel %d", f.ID)
		}
		fmt.Fprintf(stdout, "%s (account %d): cannot be opened: %s\n", what, f.AccountID, f.Reason)
	}
	totp, err := a.People.ResealTOTP(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stored TOTP secrets: %d; sealed anew: %d\n", totp.Secrets, totp.Resealed)
	for _, id := range totp.Failed {
		fmt.Fprintf(stdout, "user %d: the TOTP secret cannot be opened; the user turns two-factor authentication off with a recovery code and on again\n", id)
	}
	switch {
	case len(totp.Failed) > 0:
		return fmt.Errorf("%d stored TOTP secrets could not be opened with the keys given; add the key they were sealed under to %s and run again", len(totp.Failed), config.EnvSecretKeyOld)
	case len(rep.Failed) > 0:
		return fmt.Errorf("%d stored keys could not be opened with the keys given; add the key they were sealed under to %s and run again, or have their users enter them again", len(rep.Failed), config.EnvSecretKeyOld)
	case rep.Remaining+rep.Secrets.Remaining > 0:
		return fmt.Errorf("%d stored keys were saved under an older key while the rotation ran; run it again", rep.Remaining+rep.Secrets.Remaining)
	case fileMode:
		fmt.Fprintf(stdout, "no stored key needs an older key any more; keep %s as long as a backup of the database from before this rotation may be restored\n", secret.OldKeysPath(cfg.KeyFilePath()))
	default:
		fmt.Fprintf(stdout, "no stored key needs an older key any more; remove %s from every process's environment at its next restart\n", config.EnvSecretKeyOld)
	}
	return nil
}
