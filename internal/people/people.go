// Package people is the use-case layer of people and access: who may sign in and how (password,
// single sign-on, a second factor), the account's users (invitations, roles, removal) and each
// user's own settings (password, TOTP). It owns these rules as internal/tasks owns those of import
// tasks; the JSON API and the web UI are adapters over it. What a role may do is internal/access's;
// every use case here that acts on an account requires its permission first, and every change of
// access is written to the audit log.
package people

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/mail"
	"orderimport/internal/sso"
	"orderimport/internal/store"
)

// Sealer seals and opens the TOTP secrets (the master keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) (string, error)
	Open(sealed string, aad []byte) ([]byte, error)
	NeedsReseal(sealed string) bool
	Reseal(sealed string, aad []byte) (string, error)
	Refresh() error
	MAC(purpose string, data []byte) []byte
}

// Mailer sends email (internal/mail).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Service implements the use cases.
type Service struct {
	Store   *store.Store
	Audit   *audit.Log // nil: nothing recorded
	Secrets Sealer
	Mailer  Mailer        // nil: invitations are shown to the owner only
	SSO     *sso.Provider // nil: single sign-on is off
	Log     *slog.Logger
	Now     func() time.Time
}

// The rules' lengths of time.
const (
	// InvitationTTL is how long an invitation link works.
	InvitationTTL = 72 * time.Hour
	// ChallengeTTL is how long a sign-in waits for its second factor.
	ChallengeTTL = 5 * time.Minute
	// SSOFlowTTL is how long a sign-in at the identity provider may take.
	SSOFlowTTL = 10 * time.Minute
	// ThrottleWindow, and the failures allowed in it per email (or user, for the second step)
	// and per address, shared by every process through the database.
	ThrottleWindow   = 15 * time.Minute
	ThrottlePerEmail = 5
	ThrottlePerIP    = 20
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// SSOName is the identity provider's name for the login page; "" when single sign-on is off.
func (s *Service) SSOName() string {
	if s.SSO == nil {
		return ""
	}
	return s.SSO.Name()
}

// randomToken is prefix and 256 random bits, URL-safe: links, challenges, states.
func randomToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("people: random token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// actor is who acts according to ctx (the adapters put the request's address and browser there,
// and the user once known), completed with u.
func actorOf(ctx context.Context, u store.User) audit.Actor {
	a, _ := audit.ActorFrom(ctx)
	if u.ID != 0 {
		a.UserID, a.AccountID, a.Email = u.ID, u.AccountID, u.Email
	}
	return a
}

func userTarget(id int64) string { return fmt.Sprintf("user:%d", id) }

// throttleKey is the keyed hash a throttle counts under: what people typed into a sign-in form
// (sometimes a password in the email field) is never stored readable.
func (s *Service) throttleKey(kind, value string) string {
	return kind + ":" + hex.EncodeToString(s.Secrets.MAC("login throttle", []byte(kind+"\x00"+value)))
}

// ThrottledError refuses a sign-in step without checking it: too many recent failures.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string { return e.Message().String() }

// Message says when to try again, in whole minutes.
func (e *ThrottledError) Message() locale.Message {
	return locale.M("login_throttled", "minutes", e.Minutes())
}

// Minutes is the wait rounded up.
func (e *ThrottledError) Minutes() int { return int((e.Wait + time.Minute - 1) / time.Minute) }

// retryAfter is how long the key must wait: 0 while it has fewer than limit failures in the
// window, else until the oldest of its last limit failures leaves the window.
func (s *Service) retryAfter(ctx context.Context, key string, limit int) (time.Duration, error) {
	now := s.now()
	fails, err := s.Store.LoginFailures(ctx, key, now.Add(-ThrottleWindow), limit)
	if err != nil {
		return 0, err
	}
	if len(fails) < limit {
		return 0, nil
	}
	return fails[limit-1].Add(ThrottleWindow).Sub(now), nil
}

// throttled checks every key against its limit and returns the longest wait.
func (s *Service) throttled(ctx context.Context, keys map[string]int) (time.Duration, error) {
	var wait time.Duration
	for k, limit := range keys {
		w, err := s.retryAfter(ctx, k, limit)
		if err != nil {
			return 0, err
		}
		wait = max(wait, w)
	}
	return wait, nil
}

// failed records a failure under every key, and now and then forgets what left the window.
func (s *Service) failed(ctx context.Context, keys map[string]int) error {
	now := s.now()
	for k := range keys {
		if err := s.Store.AddLoginFailure(ctx, k, now); err != nil {
			return err
		}
	}
	return s.Store.PruneSignIns(ctx, now, now.Add(-ThrottleWindow))
}
