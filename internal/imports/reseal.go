package imports

import (
	"context"
	"fmt"

	"orderimport/internal/importer"
)

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
func (s *Service) ResealKeys(ctx context.Context) (ResealReport, error) {
	var rep ResealReport
	failed := map[int64]bool{}
	for pass := 0; pass < maxResealPasses; pass++ {
		if err := s.Keyring.Refresh(); err != nil {
			return rep, fmt.Errorf("imports: read the keys: %w", err)
		}
		keys, err := s.Store.SealedKeys(ctx)
		if err != nil {
			return rep, err
		}
		resealed := 0
		for _, k := range keys {
			if !s.Keyring.NeedsReseal(k.Sealed) || failed[k.TaskID] {
				continue
			}
			next, err := s.Keyring.Reseal(k.Sealed, importer.KeyAAD(k.AccountID))
			if err != nil {
				failed[k.TaskID] = true
				rep.Failed = append(rep.Failed, ResealFailure{TaskID: k.TaskID, AccountID: k.AccountID, Reason: err.Error()})
				continue
			}
			ok, err := s.Store.ReplaceSealedKey(ctx, k.TaskID, k.Sealed, next)
			if err != nil {
				return rep, fmt.Errorf("imports: reseal the key of task %d: %w", k.TaskID, err)
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
	keys, err := s.Store.SealedKeys(ctx)
	if err != nil {
		return rep, err
	}
	rep.Keys = len(keys)
	for _, k := range keys {
		if s.Keyring.NeedsReseal(k.Sealed) {
			rep.Remaining++
		} else {
			rep.Current++
		}
	}
	return rep, nil
}
