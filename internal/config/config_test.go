package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"orderimport/internal/secret"
)

func resolve(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	for _, k := range []string{EnvDB, EnvSecretKey, EnvSecretKeyOld, EnvAllowPrivate, EnvLogLevel, EnvWorkers, EnvRescueAfter, EnvDBMaxConns,
		EnvTrustedProxies, EnvSMTPURL, EnvSMTPFrom, EnvOIDCIssuer, EnvOIDCClientID, EnvOIDCClientSecret, EnvOIDCRedirectURL, EnvOIDCName} {
		t.Setenv(k, env[k])
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	r := Flags(fs, false)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return r()
}

func b64(fill byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32)) }

func TestOldSecretKeys(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	c, err := resolve(t, map[string]string{EnvDB: db, EnvSecretKey: b64(2), EnvSecretKeyOld: " " + b64(1) + " ,, " + b64(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.OldSecretKeys) != 2 {
		t.Fatalf("old keys %d, want 2", len(c.OldSecretKeys))
	}
	kr, created, err := c.Keyring()
	if err != nil || created {
		t.Fatalf("keyring: %v created %v", err, created)
	}
	oldKey, _ := secret.ParseKey(b64(1))
	sealed, _ := secret.NewKeyring(oldKey).Seal([]byte("crm-key-under-the-old-one"), []byte("a"))
	if got, err := kr.Open(sealed, []byte("a")); err != nil || string(got) != "crm-key-under-the-old-one" {
		t.Fatalf("the old key opens: %q %v", got, err)
	}
	if kr.Primary().ID == oldKey.ID {
		t.Fatal("an old key must never become the primary")
	}

	bad := "not-base64-but-secret-looking"
	_, err = resolve(t, map[string]string{EnvDB: db, EnvSecretKey: b64(2), EnvSecretKeyOld: b64(1) + "," + bad})
	if err == nil || !strings.Contains(err.Error(), EnvSecretKeyOld+": key 2") || strings.Contains(err.Error(), bad) {
		t.Fatalf("bad old key: %v; want the variable and position, never the value", err)
	}
}

// On SQLite without ORDERIMPORT_SECRET_KEY the keyring follows the key file and its .old file.
func TestKeyFileKeyringFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	c, err := resolve(t, map[string]string{EnvDB: "sqlite:" + filepath.Join(dir, "shop.db")})
	if err != nil {
		t.Fatal(err)
	}
	kr, created, err := c.Keyring()
	if err != nil || !created {
		t.Fatalf("first start: %v created %v", err, created)
	}
	if c.KeyFilePath() != filepath.Join(dir, "shop.key") {
		t.Fatalf("key file %s", c.KeyFilePath())
	}
	before, _ := kr.Seal([]byte("crm-key-before-rotation"), []byte("a"))
	next, _, err := secret.RotateKeyFile(c.KeyFilePath())
	if err != nil {
		t.Fatal(err)
	}
	after, err := kr.Seal([]byte("crm-key-after-rotation"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := kr.KeyID(after); id != next.ID {
		t.Errorf("a running keyring seals under %s after the rotation, want %s", id, next.ID)
	}
	restarted, created, err := c.Keyring()
	if err != nil || created {
		t.Fatalf("restart: %v created %v", err, created)
	}
	if got, err := restarted.Open(before, []byte("a")); err != nil || string(got) != "crm-key-before-rotation" {
		t.Errorf("after a restart the old key from the .old file opens: %q %v", got, err)
	}
}

func TestDBMaxConns(t *testing.T) {
	pg := "postgres://u@127.0.0.1:5432/db"
	c, err := resolve(t, map[string]string{EnvDB: pg, EnvSecretKey: b64(1)})
	if err != nil || c.DB.MaxConns != 0 {
		t.Fatalf("unset: %d %v; want 0 (the store's default)", c.DB.MaxConns, err)
	}
	c, err = resolve(t, map[string]string{EnvDB: pg, EnvSecretKey: b64(1), EnvDBMaxConns: " 5 "})
	if err != nil || c.DB.MaxConns != 5 {
		t.Fatalf("5: %d %v", c.DB.MaxConns, err)
	}
	for _, bad := range []string{"2", "0", "-1", "many", "1001"} {
		_, err := resolve(t, map[string]string{EnvDB: pg, EnvSecretKey: b64(1), EnvDBMaxConns: bad})
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), EnvDBMaxConns) {
			t.Errorf("%q: %v; want a usage error naming %s", bad, err, EnvDBMaxConns)
		}
	}
}

// The people-and-access settings: trusted proxies, mail and single sign-on each check what they
// are given, and go together where they must; their errors never repeat a password.
func TestPeopleSettings(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	oidc := map[string]string{EnvDB: db, EnvOIDCIssuer: "https://id.example.com/realms/shop", EnvOIDCClientID: "orderimport",
		EnvOIDCClientSecret: "s", EnvOIDCRedirectURL: "https://orders.example.com/auth/oidc/callback"}
	c, err := resolve(t, oidc)
	if err != nil || c.OIDC.Issuer == "" || c.OIDC.ClientSecret != "s" {
		t.Fatalf("single sign-on: %+v %v", c.OIDC, err)
	}
	for _, bad := range []map[string]string{
		{EnvOIDCIssuer: "https://id.example.com"},
		{EnvOIDCIssuer: "id.example.com", EnvOIDCClientID: "c", EnvOIDCRedirectURL: "https://orders.example.com/auth/oidc/callback"},
		{EnvOIDCIssuer: "https://id.example.com", EnvOIDCClientID: "c", EnvOIDCRedirectURL: "https://orders.example.com/callback"},
		{EnvSMTPURL: "smtp://mail.example.com"},
		{EnvSMTPURL: "smtp://u:hunter2@mail.example.com:0", EnvSMTPFrom: "a@example.com"},
		{EnvTrustedProxies: "10.0.0.0/8, proxy.example.com"},
	} {
		bad[EnvDB] = db
		_, err := resolve(t, bad)
		var ue *UsageError
		if err == nil || !errors.As(err, &ue) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: %v, want a usage error without the password", bad, err)
		}
	}
	c, err = resolve(t, map[string]string{EnvDB: db, EnvSMTPURL: "smtps://u:p@mail.example.com", EnvSMTPFrom: "Orders <a@example.com>",
		EnvTrustedProxies: "10.0.0.0/8,127.0.0.1"})
	if err != nil || c.SMTP.URL == "" || c.Proxies.String() != "10.0.0.0/8,127.0.0.1/32" {
		t.Fatalf("mail and proxies: %+v %v", c, err)
	}
}
