package secret

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRotateKeyFileKeepsEveryOlderKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderimport.key")
	first, _, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, old, err := LoadKeyFiles(path); err != nil || p != first || len(old) != 0 {
		t.Fatalf("before any rotation: %s %v %v", p, old, err)
	}
	aad := []byte("import_task:1")
	sealed, _ := NewKeyring(first).Seal([]byte("crm-key-sealed-first"), aad)

	second, old, err := RotateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || len(old) != 1 || old[0] != first {
		t.Fatalf("first rotation: new %s, old %v", second, old)
	}
	third, old, err := RotateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 2 || old[0] != second || old[1] != first {
		t.Fatalf("second rotation keeps newest first: %v", old)
	}
	p, loaded, err := LoadKeyFiles(path)
	if err != nil || p != third || len(loaded) != 2 {
		t.Fatalf("loaded %s %v %v", p, loaded, err)
	}
	if got, err := NewKeyring(p, loaded...).Open(sealed, aad); err != nil || string(got) != "crm-key-sealed-first" {
		t.Fatalf("a value sealed two rotations ago: %q %v", got, err)
	}
	for _, f := range []string{path, OldKeysPath(path)} {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", f, info.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestLoadKeyFilesRefusesSharedOrBrokenOldKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "orderimport.key")
	if _, _, err := LoadKeyFiles(path); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing key file: %v", err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	k := testKey(t, 9)
	if err := os.WriteFile(OldKeysPath(path), []byte(k.Base64()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(OldKeysPath(path), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadKeyFiles(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("old keys readable by others: %v", err)
	}
	if err := os.WriteFile(OldKeysPath(path), []byte(k.Base64()+"\n\nnot-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(OldKeysPath(path), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadKeyFiles(path)
	if err == nil || !strings.Contains(err.Error(), "line 3") || strings.Contains(err.Error(), "not-a-key") {
		t.Fatalf("broken line: %v; want the line number and not its text", err)
	}
}

func TestLockKeyFileIsExclusive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderimport.key")
	unlock, err := LockKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockKeyFile(path); err == nil || !strings.Contains(err.Error(), "another key rotation") {
		t.Fatalf("second lock while held: %v", err)
	}
	unlock()
	again, err := LockKeyFile(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

// A process started before a rotation follows it: it seals under the new key as soon as the
// files say so, and opens values another process sealed under a key it has not seen yet.
func TestReloadingKeyringFollowsRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderimport.key")
	if _, _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	var loads atomic.Int64
	running, err := NewReloadingKeyring(func() (Key, []Key, error) {
		loads.Add(1)
		return LoadKeyFiles(path)
	})
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("acc:1")
	before, err := running.Seal([]byte("crm-key-before-rotation"), aad)
	if err != nil {
		t.Fatal(err)
	}

	// Another process rotates and seals a value under the new key.
	next, old, err := RotateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	other := NewKeyring(next, old...)
	fromOther, _ := other.Seal([]byte("crm-key-from-the-other"), aad)

	loads.Store(0)
	if got, err := running.Open(fromOther, aad); err != nil || string(got) != "crm-key-from-the-other" {
		t.Fatalf("value sealed under the new key by another process: %q %v", got, err)
	}
	if loads.Load() != 1 {
		t.Errorf("an unknown key id made %d reloads, want 1", loads.Load())
	}
	if running.NeedsReseal(before) != true || running.Refresh() != nil || running.NeedsReseal(fromOther) {
		t.Error("after Refresh a value under the new key needs no reseal")
	}
	if got, err := running.Open(before, aad); err != nil || string(got) != "crm-key-before-rotation" {
		t.Fatalf("value from before the rotation: %q %v", got, err)
	}
	after, err := running.Seal([]byte("crm-key-after-rotation"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := running.KeyID(after); id != next.ID || running.Primary() != next {
		t.Errorf("sealed under %s after the rotation, want the new key %s", id, next.ID)
	}

	// Keys that cannot be read stop sealing (with the reason) but not opening what is known.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := running.Seal([]byte("crm-key-while-broken"), aad); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("seal with an unreadable key file: %v", err)
	}
	if _, err := running.Open(after, aad); err != nil {
		t.Errorf("open a known key's value while the file is unreadable: %v", err)
	}
	unknown, _ := NewKeyring(testKey(t, 77)).Seal([]byte("crm-key-nobody-knows"), aad)
	if _, err := running.Open(unknown, aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestKeyringRemembersRecentSecrets(t *testing.T) {
	t.Parallel()
	r := NewKeyring(testKey(t, 3))
	aad := []byte("a")
	s1, _ := r.Seal([]byte("first-secret-value"), aad)
	r.Remember("typed-secret-value")
	r.Remember("short") // below MinRedacted: would blank out ordinary words in logs
	fresh := NewKeyring(testKey(t, 3))
	if _, err := fresh.Open(s1, aad); err != nil {
		t.Fatal(err)
	}
	if got := r.Recent(); len(got) != 2 || got[0] != "typed-secret-value" || got[1] != "first-secret-value" {
		t.Errorf("Recent = %q", got)
	}
	if got := fresh.Recent(); len(got) != 1 || got[0] != "first-secret-value" {
		t.Errorf("an opened value is remembered: %q", got)
	}
	for i := range maxRecent + 10 {
		r.Remember(strings.Repeat("x", 10) + string(rune('a'+i%26)) + strings.Repeat("y", i))
	}
	if n := len(r.Recent()); n != maxRecent {
		t.Errorf("%d remembered, want at most %d", n, maxRecent)
	}
}

func TestAlarmedRedactingHandlerCountsEveryRedaction(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	var hits int
	h := NewAlarmedRedactingHandler(slog.NewTextHandler(&buf, nil), func() []string { return []string{apiKey} },
		func() { mu.Lock(); hits++; mu.Unlock() })
	log := slog.New(h)
	log.Info("clean", "n", 1)
	log.With("k", "v").Info("clean too")
	if hits != 0 {
		t.Fatalf("%d alarms for clean records", hits)
	}
	log.Info("x", "err", errors.New("bad "+apiKey))
	log.With("key", apiKey).Info("clean message, dirty attribute")
	log.Info("message with " + apiKey)
	if hits != 3 {
		t.Errorf("%d alarms, want 3", hits)
	}
	if strings.Contains(buf.String(), apiKey) {
		t.Errorf("secret in output: %s", buf.String())
	}
}
