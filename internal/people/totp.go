package people

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"strings"

	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/store"
)

// Errors of the second factor's settings.
var (
	// ErrTOTPOn: the second factor is on already (turn it off first to enrol again).
	ErrTOTPOn = locale.Err("totp_already_on")
	// ErrTOTPOff: there is no second factor to use or turn off.
	ErrTOTPOff = locale.Err("totp_off")
)

// Issuer names the service in authenticator apps.
const Issuer = "orderimport"

// RecoveryCodes is how many recovery codes a user gets: each signs in once instead of a TOTP
// code (a lost phone).
const RecoveryCodes = 10

// Enrolment is a second factor being set up: the secret for the authenticator app, as a QR code
// (PNG) and as text for typing in.
type Enrolment struct {
	Secret string
	URL    string // otpauth:// URL, what the QR code holds
	QRPNG  []byte
}

// self is the signed-in user acting on their own settings.
func (s *Service) self(ctx context.Context) (store.User, error) {
	p, ok := access.From(ctx)
	if !ok || p.IsSystem() {
		return store.User{}, access.ErrForbidden
	}
	return s.Store.UserByID(ctx, p.UserID)
}

// BeginTOTP starts setting up the signed-in user's second factor: a new secret, sealed and kept
// pending until ConfirmTOTP proves the app has it. Starting again replaces the pending secret.
func (s *Service) BeginTOTP(ctx context.Context) (Enrolment, error) {
	u, err := s.self(ctx)
	if err != nil {
		return Enrolment{}, err
	}
	if u.TOTPEnabled {
		return Enrolment{}, ErrTOTPOn
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: u.Email, Period: totpOpts.Period,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return Enrolment{}, fmt.Errorf("people: generate a TOTP secret: %w", err)
	}
	sealed, err := s.Secrets.Seal([]byte(key.Secret()), totpAAD(u.ID))
	if err != nil {
		return Enrolment{}, fmt.Errorf("people: seal the TOTP secret: %w", err)
	}
	if err := s.Store.SetPendingTOTP(ctx, u.ID, sealed); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Enrolment{}, ErrTOTPOn
		}
		return Enrolment{}, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, fmt.Errorf("people: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("people: QR code: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ConfirmTOTP turns the pending secret on when code is its current code, and returns the
// recovery codes, shown once.
func (s *Service) ConfirmTOTP(ctx context.Context, code string) ([]string, error) {
	u, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, ErrTOTPOn
	}
	st, err := s.Store.TOTP(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if st.Sealed == "" {
		return nil, ErrTOTPOff
	}
	secret, err := s.Secrets.Open(st.Sealed, totpAAD(u.ID))
	if err != nil {
		return nil, fmt.Errorf("people: open the pending TOTP secret of user %d: %w", u.ID, err)
	}
	step, ok := s.matchTOTP(string(secret), strings.ReplaceAll(strings.TrimSpace(code), " ", ""), 0)
	if !ok {
		return nil, invalid("code", locale.M("totp_code_wrong"))
	}
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.Store.EnableTOTP(ctx, u.ID, st.Sealed, step, canonical(codes)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Another enrolment replaced the secret meanwhile: this code was for the old one.
			return nil, invalid("code", locale.M("totp_code_wrong"))
		}
		return nil, err
	}
	s.Audit.Record(ctx, u.AccountID, audit.TOTPEnable, userTarget(u.ID), locale.M("audit_totp_enabled", "codes", RecoveryCodes))
	return codes, nil
}

// DisableTOTP turns the signed-in user's second factor off; a current code (or a recovery code)
// proves it is them.
func (s *Service) DisableTOTP(ctx context.Context, code string) error {
	u, err := s.self(ctx)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled {
		return ErrTOTPOff
	}
	if err := s.proveSecondFactor(ctx, u, code); err != nil {
		return err
	}
	if err := s.Store.DisableTOTP(ctx, u.ID); err != nil {
		return err
	}
	s.Audit.Record(ctx, u.AccountID, audit.TOTPDisable, userTarget(u.ID), locale.M("audit_totp_disabled"))
	return nil
}

// NewRecoveryCodes replaces the signed-in user's recovery codes (a current code proves it is
// them) and returns the new ones, shown once.
func (s *Service) NewRecoveryCodes(ctx context.Context, code string) ([]string, error) {
	u, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	if !u.TOTPEnabled {
		return nil, ErrTOTPOff
	}
	if err := s.proveSecondFactor(ctx, u, code); err != nil {
		return nil, err
	}
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, u.ID, canonical(codes)); err != nil {
		return nil, err
	}
	s.Audit.Record(ctx, u.AccountID, audit.RecoveryCodesNew, userTarget(u.ID), locale.M("audit_recovery_codes", "codes", RecoveryCodes))
	return codes, nil
}

// RecoveryCodesLeft counts the signed-in user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context) (int, error) {
	u, err := s.self(ctx)
	if err != nil {
		return 0, err
	}
	return s.Store.RecoveryCodesLeft(ctx, u.ID)
}

// proveSecondFactor checks a code for a settings change, throttled like the sign-in steps.
func (s *Service) proveSecondFactor(ctx context.Context, u store.User, code string) error {
	keys := map[string]int{s.throttleKey("email", u.Email): ThrottlePerEmail}
	if wait, err := s.throttled(ctx, keys); err != nil {
		return err
	} else if wait > 0 {
		return &ThrottledError{Wait: wait}
	}
	_, ok, err := s.checkSecondFactor(ctx, u, code)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.failed(ctx, keys); err != nil {
			return err
		}
		return invalid("code", locale.M("totp_code_wrong"))
	}
	return nil
}

// recoveryEncoding is base32 in lower case: no characters people confuse (0/O, 1/l).
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes makes RecoveryCodes codes of 80 random bits each, shown as xxxx-xxxx-xxxx-xxxx.
func newRecoveryCodes() ([]string, error) {
	out := make([]string, RecoveryCodes)
	for i := range out {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("people: recovery code: %w", err)
		}
		c := recoveryEncoding.EncodeToString(b)
		out[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
	}
	return out, nil
}

// canonical is the form recovery codes are stored (hashed) and compared in: no dashes.
func canonical(codes []string) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i], _ = normalizeRecoveryCode(c)
	}
	return out
}

// normalizeRecoveryCode reads a typed recovery code: any case, dashes and spaces ignored.
func normalizeRecoveryCode(code string) (string, bool) {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(c) != 16 {
		return "", false
	}
	if _, err := recoveryEncoding.DecodeString(c); err != nil {
		return "", false
	}
	return c, true
}

// ResealReport is what a key rotation did to the TOTP secrets.
type ResealReport struct {
	Secrets  int
	Resealed int
	Failed   []int64 // users whose secret does not open with the keys given
}

// ResealTOTP seals every stored TOTP secret that is not under the primary key anew (the key
// rotation); a secret its user changed meanwhile is theirs, sealed under the key of that moment
// (compare-and-swap).
func (s *Service) ResealTOTP(ctx context.Context) (ResealReport, error) {
	var rep ResealReport
	if err := s.Secrets.Refresh(); err != nil {
		return rep, fmt.Errorf("people: read the keys: %w", err)
	}
	secrets, err := s.Store.SealedTOTPSecrets(ctx)
	if err != nil {
		return rep, err
	}
	rep.Secrets = len(secrets)
	for _, t := range secrets {
		if !s.Secrets.NeedsReseal(t.Sealed) {
			continue
		}
		next, err := s.Secrets.Reseal(t.Sealed, totpAAD(t.UserID))
		if err != nil {
			rep.Failed = append(rep.Failed, t.UserID)
			continue
		}
		ok, err := s.Store.ReplaceTOTPSecret(ctx, t.UserID, t.Sealed, next)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Resealed++
		}
	}
	return rep, nil
}
