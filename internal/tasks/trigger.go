package tasks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Flow is what the orders' way out needs of the job system: triggered runs, webhook
// deliveries, incidents.
type Flow interface {
	// Trigger asks for an incremental run of the task soon (coalesced and paced).
	Trigger(taskID int64)
	// StartDeliveries starts a webhook's deliveries.
	StartDeliveries(ctx context.Context, w store.Webhook) error
	// Reconsider moves the incident of a subject ("task:12", "webhook:3") along.
	Reconsider(ctx context.Context, subject string) error
}

// TriggerPath is where RetailCRM calls a task's trigger: the token follows it.
const TriggerPath = "/hooks/retailcrm/"

// triggerTokenLen is the length of a token: 32 random bytes in unpadded base64url (256 bits).
const triggerTokenLen = 43

func triggerAAD(accountID int64) []byte {
	return []byte(fmt.Sprintf("orderimport/trigger-token/account:%d", accountID))
}

// hashTrigger is what a token is stored and looked up as.
func hashTrigger(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newTriggerToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("tasks: make a trigger token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// setTrigger gives a task a new token; onlyIfNone keeps a token another request gave it first.
func (s *Service) setTrigger(ctx context.Context, t *store.Task, onlyIfNone bool) error {
	token, err := newTriggerToken()
	if err != nil {
		return err
	}
	sealed, err := s.Keys.Keyring.Seal([]byte(token), triggerAAD(t.AccountID))
	if err != nil {
		return fmt.Errorf("tasks: seal the trigger token: %w", err)
	}
	set, err := s.Store.SetTrigger(ctx, t.AccountID, t.ID, hashTrigger(token), sealed, onlyIfNone)
	if err != nil {
		return err
	}
	if !set && onlyIfNone {
		fresh, err := s.Store.Task(ctx, t.AccountID, t.ID)
		if err != nil {
			return err
		}
		t.TriggerSealed = fresh.TriggerSealed
		return nil
	}
	if !set {
		return fmt.Errorf("tasks: set the trigger of task %d: %w", t.ID, store.ErrNotFound)
	}
	t.TriggerSealed = sealed
	return nil
}

// TriggerURL is the task's trigger URL under the service's address base (PublicURL when it
// is set). A task made before triggers existed gets its token now.
func (s *Service) TriggerURL(ctx context.Context, t *store.Task, base string) (string, error) {
	if t.TriggerSealed == "" {
		if err := s.setTrigger(ctx, t, true); err != nil {
			return "", err
		}
	}
	token, err := s.Keys.Keyring.Open(t.TriggerSealed, triggerAAD(t.AccountID))
	if err != nil {
		// Sealed under a key this process does not hold, or altered: the URL cannot be shown;
		// a rotation makes a new one.
		return "", fmt.Errorf("tasks: open the trigger token of task %d: %w", t.ID, err)
	}
	if s.PublicURL != "" {
		base = s.PublicURL
	}
	return strings.TrimSuffix(base, "/") + TriggerPath + string(token), nil
}

// RotateTrigger gives the task a new trigger URL; the old one answers 404 from now on.
func (s *Service) RotateTrigger(ctx context.Context, accountID, id int64) (store.Task, error) {
	if err := access.Require(ctx, accountID, access.EditTasks); err != nil {
		return store.Task{}, err
	}
	t, err := s.Store.Task(ctx, accountID, id)
	if err != nil {
		return store.Task{}, err
	}
	if err := s.setTrigger(ctx, &t, false); err != nil {
		return store.Task{}, err
	}
	s.Audit.Record(ctx, accountID, audit.TriggerRotate, taskTarget(t.ID), locale.M("audit_trigger_rotated", "name", t.Name))
	return t, nil
}

// Trigger takes a call of a trigger URL: the task whose token it is gets an incremental run
// soon. Anything else is ErrNotFound. The token is looked up by its SHA-256, so the time a
// lookup takes says nothing about how close a guess came to a real token; the request's body
// is never read.
func (s *Service) Trigger(ctx context.Context, token string) error {
	if len(token) != triggerTokenLen {
		return store.ErrNotFound
	}
	t, err := s.Store.TaskByTrigger(ctx, hashTrigger(token))
	if err != nil {
		return err
	}
	if s.Flow != nil {
		s.Flow.Trigger(t.ID)
	}
	return nil
}
