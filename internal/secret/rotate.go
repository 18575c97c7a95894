package secret

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// OldKeysPath is the file beside the key file at path that keeps the keys a
// rotation replaced, newest first, one base64 key per line: values sealed
// before the rotation (in backups, or written by a process that had not yet
// noticed it) still open with them.
func OldKeysPath(path string) string { return path + ".old" }

// maxOldKeysFile bounds what LoadKeyFiles reads from the old keys file: a
// few hundred rotations' worth.
const maxOldKeysFile = 64 << 10

// LoadKeyFiles reads the primary key from the key file at path and the older
// keys from OldKeysPath(path); no old keys file means no older keys. Both
// files must be private to their owner, as LoadOrCreateKeyFile demands.
func LoadKeyFiles(path string) (Key, []Key, error) {
	primary, err := readKeyFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Key{}, nil, fmt.Errorf("secret: key file %s does not exist", path)
		}
		return Key{}, nil, err
	}
	old, err := readOldKeys(OldKeysPath(path))
	if err != nil {
		return Key{}, nil, err
	}
	return primary, old, nil
}

func readOldKeys(path string) ([]Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret: open old keys file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: old keys file %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: old keys file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secret: old keys file %s has mode %#o: anyone in its group or other users can read the keys that opened the stored CRM keys; make it private with: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOldKeysFile+1))
	if err != nil {
		return nil, fmt.Errorf("secret: read old keys file %s: %w", path, err)
	}
	if len(b) > maxOldKeysFile {
		return nil, fmt.Errorf("secret: old keys file %s is larger than %d bytes", path, maxOldKeysFile)
	}
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("secret: old keys file %s, line %d: %w", path, n, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// LockKeyFile takes an exclusive lock beside the key file at path (a
// ".lock" file, locked with flock, so a crashed holder releases it) and
// returns the function that releases it. Rotations hold it: two at once
// would each move "the current key" aside and one new key would be lost.
func LockKeyFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret: lock key file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("secret: another key rotation holds %s.lock; wait for it to finish", path)
		}
		return nil, fmt.Errorf("secret: lock key file: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// RotateKeyFile makes a new random key the primary key in the key file at
// path and moves the key it replaces to the front of OldKeysPath(path). It
// returns the new key and every older key. The caller holds LockKeyFile.
//
// The order survives a crash at any point: the old keys file is written
// first, so the current key is kept before the key file is replaced, and
// each file is written under a temporary name, synced and renamed into
// place. A process that reads the files at any moment gets a key set that
// opens every stored value.
func RotateKeyFile(path string) (Key, []Key, error) {
	current, old, err := LoadKeyFiles(path)
	if err != nil {
		return Key{}, nil, err
	}
	next, err := GenerateKey()
	if err != nil {
		return Key{}, nil, err
	}
	kept := []Key{current}
	for _, k := range old {
		if k != current && k != next {
			kept = append(kept, k)
		}
	}
	var b strings.Builder
	for _, k := range kept {
		b.WriteString(k.Base64() + "\n")
	}
	if err := replaceFile(OldKeysPath(path), b.String()); err != nil {
		return Key{}, nil, err
	}
	if err := replaceFile(path, next.Base64()+"\n"); err != nil {
		return Key{}, nil, err
	}
	return next, kept, nil
}

// replaceFile writes content to path atomically with mode 0600: a temporary
// file in the same directory, synced, renamed over path, the directory synced.
func replaceFile(path, content string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	if _, err := io.WriteString(tmp, content); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("secret: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("secret: sync directory of %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("secret: sync directory of %s: %w", path, err)
	}
	return nil
}
