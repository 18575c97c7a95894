package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Errors returned by Keyring.Open and Keyring.KeyID. None of them carries any
// part of the sealed or plain text.
var (
	ErrMalformed  = errors.New("secret: not a sealed value (want v1.<key id>.<data>)")
	ErrUnknownKey = errors.New("secret: sealed under a key this keyring does not hold")
	ErrOpen       = errors.New("secret: cannot open sealed value: wrong context, wrong key or altered data")
)

const sealedVersion = "v1"

// Keyring seals under one primary key and opens values sealed under the
// primary or any older key it was given. It is safe for concurrent use.
//
// A keyring also remembers the last plaintexts it sealed or opened (and those
// given to Remember), so that a log handler can redact them: see Recent.
type Keyring struct {
	state atomic.Pointer[ring]
	// load, when set, is asked for the keys again before every Seal and when
	// Open meets a key id the ring does not hold: another process may have
	// rotated the keys (see NewReloadingKeyring).
	load     func() (Key, []Key, error)
	reloadMu sync.Mutex
	recent   recentSet
}

// ring is one set of keys; a reload swaps the whole set.
type ring struct {
	primary Key
	sealer  cipher.AEAD
	// openers is keyed by key id; a list because two different keys could,
	// however unlikely, share a 32-bit id.
	openers map[string][]cipher.AEAD
}

// NewKeyring returns a keyring sealing under primary and opening under
// primary and old. It panics on a zero Key, which can only be a programming
// error: every Key from ParseKey, GenerateKey or LoadOrCreateKeyFile has an ID.
func NewKeyring(primary Key, old ...Key) *Keyring {
	r := &Keyring{}
	r.state.Store(newRing(primary, old))
	return r
}

// NewReloadingKeyring returns a keyring whose keys come from load: once now,
// again before every Seal, so that a new primary key written by a rotation in
// another process is used at once, and again when Open meets a value sealed
// under a key id it does not hold. A process started before a rotation thus
// keeps opening and sealing without a restart. Sealing is rare (a user saves
// a key), so reading the keys each time costs nothing that matters.
func NewReloadingKeyring(load func() (Key, []Key, error)) (*Keyring, error) {
	primary, old, err := load()
	if err != nil {
		return nil, err
	}
	r := NewKeyring(primary, old...)
	r.load = load
	return r, nil
}

func newRing(primary Key, old []Key) *ring {
	r := &ring{primary: primary, openers: make(map[string][]cipher.AEAD)}
	seen := make(map[Key]bool)
	for _, k := range append([]Key{primary}, old...) {
		if k.ID == "" {
			panic("secret: NewKeyring given a zero Key")
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		a := newAEAD(k)
		if k == primary {
			r.sealer = a
		}
		r.openers[k.ID] = append(r.openers[k.ID], a)
	}
	return r
}

// reload asks load for the keys again and swaps them in.
func (r *Keyring) reload() (*ring, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	primary, old, err := r.load()
	if err != nil {
		return r.state.Load(), err
	}
	next := newRing(primary, old)
	r.state.Store(next)
	return next, nil
}

func newAEAD(k Key) cipher.AEAD {
	block, err := aes.NewCipher(k.bytes[:])
	if err != nil {
		panic("secret: AES with a 32-byte key: " + err.Error())
	}
	// The random-nonce GCM draws a fresh 96-bit nonce per Seal and puts it in
	// front of the ciphertext: nonce||ciphertext||tag.
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("secret: GCM over AES: " + err.Error())
	}
	return a
}

// Refresh reads the keys again now, for a keyring from NewReloadingKeyring (a rotation pass
// must know the newest primary key before it decides what needs resealing); other keyrings
// have nothing to read.
func (r *Keyring) Refresh() error {
	if r.load == nil {
		return nil
	}
	_, err := r.reload()
	return err
}

// Primary returns the key new values are sealed under.
func (r *Keyring) Primary() Key { return r.state.Load().primary }

// Seal encrypts plaintext under the primary key, bound to aad: a value opens
// only with the same aad, so a sealed key copied onto another record (another
// task, another account) does not open there. Pass a stable per-record
// context such as "import_task:<id>". The result is
// "v1.<keyID>.<base64url(nonce||ciphertext)>".
//
// A reloading keyring fails when its keys cannot be read: sealing under a
// key that a rotation has already replaced would leave a value behind that
// the rotation has to catch.
func (r *Keyring) Seal(plaintext, aad []byte) (string, error) {
	st := r.state.Load()
	if r.load != nil {
		var err error
		if st, err = r.reload(); err != nil {
			return "", fmt.Errorf("secret: reload keys before sealing: %w", err)
		}
	}
	r.recent.add(string(plaintext))
	id := st.primary.ID
	ct := st.sealer.Seal(nil, nil, plaintext, boundAAD(id, aad))
	return sealedVersion + "." + id + "." + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value sealed by Seal with the same aad, under whichever key
// of the ring sealed it.
func (r *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, data, err := parseSealed(sealed)
	if err != nil {
		return nil, err
	}
	st := r.state.Load()
	openers, ok := st.openers[id]
	if !ok && r.load != nil {
		st, err = r.reload()
		if err != nil {
			return nil, fmt.Errorf("%w (key id %s; reloading the keys failed: %v)", ErrUnknownKey, id, err)
		}
		openers, ok = st.openers[id]
	}
	if !ok {
		return nil, fmt.Errorf("%w (key id %s)", ErrUnknownKey, id)
	}
	ct, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return nil, ErrMalformed
	}
	for _, a := range openers {
		if pt, err := a.Open(nil, nil, ct, boundAAD(id, aad)); err == nil {
			r.recent.add(string(pt))
			return pt, nil
		}
	}
	return nil, ErrOpen
}

// Reseal opens sealed and seals the plaintext again under the primary key,
// with the same aad: one step of a key rotation.
func (r *Keyring) Reseal(sealed string, aad []byte) (string, error) {
	pt, err := r.Open(sealed, aad)
	if err != nil {
		return "", err
	}
	defer clear(pt)
	return r.Seal(pt, aad)
}

// Remember adds a secret that came from elsewhere than Open (a key a user
// typed, before it is sealed) to those Recent returns.
func (r *Keyring) Remember(secret string) { r.recent.add(secret) }

// Recent returns the secrets this keyring handled lately, newest first: the
// list to give NewRedactingHandler. Values shorter than MinRedacted are not
// kept: redacting every occurrence of a short string would make logs
// unreadable, and no real RetailCRM key is that short.
func (r *Keyring) Recent() []string { return r.recent.list() }

// KeyID returns the id of the key a value was sealed under, whether or not
// this keyring holds that key; it fails only on a malformed value.
func (r *Keyring) KeyID(sealed string) (string, error) {
	id, _, err := parseSealed(sealed)
	return id, err
}

// NeedsReseal reports whether sealed is not sealed under the primary key.
// Malformed values report true too, so a rotation pass visits them and says
// why it cannot open them instead of silently skipping them.
func (r *Keyring) NeedsReseal(sealed string) bool {
	id, _, err := parseSealed(sealed)
	return err != nil || id != r.Primary().ID
}

func parseSealed(sealed string) (id, data string, err error) {
	version, rest, ok := strings.Cut(sealed, ".")
	if !ok || version != sealedVersion {
		return "", "", ErrMalformed
	}
	id, data, ok = strings.Cut(rest, ".")
	if !ok || !isKeyID(id) || data == "" || strings.Contains(data, ".") {
		return "", "", ErrMalformed
	}
	return id, data, nil
}

// isKeyID accepts the shape newKey produces, so an id echoed in an error or a
// report is never arbitrary text from the database.
func isKeyID(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// boundAAD binds the version and key id as well as the caller's context, so
// no part of the text form can be altered without Open failing. The header
// has a fixed shape without dots in its fields, so the concatenation is
// unambiguous.
func boundAAD(id string, aad []byte) []byte {
	b := make([]byte, 0, len(sealedVersion)+len(id)+2+len(aad))
	b = append(b, sealedVersion+"."+id+"."...)
	return append(b, aad...)
}

// macLabel separates the keys MAC derives from every other use of the master key.
const macLabel = "orderimport mac v1\x00"

// MAC is HMAC-SHA256 of data under a key derived from the primary key for purpose: a keyed
// hash for values that must be compared without being stored readable (what people typed into
// a sign-in form). It changes when the primary key is rotated, so it suits values that live
// minutes, not ones kept for good.
func (r *Keyring) MAC(purpose string, data []byte) []byte {
	k := r.Primary()
	derive := hmac.New(sha256.New, k.bytes[:])
	derive.Write([]byte(macLabel + purpose))
	m := hmac.New(sha256.New, derive.Sum(nil))
	m.Write(data)
	return m.Sum(nil)
}
