package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testKey(t *testing.T, fill byte) Key {
	t.Helper()
	k, err := ParseKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeyAcceptsEveryBase64Form(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(0xf8 + i) // high bytes, so std and URL alphabets differ
	}
	want := newKey([32]byte(raw))
	forms := map[string]string{
		"std padded":       base64.StdEncoding.EncodeToString(raw),
		"std raw":          base64.RawStdEncoding.EncodeToString(raw),
		"url padded":       base64.URLEncoding.EncodeToString(raw),
		"url raw":          base64.RawURLEncoding.EncodeToString(raw),
		"newline and tabs": "\t" + base64.StdEncoding.EncodeToString(raw) + "\n",
	}
	if forms["std raw"] == forms["url raw"] {
		t.Fatal("test data does not exercise both alphabets")
	}
	for name, s := range forms {
		k, err := ParseKey(s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if k != want {
			t.Errorf("%s: got key %s, want %s", name, k, want)
		}
		if k.Base64() != base64.StdEncoding.EncodeToString(raw) {
			t.Errorf("%s: Base64() = %q", name, k.Base64())
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{base64.StdEncoding.EncodeToString(make([]byte, 16)), "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes, got 16"},
		{base64.StdEncoding.EncodeToString(make([]byte, 33)), "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes, got 33"},
		{strings.Repeat("ab", 32), "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes, got 48"}, // hex instead of base64
		{"", "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes, got nothing"},
		{"   \n", "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes, got nothing"},
		{"not*base64!secretpart", "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes: not valid base64 (bad character at position 3)"},
		{"ab+-cd", "ORDERIMPORT_SECRET_KEY: must be base64 of 32 bytes: not valid base64"}, // mixed alphabets
	}
	for _, tt := range tests {
		_, err := ParseKey(tt.in)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseKey(%q) = %v, want error starting %q", tt.in, err, tt.want)
			continue
		}
		if len(strings.TrimSpace(tt.in)) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
			t.Errorf("ParseKey(%q) error repeats the input: %v", tt.in, err)
		}
	}
}

func TestKeyIDIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	a1, a2, b := testKey(t, 1), testKey(t, 1), testKey(t, 2)
	if a1.ID != a2.ID {
		t.Errorf("same key, different ids %q %q", a1.ID, a2.ID)
	}
	if a1.ID == b.ID {
		t.Errorf("different keys share id %q", a1.ID)
	}
	if !isKeyID(a1.ID) {
		t.Errorf("id %q is not 8 lower-case hex digits", a1.ID)
	}
	g1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if g1 == g2 || g1.ID == g2.ID {
		t.Error("two generated keys are equal")
	}
	back, err := ParseKey(g1.Base64())
	if err != nil || back != g1 {
		t.Errorf("ParseKey(Base64()) = %v, %v; want the same key", back, err)
	}
}

func TestKeyNeverPrintsItsBytes(t *testing.T) {
	t.Parallel()
	k := testKey(t, 0xab)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("k", "key", k)
	outputs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v", []Key{k}), fmt.Sprintf("%+v", struct{ K Key }{k}), logged.String(),
	}
	for _, out := range outputs {
		if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "171") ||
			strings.Contains(out, k.Base64()[:8]) {
			t.Errorf("printed key shows its bytes: %s", out)
		}
		if !strings.Contains(out, k.ID) && !strings.Contains(out, fmt.Sprintf("%x", k.ID)) {
			t.Errorf("printed key does not show its id: %s", out)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderimport.key")

	created, isNew, err := LoadOrCreateKeyFile(path)
	if err != nil || !isNew {
		t.Fatalf("first call = %v, created %v, want a new key", err, isNew)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("new key file mode %#o, want 0600", perm)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(content) != created.Base64()+"\n" {
		t.Errorf("key file holds %q, want the key's base64 and a newline", content)
	}

	loaded, isNew, err := LoadOrCreateKeyFile(path)
	if err != nil || isNew || loaded != created {
		t.Fatalf("second call = %v, %v, created %v; want the same key, not created", loaded, err, isNew)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (temporary file left behind?)", len(entries))
	}
}

func TestLoadOrCreateKeyFileRefusesSharedFile(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602} {
		path := filepath.Join(t.TempDir(), "orderimport.key")
		k := testKey(t, 3)
		if err := os.WriteFile(path, []byte(k.Base64()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKeyFile(path)
		if err == nil {
			t.Errorf("mode %#o: key file accepted", mode)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprintf("%#o", mode)) || !strings.Contains(msg, "chmod 600 "+path) {
			t.Errorf("mode %#o: error does not name the mode and the fix: %v", mode, err)
		}
		if strings.Contains(msg, k.Base64()) {
			t.Errorf("error shows the key: %v", err)
		}
	}
}

func TestLoadOrCreateKeyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	_, _, err := LoadOrCreateKeyFile(filepath.Join(dir, "missing", "orderimport.key"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing directory: %v", err)
	}

	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadOrCreateKeyFile(short)
	if err == nil || !strings.Contains(err.Error(), short) || !strings.Contains(err.Error(), "got 16") ||
		strings.Contains(err.Error(), "ORDERIMPORT_SECRET_KEY") {
		t.Errorf("short key file: %v; want the path and the length, not the variable name", err)
	}

	sub := filepath.Join(dir, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadOrCreateKeyFile(sub)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as key file: %v", err)
	}
}

func TestLoadOrCreateKeyFileConcurrentStartersAgree(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "orderimport.key")
	const n = 8
	keys := make([]Key, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
		if keys[i] != keys[0] {
			t.Errorf("starter %d got key %s, starter 0 got %s", i, keys[i], keys[0])
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d starters report creating the key, want 1", winners)
	}
}

func TestKeyringSealOpen(t *testing.T) {
	t.Parallel()
	r := NewKeyring(testKey(t, 1))
	plain := []byte("X2EDxRxKvYS3gUlRvFXEUqXKsnPI1hAK")
	aad := []byte("import_task:42")

	s1, err := r.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.Seal(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if s1 == s2 {
		t.Error("two seals of the same text are equal: nonce reused")
	}
	parts := strings.Split(s1, ".")
	if len(parts) != 3 || parts[0] != "v1" || parts[1] != r.Primary().ID {
		t.Errorf("sealed form %q, want v1.%s.<data>", s1, r.Primary().ID)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("data part is not unpadded base64url: %v", err)
	}
	if want := 12 + len(plain) + 16; len(data) != want {
		t.Errorf("data is %d bytes, want nonce 12 + text %d + tag 16", len(data), len(plain))
	}
	if strings.Contains(s1, string(plain)) {
		t.Error("sealed text contains the plain text")
	}
	got, err := r.Open(s1, aad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if id, err := r.KeyID(s1); err != nil || id != r.Primary().ID {
		t.Errorf("KeyID = %q, %v", id, err)
	}
	if r.NeedsReseal(s1) {
		t.Error("value sealed under the primary needs reseal")
	}
	empty, err := r.Seal(nil, aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Open(empty, aad); err != nil || len(got) != 0 {
		t.Errorf("empty text round trip = %q, %v", got, err)
	}
}

func TestKeyringOpenFailures(t *testing.T) {
	t.Parallel()
	r := NewKeyring(testKey(t, 1))
	plain := "X2EDxRxKvYS3gUlRvFXEUqXKsnPI1hAK"
	aad := []byte("import_task:42")
	sealed, err := r.Seal([]byte(plain), aad)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeyring(testKey(t, 2)).Seal([]byte(plain), aad)
	if err != nil {
		t.Fatal(err)
	}
	id := r.Primary().ID
	data := sealed[len("v1."+id+"."):]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// A second key whose id is forged to equal the primary's: the header
	// names a held key but the data was sealed by another one.
	forged := "v1." + id + "." + other[len("v1.")+9:]

	tests := []struct {
		name   string
		sealed string
		aad    string
		want   error
	}{
		{"wrong aad", sealed, "import_task:43", ErrOpen},
		{"no aad", sealed, "", ErrOpen},
		{"first data byte changed", "v1." + id + "." + flip(data, 0), string(aad), ErrOpen},
		{"tag changed", "v1." + id + "." + flip(data, len(data)-1), string(aad), ErrOpen},
		{"data truncated", sealed[:len(sealed)-4], string(aad), ErrOpen},
		{"forged key id", forged, string(aad), ErrOpen},
		{"unknown key id", other, string(aad), ErrUnknownKey},
		{"other version", "v2" + sealed[2:], string(aad), ErrMalformed},
		{"plain text", plain, string(aad), ErrMalformed},
		{"empty", "", string(aad), ErrMalformed},
		{"no data", "v1." + id + ".", string(aad), ErrMalformed},
		{"extra part", sealed + ".x", string(aad), ErrMalformed},
		{"bad key id", "v1.<script>." + data, string(aad), ErrMalformed},
		{"data not base64url", "v1." + id + ".!!!!", string(aad), ErrMalformed},
	}
	for _, tt := range tests {
		got, err := r.Open(tt.sealed, []byte(tt.aad))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Open = %q, %v; want %v", tt.name, got, err, tt.want)
			continue
		}
		if got != nil {
			t.Errorf("%s: Open returned text with an error", tt.name)
		}
		if strings.Contains(err.Error(), plain) || strings.Contains(err.Error(), data[:10]) {
			t.Errorf("%s: error shows sealed or plain text: %v", tt.name, err)
		}
	}
}

func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(t, 1), testKey(t, 2)
	aad := []byte("import_task:7")
	before, err := NewKeyring(oldKey).Seal([]byte("crm-api-key-0001"), aad)
	if err != nil {
		t.Fatal(err)
	}

	r := NewKeyring(newKey, oldKey, newKey) // a repeated key is harmless
	if r.Primary() != newKey {
		t.Fatalf("primary %s, want %s", r.Primary(), newKey)
	}
	if got, err := r.Open(before, aad); err != nil || string(got) != "crm-api-key-0001" {
		t.Fatalf("old key does not open its value: %q, %v", got, err)
	}
	if !r.NeedsReseal(before) {
		t.Error("value under the old key does not need reseal")
	}
	if id, err := r.KeyID(before); err != nil || id != oldKey.ID {
		t.Errorf("KeyID = %q, %v; want %s", id, err, oldKey.ID)
	}
	if !r.NeedsReseal("garbage") {
		t.Error("malformed value does not need reseal")
	}

	after, err := r.Reseal(before, aad)
	if err != nil {
		t.Fatal(err)
	}
	if r.NeedsReseal(after) {
		t.Error("resealed value still needs reseal")
	}
	if _, err := r.Reseal(before, []byte("import_task:8")); !errors.Is(err, ErrOpen) {
		t.Errorf("reseal with the wrong aad: %v", err)
	}
	// Once the old key is dropped, only resealed values open.
	onlyNew := NewKeyring(newKey)
	if got, err := onlyNew.Open(after, aad); err != nil || string(got) != "crm-api-key-0001" {
		t.Errorf("resealed value under the new key alone: %q, %v", got, err)
	}
	if _, err := onlyNew.Open(before, aad); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), oldKey.ID) {
		t.Errorf("old value without the old key: %v; want ErrUnknownKey naming %s", err, oldKey.ID)
	}
}

func TestNewKeyringPanicsOnZeroKey(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewKeyring(Key{})
}

func TestMACIsKeyedAndSeparatedByPurpose(t *testing.T) {
	a, _ := GenerateKey()
	b, _ := GenerateKey()
	ra, rb := NewKeyring(a), NewKeyring(b)
	x := ra.MAC("login", []byte("me@example.com"))
	if len(x) != 32 || !bytes.Equal(x, ra.MAC("login", []byte("me@example.com"))) {
		t.Fatal("MAC is not a stable 32-byte value")
	}
	if bytes.Equal(x, rb.MAC("login", []byte("me@example.com"))) {
		t.Fatal("another key gives the same MAC")
	}
	if bytes.Equal(x, ra.MAC("other", []byte("me@example.com"))) {
		t.Fatal("another purpose gives the same MAC")
	}
}
