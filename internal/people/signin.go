package people

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"orderimport/internal/access"
	"orderimport/internal/audit"
	"orderimport/internal/locale"
	"orderimport/internal/sso"
	"orderimport/internal/store"
)

// Errors of signing in.
var (
	// ErrWrongCredentials: the email and password do not match an active user (which of the two
	// is never said).
	ErrWrongCredentials = locale.Err("login_wrong")
	// ErrChallengeGone: the sign-in waiting for its second factor ended (too old, or completed).
	ErrChallengeGone = locale.Err("second_factor_expired")
	// ErrWrongCode: the code is neither the current TOTP code nor an unused recovery code.
	ErrWrongCode = locale.Err("second_factor_wrong")

	// ErrSSOOff: single sign-on is not configured.
	ErrSSOOff = locale.Err("sso_off")
	// ErrSSOState: the callback is not the answer to a sign-in this browser started (forged,
	// replayed, or too old).
	ErrSSOState = locale.Err("sso_state_invalid")
	// ErrSSODenied: the provider says the person did not sign in (cancelled, refused).
	ErrSSODenied = locale.Err("sso_denied")
	// ErrSSOFailed: the provider refused the code, or its ID token is not valid for this sign-in.
	ErrSSOFailed = locale.Err("sso_failed")
	// ErrSSOUnreachable: the provider did not answer.
	ErrSSOUnreachable = locale.Err("sso_unreachable")
	// ErrSSOUnverified: the provider does not vouch for the email.
	ErrSSOUnverified = locale.Err("sso_email_unverified")
	// ErrSSOUnknown: no active user has the email; nobody is created.
	ErrSSOUnknown = locale.Err("sso_unknown_user")
)

// How a sign-in's first step was passed.
const (
	MethodPassword = "password"
	MethodSSO      = "sso"
)

// SignedIn is a sign-in whose steps passed, or whose second factor is due.
type SignedIn struct {
	User store.User
	// Challenge, when set, is the token of a sign-in waiting for its second factor: the browser
	// keeps it and sends it with the code. No session may start before.
	Challenge string
	Next      string
}

// SignIn checks an email and password. Failures count against the email and the address (from
// ctx's actor) for ThrottleWindow; past the limits the step is refused unchecked. A user with a
// second factor gets a challenge instead of a session.
func (s *Service) SignIn(ctx context.Context, email, password, next string) (SignedIn, error) {
	a := actorOf(ctx, store.User{})
	keys := map[string]int{s.throttleKey("email", store.NormalizeEmail(email)): ThrottlePerEmail, s.throttleKey("ip", a.IP): ThrottlePerIP}
	wait, err := s.throttled(ctx, keys)
	if err != nil {
		return SignedIn{}, err
	}
	if wait > 0 {
		te := &ThrottledError{Wait: wait}
		s.recordRefusal(ctx, email, audit.LoginThrottled, locale.M("audit_login_throttled", "minutes", te.Minutes()))
		return SignedIn{}, te
	}
	u, err := s.Store.Authenticate(ctx, email, password)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.failed(ctx, keys); err != nil {
			return SignedIn{}, err
		}
		s.recordRefusal(ctx, email, audit.LoginFailed, locale.M("audit_login_failed"))
		return SignedIn{}, ErrWrongCredentials
	}
	if err != nil {
		return SignedIn{}, err
	}
	return s.passed(ctx, u, MethodPassword, next)
}

// passed completes a first step: a challenge when the user has a second factor, else the
// sign-in itself.
func (s *Service) passed(ctx context.Context, u store.User, method, next string) (SignedIn, error) {
	if u.TOTPEnabled {
		token, err := randomToken("oic_")
		if err != nil {
			return SignedIn{}, err
		}
		now := s.now()
		if err := s.Store.CreateChallenge(ctx, token, store.Challenge{UserID: u.ID, Method: method, Next: next, CreatedAt: now,
			ExpiresAt: now.Add(ChallengeTTL)}); err != nil {
			return SignedIn{}, err
		}
		return SignedIn{User: u, Challenge: token, Next: next}, nil
	}
	if err := s.Store.ClearLoginFailures(ctx, s.throttleKey("email", u.Email)); err != nil {
		return SignedIn{}, err
	}
	s.recordLogin(ctx, u, method, locale.Message{})
	return SignedIn{User: u, Next: next}, nil
}

func (s *Service) recordLogin(ctx context.Context, u store.User, method string, factor locale.Message) {
	action, detail := audit.Login, locale.M("audit_session_started")
	if method == MethodSSO {
		action, detail = audit.LoginSSO, locale.M("audit_sso_login", "provider", s.SSOName())
	}
	if !factor.IsZero() {
		detail = locale.M("audit_with_second_factor", "what", detail, "factor", factor)
	}
	s.Audit.RecordAs(ctx, actorOf(ctx, u), u.AccountID, action, "", detail)
}

// recordRefusal records a refused sign-in under the account the email belongs to, so its owners
// see attempts on it. An email nobody has is filed under no account and not repeated: people
// type their password into the email field, and the log must not keep it.
func (s *Service) recordRefusal(ctx context.Context, email, action string, detail locale.Message) {
	a := actorOf(ctx, store.User{})
	a.UserID, a.AccountID, a.Email = 0, 0, ""
	var account int64
	u, err := s.Store.UserByEmail(ctx, email)
	switch {
	case err == nil:
		a.UserID, a.Email, account = u.ID, u.Email, u.AccountID
	case errors.Is(err, store.ErrNotFound):
		detail = locale.M("audit_unknown_email", "what", detail)
	default:
		s.log().Error("audit: look up the sign-in's user", "error", err)
	}
	s.Audit.RecordAs(ctx, a, account, action, "", detail)
}

// Challenge is the pending sign-in of token, for the page that asks for the code.
func (s *Service) Challenge(ctx context.Context, token string) (store.User, error) {
	_, u, err := s.Store.ChallengeByToken(ctx, token, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrChallengeGone
	}
	return u, err
}

// SecondFactor completes a pending sign-in with a TOTP code or a recovery code. Failures are
// throttled with the password step's limits and counted under the same email, so knowing the
// password does not buy more guesses; a TOTP code is good once, a recovery code too.
func (s *Service) SecondFactor(ctx context.Context, token, code string) (SignedIn, error) {
	c, u, err := s.Store.ChallengeByToken(ctx, token, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return SignedIn{}, ErrChallengeGone
	}
	if err != nil {
		return SignedIn{}, err
	}
	a := actorOf(ctx, store.User{})
	keys := map[string]int{s.throttleKey("email", u.Email): ThrottlePerEmail, s.throttleKey("ip", a.IP): ThrottlePerIP}
	wait, err := s.throttled(ctx, keys)
	if err != nil {
		return SignedIn{}, err
	}
	if wait > 0 {
		te := &ThrottledError{Wait: wait}
		s.recordRefusal(ctx, u.Email, audit.LoginThrottled, locale.M("audit_login_throttled", "minutes", te.Minutes()))
		return SignedIn{}, te
	}
	factor, ok, err := s.checkSecondFactor(ctx, u, code)
	if err != nil {
		return SignedIn{}, err
	}
	if !ok {
		if err := s.failed(ctx, keys); err != nil {
			return SignedIn{}, err
		}
		s.Audit.RecordAs(ctx, actorOf(ctx, u), u.AccountID, audit.SecondFactorFailed, "", locale.M("audit_second_factor_failed"))
		return SignedIn{}, ErrWrongCode
	}
	if done, err := s.Store.DeleteChallenge(ctx, token); err != nil {
		return SignedIn{}, err
	} else if !done {
		return SignedIn{}, ErrChallengeGone
	}
	if err := s.Store.ClearLoginFailures(ctx, s.throttleKey("email", u.Email)); err != nil {
		return SignedIn{}, err
	}
	s.recordLogin(ctx, u, c.Method, factor)
	return SignedIn{User: u, Next: c.Next}, nil
}

// totpOpts are the parameters every authenticator app understands: 6 digits, 30 s, SHA-1.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpSkew is how many steps either side of now a code may come from (clocks drift, people type
// slowly).
const totpSkew = 1

// matchTOTP finds the step of now ± totpSkew whose code is code, later than lastStep.
func (s *Service) matchTOTP(secret, code string, lastStep int64) (int64, bool) {
	now := s.now().Unix() / 30
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := now + d
		if step <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

func totpAAD(userID int64) []byte { return []byte(fmt.Sprintf("orderimport/totp/user:%d", userID)) }

// checkSecondFactor checks a code against the user's enabled second factor and spends it: a
// TOTP code (six digits) or a recovery code. It says which was used.
func (s *Service) checkSecondFactor(ctx context.Context, u store.User, code string) (locale.Message, bool, error) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(code))
	st, err := s.Store.TOTP(ctx, u.ID)
	if err != nil {
		return locale.Message{}, false, err
	}
	if !st.Enabled {
		return locale.Message{}, false, nil
	}
	if len(code) == 6 {
		secret, err := s.Secrets.Open(st.Sealed, totpAAD(u.ID))
		if err != nil {
			return locale.Message{}, false, fmt.Errorf("people: open the TOTP secret of user %d: %w", u.ID, err)
		}
		step, ok := s.matchTOTP(string(secret), code, st.LastStep)
		if !ok {
			return locale.Message{}, false, nil
		}
		used, err := s.Store.UseTOTPStep(ctx, u.ID, step)
		return locale.M("factor_totp"), used, err
	}
	rc, ok := normalizeRecoveryCode(code)
	if !ok {
		return locale.Message{}, false, nil
	}
	used, err := s.Store.UseRecoveryCode(ctx, u.ID, rc)
	return locale.M("factor_recovery"), used, err
}

// SSOCallback is what the provider's redirect and the browser bring back.
type SSOCallback struct {
	CookieState string // the state this browser was given when it left
	State       string // the state the provider sends back
	Code        string
	Error       string // the provider's error parameter, when it sends one
}

// StartSSO begins a sign-in at the identity provider: a state (also kept by the browser, which
// must bring it back), a nonce and a PKCE verifier, stored for SSOFlowTTL and good once. It
// returns where to send the browser and the state for its cookie.
func (s *Service) StartSSO(ctx context.Context, next string) (redirect, state string, err error) {
	if s.SSO == nil {
		return "", "", ErrSSOOff
	}
	if state, err = randomToken(""); err != nil {
		return "", "", err
	}
	nonce, err := randomToken("")
	if err != nil {
		return "", "", err
	}
	verifier, err := randomToken("")
	if err != nil {
		return "", "", err
	}
	now := s.now()
	if err := s.Store.CreateOIDCLogin(ctx, state, store.OIDCLogin{Nonce: nonce, Verifier: verifier, Next: next, CreatedAt: now,
		ExpiresAt: now.Add(SSOFlowTTL)}); err != nil {
		return "", "", err
	}
	redirect, err = s.SSO.AuthURL(ctx, state, nonce, verifier)
	if errors.Is(err, sso.ErrUnreachable) {
		s.log().Warn("single sign-on: the identity provider does not answer", "error", err)
		return "", "", ErrSSOUnreachable
	}
	return redirect, state, err
}

// FinishSSO completes a sign-in at the identity provider: the state must be the one this browser
// left with, and good (once, in time); the code is exchanged with the flow's verifier; the ID
// token must verify and carry the flow's nonce and a verified email of an active user. Nobody is
// ever created; every refusal is recorded.
func (s *Service) FinishSSO(ctx context.Context, cb SSOCallback) (SignedIn, error) {
	if s.SSO == nil {
		return SignedIn{}, ErrSSOOff
	}
	if cb.State == "" || subtle.ConstantTimeCompare([]byte(cb.CookieState), []byte(cb.State)) != 1 {
		s.refuseSSO(ctx, "", ErrSSOState, "state does not match the browser's")
		return SignedIn{}, ErrSSOState
	}
	flow, err := s.Store.TakeOIDCLogin(ctx, cb.State, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.refuseSSO(ctx, "", ErrSSOState, "state unknown, used or expired")
		return SignedIn{}, ErrSSOState
	}
	if err != nil {
		return SignedIn{}, err
	}
	if cb.Error != "" {
		s.refuseSSO(ctx, "", ErrSSODenied, "provider error "+clipText(cb.Error))
		return SignedIn{}, ErrSSODenied
	}
	id, err := s.SSO.Exchange(ctx, cb.Code, flow.Verifier, flow.Nonce)
	switch {
	case errors.Is(err, sso.ErrUnreachable):
		s.log().Warn("single sign-on: the identity provider does not answer", "error", err)
		return SignedIn{}, ErrSSOUnreachable
	case err != nil:
		s.refuseSSO(ctx, "", ErrSSOFailed, err.Error())
		return SignedIn{}, ErrSSOFailed
	}
	u, err := s.Store.UserByEmail(ctx, id.Email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Status != store.UserActive) || id.Email == "" {
		s.refuseSSO(ctx, "", ErrSSOUnknown, "no active user has the provider's email")
		return SignedIn{}, ErrSSOUnknown
	}
	if err != nil {
		return SignedIn{}, err
	}
	if !id.EmailVerified {
		s.refuseSSO(ctx, u.Email, ErrSSOUnverified, "the provider does not vouch for the email")
		return SignedIn{}, ErrSSOUnverified
	}
	return s.passed(ctx, u, MethodSSO, flow.Next)
}

// refuseSSO records a refused single sign-on: under the account of email when the provider
// named one of its users, else under no account and without the email.
func (s *Service) refuseSSO(ctx context.Context, email string, why *locale.Error, cause string) {
	s.log().Info("single sign-on refused", "code", why.Msg.Code, "cause", cause)
	detail := locale.M("audit_sso_refused", "provider", s.SSOName(), "why", why.Msg)
	if email == "" {
		a := actorOf(ctx, store.User{})
		a.UserID, a.AccountID, a.Email = 0, 0, ""
		s.Audit.RecordAs(ctx, a, 0, audit.LoginSSORefused, "", detail)
		return
	}
	s.recordRefusal(ctx, email, audit.LoginSSORefused, detail)
}

// clipText bounds what a provider's parameter adds to a log line.
func clipText(v string) string {
	if len(v) > 100 {
		return v[:100]
	}
	return v
}

// Principal is who a signed-in user acts as: the principal the adapters put in each request's
// context.
func Principal(ctx context.Context, u store.User) context.Context {
	return access.With(ctx, u.ID, u.AccountID, u.Role)
}
