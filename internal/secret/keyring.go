package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
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
type Keyring struct {
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
	r := &Keyring{primary: primary, openers: make(map[string][]cipher.AEAD)}
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

// Primary returns the key new values are sealed under.
func (r *Keyring) Primary() Key { return r.primary }

// Seal encrypts plaintext under the primary key, bound to aad: a value opens
// only with the same aad, so a sealed key copied onto another record (another
// task, another account) does not open there. Pass a stable per-record
// context such as "import_task:<id>". The result is
// "v1.<keyID>.<base64url(nonce||ciphertext)>".
func (r *Keyring) Seal(plaintext, aad []byte) (string, error) {
	id := r.primary.ID
	ct := r.sealer.Seal(nil, nil, plaintext, boundAAD(id, aad))
	return sealedVersion + "." + id + "." + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value sealed by Seal with the same aad, under whichever key
// of the ring sealed it.
func (r *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, data, err := parseSealed(sealed)
	if err != nil {
		return nil, err
	}
	openers, ok := r.openers[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %s)", ErrUnknownKey, id)
	}
	ct, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return nil, ErrMalformed
	}
	for _, a := range openers {
		if pt, err := a.Open(nil, nil, ct, boundAAD(id, aad)); err == nil {
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
	return err != nil || id != r.primary.ID
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
