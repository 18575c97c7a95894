package tasks

import (
	"context"
	"fmt"
	"strings"

	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// Keys seals and opens the RetailCRM keys of tasks: the one place that knows how a key is
// bound to its account, and how a key typed into the web form travels between its pages.
type Keys struct {
	Keyring *secret.Keyring
}

// keyAAD binds a sealed CRM key to its account, so a sealed value copied into another
// account's task does not open.
func keyAAD(accountID int64) []byte {
	return []byte(fmt.Sprintf("orderimport/crm-key/account:%d", accountID))
}

// formKeyAAD binds a typed key carried through the web form to one session: the sealed value
// is useless in any other session or for anything else.
func formKeyAAD(sessionID string) []byte {
	return []byte("orderimport web form key\x00" + sessionID)
}

// Remember marks a key a user typed as a secret from now on: the log handler redacts what the
// keyring remembers.
func (k *Keys) Remember(key string) { k.Keyring.Remember(strings.TrimSpace(key)) }

// Seal seals a task's key for its account and returns it with the hint shown instead of it.
func (k *Keys) Seal(accountID int64, key string) (sealed, hint string, err error) {
	sealed, err = k.Keyring.Seal([]byte(key), keyAAD(accountID))
	if err != nil {
		return "", "", fmt.Errorf("tasks: seal the RetailCRM key: %w", err)
	}
	return sealed, secret.Hint(key), nil
}

// OpenKey opens a task's key (the importer's KeyOpener). An error wrapping
// secret.ErrUnknownKey means it is sealed under a master key this process does not hold yet.
func (k *Keys) OpenKey(t store.Task) (string, error) {
	b, err := k.Keyring.Open(t.CRMKeySealed, keyAAD(t.AccountID))
	if err != nil {
		return "", fmt.Errorf("tasks: open the RetailCRM key of task %d: %w", t.ID, err)
	}
	return string(b), nil
}

// SealForm seals a key typed into the web form for the session, so that a form shown again
// (after a check, a preview or an error) keeps it without ever putting it in the page.
func (k *Keys) SealForm(sessionID, key string) (sealed, hint string, err error) {
	sealed, err = k.Keyring.Seal([]byte(key), formKeyAAD(sessionID))
	if err != nil {
		return "", "", fmt.Errorf("tasks: seal the form's key: %w", err)
	}
	return sealed, secret.Hint(key), nil
}

// OpenForm opens a key SealForm sealed for the session; "" when it does not open (another
// session's, or altered).
func (k *Keys) OpenForm(sessionID, sealed string) string {
	b, err := k.Keyring.Open(sealed, formKeyAAD(sessionID))
	if err != nil {
		return ""
	}
	return string(b)
}

// ResealReport is what a key rotation pass did.
type ResealReport struct {
	Keys     int // stored sealed keys at the end
	Resealed int // sealed anew under the primary key
	Current  int // under the primary key at the end
	// Remaining are the keys still under an older key at the end: the failed ones, and any
	// a user saved through a process that had not yet noticed the rotation while the last
	// pass ran (run the command again).
	Remaining int
	// Failed are the keys that could not be opened (sealed under a key the keyring does not
	// hold, or altered): they stay as they are, and their tasks ask for the key again when
	// they run.
	Failed []ResealFailure
}

// ResealFailure names a stored key a rotation could not open, and why (never the key).
type ResealFailure struct {
	TaskID    int64
	AccountID int64
	Reason    string
}

// maxResealPasses bounds ResealKeys: a pass that finds nothing more to do ends it, and a key
// that keeps changing under the rotation (a user saving it again and again) is left to the
// next run of the command.
const maxResealPasses = 3

// ResealKeys seals every stored CRM key that is not under the keyring's primary key anew,
// with the same binding to its account. Each key is replaced only if it is still what was
// read (compare-and-swap), so a user saving a new key meanwhile wins; passes repeat until one
// finds nothing left to do, which also catches a key sealed under the old key by a process
// that had not yet noticed the rotation.
func (k *Keys) ResealKeys(ctx context.Context, st *store.Store) (ResealReport, error) {
	var rep ResealReport
	failed := map[int64]bool{}
	for pass := 0; pass < maxResealPasses; pass++ {
		if err := k.Keyring.Refresh(); err != nil {
			return rep, fmt.Errorf("tasks: read the keys: %w", err)
		}
		keys, err := st.SealedKeys(ctx)
		if err != nil {
			return rep, err
		}
		resealed := 0
		for _, sk := range keys {
			if !k.Keyring.NeedsReseal(sk.Sealed) || failed[sk.TaskID] {
				continue
			}
			next, err := k.Keyring.Reseal(sk.Sealed, keyAAD(sk.AccountID))
			if err != nil {
				failed[sk.TaskID] = true
				rep.Failed = append(rep.Failed, ResealFailure{TaskID: sk.TaskID, AccountID: sk.AccountID, Reason: err.Error()})
				continue
			}
			ok, err := st.ReplaceSealedKey(ctx, sk.TaskID, sk.Sealed, next)
			if err != nil {
				return rep, fmt.Errorf("tasks: reseal the key of task %d: %w", sk.TaskID, err)
			}
			if ok {
				resealed++
			}
		}
		rep.Resealed += resealed
		if resealed == 0 {
			break
		}
	}
	keys, err := st.SealedKeys(ctx)
	if err != nil {
		return rep, err
	}
	rep.Keys = len(keys)
	for _, sk := range keys {
		if k.Keyring.NeedsReseal(sk.Sealed) {
			rep.Remaining++
		} else {
			rep.Current++
		}
	}
	return rep, nil
}
