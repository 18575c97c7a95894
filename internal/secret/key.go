// Package secret seals stored RetailCRM API keys with AES-256-GCM and keeps
// them out of logs.
//
// A sealed value names the key that sealed it ("v1.<keyID>.<data>"), so the
// master key can be rotated: a Keyring seals under its primary key and still
// opens values sealed under the older keys it is given.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Key is a 256-bit master key. Its bytes never leave the package: printing a
// Key (any fmt verb, slog) shows only its ID.
type Key struct {
	// ID names the key inside sealed values. It is derived from the key
	// material, so the same key always has the same ID, and it reveals nothing
	// about the key.
	ID    string
	bytes [32]byte
}

// keyIDLabel separates key-id hashing from any other use of SHA-256 over the
// same bytes.
const keyIDLabel = "orderimport secret key id v1\x00"

func newKey(b [32]byte) Key {
	sum := sha256.Sum256(append([]byte(keyIDLabel), b[:]...))
	return Key{ID: hex.EncodeToString(sum[:4]), bytes: b}
}

// ParseKey decodes a key given as base64 of exactly 32 bytes: standard or URL
// alphabet, padded or not, surrounding white space ignored. Its errors name
// ORDERIMPORT_SECRET_KEY, the variable the key is normally typed into, and
// never repeat the input.
func ParseKey(b64 string) (Key, error) {
	k, err := decodeKey(b64)
	if err != nil {
		return Key{}, fmt.Errorf("ORDERIMPORT_SECRET_KEY: %w", err)
	}
	return k, nil
}

func decodeKey(b64 string) (Key, error) {
	s := strings.TrimRight(strings.TrimSpace(b64), "=")
	if s == "" {
		return Key{}, errors.New("must be base64 of 32 bytes, got nothing (make one with: head -c 32 /dev/urandom | base64)")
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	raw, err := enc.DecodeString(s)
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return Key{}, fmt.Errorf("must be base64 of 32 bytes: not valid base64 (bad character at position %d)", int64(corrupt))
		}
		return Key{}, errors.New("must be base64 of 32 bytes: not valid base64")
	}
	if len(raw) != 32 {
		return Key{}, fmt.Errorf("must be base64 of 32 bytes, got %d (make one with: head -c 32 /dev/urandom | base64)", len(raw))
	}
	return newKey([32]byte(raw)), nil
}

// GenerateKey returns a new random key.
func GenerateKey() (Key, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Key{}, fmt.Errorf("secret: generate key: %w", err)
	}
	return newKey(b), nil
}

// Base64 returns the key in standard padded base64, the form ParseKey and
// key files take.
func (k Key) Base64() string {
	return base64.StdEncoding.EncodeToString(k.bytes[:])
}

// String shows the key id only.
func (k Key) String() string {
	return "secret.Key(" + k.ID + ")"
}

// Format makes every fmt verb print String: without it %d or %x on a Key
// would print its bytes.
func (k Key) Format(f fmt.State, _ rune) {
	io.WriteString(f, k.String())
}

// LogValue keeps the key bytes out of structured logs.
func (k Key) LogValue() slog.Value {
	return slog.StringValue(k.ID)
}

// maxKeyFile bounds what LoadOrCreateKeyFile reads: a key file is one line.
const maxKeyFile = 1024

// LoadOrCreateKeyFile reads the key in the file at path or, when there is no
// such file, creates it with a new key and mode 0600 (the directory must
// exist) and reports created. A file that grants any access to group or
// others is refused: whoever reads it can open every stored CRM key.
//
// Creation is atomic: the key is written and synced under a temporary name,
// then linked into place, so a concurrent starter either wins or reads the
// winner's complete key, never an empty file.
func LoadOrCreateKeyFile(path string) (Key, bool, error) {
	k, err := readKeyFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Key{}, false, err
	}
	k, err = GenerateKey()
	if err != nil {
		return Key{}, false, err
	}
	won, err := createKeyFile(path, k)
	if err != nil {
		return Key{}, false, err
	}
	if !won {
		k, err = readKeyFile(path)
		return k, false, err
	}
	return k, true, nil
}

func readKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Key{}, err
		}
		return Key{}, fmt.Errorf("secret: open key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return Key{}, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("secret: key file %s has mode %#o: anyone in its group or other users can read or change the key that protects the stored CRM keys; make it private with: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("secret: read key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return Key{}, fmt.Errorf("secret: key file %s: must hold base64 of 32 bytes, the file is larger than %d bytes", path, maxKeyFile)
	}
	k, err := decodeKey(string(b))
	if err != nil {
		return Key{}, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	return k, nil
}

// createKeyFile writes k to path unless a file appeared there meanwhile, in
// which case it reports won=false and leaves that file alone.
func createKeyFile(path string, k Key) (won bool, err error) {
	dir := filepath.Dir(path)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return false, fmt.Errorf("secret: create key file %s: directory %s does not exist", path, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("secret: create key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod states it rather than relying on it.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("secret: create key file %s: %w", path, err)
	}
	if _, err := io.WriteString(tmp, k.Base64()+"\n"); err != nil {
		tmp.Close()
		return false, fmt.Errorf("secret: write key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("secret: write key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("secret: write key file %s: %w", path, err)
	}
	// Link, unlike Rename, never replaces an existing file.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("secret: create key file %s: %w", path, err)
	}
	// Losing the key loses every stored CRM key: make the new name durable.
	d, err := os.Open(dir)
	if err != nil {
		return false, fmt.Errorf("secret: sync directory of key file %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return false, fmt.Errorf("secret: sync directory of key file %s: %w", path, err)
	}
	return true, nil
}
