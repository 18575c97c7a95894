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
	// Secrets are the other sealed values — the trigger tokens of tasks, the signing secrets of
	// webhooks and alert channels — counted the same way.
	Secrets SecretsReport
	// Failed are the keys and secrets that could not be opened (sealed under a key the keyring
	// does not hold, or altered): they stay as they are; their tasks ask for the key again
	// when they run, their webhooks and channels fail until they are made anew.
	Failed []ResealFailure
}

// SecretsReport counts the trigger tokens and signing secrets a rotation went through.
type SecretsReport struct {
	Total, Resealed, Current, Remaining int
}

// ResealFailure names a stored key or secret a rotation could not open, and why (never the
// value): Kind is "crm_key" (ID is the task's), or one of store's sealed secret kinds.
type ResealFailure struct {
	Kind      string
	ID        int64
	AccountID int64
	Reason    string
}

// maxResealPasses bounds ResealKeys: a pass that finds nothing more to do ends it, and a key
// that keeps changing under the rotation (a user saving it again and again) is left to the
// next run of the command.
const maxResealPasses = 3

// sealed is one stored sealed value, wherever it is kept.
type sealed struct {
	kind      string
	id        int64
	accountID int64
	value     string
}

// aadOf is the binding a sealed value was sealed with.
func aadOf(v sealed) []byte {
	switch v.kind {
	case store.SecretTriggerToken:
		return triggerAAD(v.accountID)
	case store.SecretWebhook, store.SecretAlertChannel:
		return signingAAD(v.accountID)
	}
	return keyAAD(v.accountID)
}

// ResealKeys seals every stored CRM key, trigger token and signing secret that is not under
// the keyring's primary key anew, with the same binding to its account. Each is replaced only
// if it is still what was read (compare-and-swap), so a user saving a new key meanwhile wins;
// passes repeat until one finds nothing left to do, which also catches a value sealed under
// the old key by a process that had not yet noticed the rotation.
func (k *Keys) ResealKeys(ctx context.Context, st *store.Store) (ResealReport, error) {
	var rep ResealReport
	keys := func() ([]sealed, error) {
		list, err := st.SealedKeys(ctx)
		out := make([]sealed, 0, len(list))
		for _, sk := range list {
			out = append(out, sealed{kind: "crm_key", id: sk.TaskID, accountID: sk.AccountID, value: sk.Sealed})
		}
		return out, err
	}
	secrets := func() ([]sealed, error) {
		list, err := st.SealedSecrets(ctx)
		out := make([]sealed, 0, len(list))
		for _, s := range list {
			out = append(out, sealed{kind: s.Kind, id: s.ID, accountID: s.AccountID, value: s.Sealed})
		}
		return out, err
	}
	replace := func(v sealed, next string) (bool, error) {
		if v.kind == "crm_key" {
			return st.ReplaceSealedKey(ctx, v.id, v.value, next)
		}
		return st.ReplaceSealedSecret(ctx, v.kind, v.id, v.value, next)
	}
	r, err := k.reseal(keys, replace)
	if err != nil {
		return rep, err
	}
	rep.Keys, rep.Resealed, rep.Current, rep.Remaining, rep.Failed = r.Total, r.Resealed, r.Current, r.Remaining, r.failed
	if r, err = k.reseal(secrets, replace); err != nil {
		return rep, err
	}
	rep.Secrets = r.SecretsReport
	rep.Failed = append(rep.Failed, r.failed...)
	return rep, nil
}

type resealed struct {
	SecretsReport
	failed []ResealFailure
}

func (k *Keys) reseal(list func() ([]sealed, error), replace func(sealed, string) (bool, error)) (resealed, error) {
	var out resealed
	failed := map[string]bool{}
	name := func(v sealed) string { return fmt.Sprintf("%s:%d", v.kind, v.id) }
	for pass := 0; pass < maxResealPasses; pass++ {
		if err := k.Keyring.Refresh(); err != nil {
			return out, fmt.Errorf("tasks: read the keys: %w", err)
		}
		values, err := list()
		if err != nil {
			return out, err
		}
		n := 0
		for _, v := range values {
			if !k.Keyring.NeedsReseal(v.value) || failed[name(v)] {
				continue
			}
			next, err := k.Keyring.Reseal(v.value, aadOf(v))
			if err != nil {
				failed[name(v)] = true
				out.failed = append(out.failed, ResealFailure{Kind: v.kind, ID: v.id, AccountID: v.accountID, Reason: err.Error()})
				continue
			}
			ok, err := replace(v, next)
			if err != nil {
				return out, fmt.Errorf("tasks: reseal %s: %w", name(v), err)
			}
			if ok {
				n++
			}
		}
		out.Resealed += n
		if n == 0 {
			break
		}
	}
	values, err := list()
	if err != nil {
		return out, err
	}
	out.Total = len(values)
	for _, v := range values {
		if k.Keyring.NeedsReseal(v.value) {
			out.Remaining++
		} else {
			out.Current++
		}
	}
	return out, nil
}
