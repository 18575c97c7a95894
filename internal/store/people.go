package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"orderimport/internal/access"
)

// ErrLastOwner refuses a change that would leave an account without an active owner.
var ErrLastOwner = errors.New("the account's last owner")

// UserRow is a user as the user list shows it: with the invitation's end while it is pending.
type UserRow struct {
	User
	InviteExpiresAt *time.Time
}

// Users lists the account's users, invited ones included, by email.
func (s *Store) Users(ctx context.Context, accountID int64) ([]UserRow, error) {
	// A user has at most one unused invitation: Invite replaces the earlier one.
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+`, i.expires_at
		FROM users u LEFT JOIN invitations i ON i.user_id = u.id AND i.used_at IS NULL
		WHERE u.account_id = $1 ORDER BY u.email`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []UserRow
	for rows.Next() {
		var r UserRow
		var exp sql.NullTime
		dest, done := userDest(&r.User)
		if err := rows.Scan(append(dest, &exp)...); err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		done()
		if exp.Valid && r.Status == UserInvited {
			t := exp.Time.UTC()
			r.InviteExpiresAt = &t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AccountUser loads one of the account's users; another account's is ErrNotFound.
func (s *Store) AccountUser(ctx context.Context, accountID, userID int64) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1 AND u.account_id = $2`, userID, accountID))
	if err != nil {
		return User{}, fmt.Errorf("store: user %d: %w", userID, notFound(err))
	}
	return u, nil
}

// lockAccount serialises the changes of an account's users: on PostgreSQL the row lock holds
// until the transaction ends, so two owners demoting each other at once cannot both pass the
// last-owner check (SQLite has one writer anyway).
func lockAccount(ctx context.Context, tx *sql.Tx, accountID int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET name = name WHERE id = $1`, accountID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// otherOwners counts the account's active owners other than userID.
func otherOwners(ctx context.Context, tx *sql.Tx, accountID, userID int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE account_id = $1 AND role = $2 AND status = $3 AND id <> $4`,
		accountID, string(access.Owner), UserActive, userID).Scan(&n)
	return n, err
}

// Invitation is a one-time link to set an invited user's password, as looked up by its token.
type Invitation struct {
	ID          int64
	AccountID   int64
	AccountName string
	UserID      int64
	Email       string
	Role        access.Role
	CreatedBy   int64
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
}

// Invite records an invitation of email into the account with the role, valid until expires,
// and returns the invited user. The link's token is stored only as its hash. Inviting an email
// the account has invited before renews the invitation (the old link stops working) with the new
// role; an email that belongs to an active user, or to anyone in another account, is ErrConflict.
func (s *Store) Invite(ctx context.Context, accountID int64, email string, role access.Role, token string, createdBy int64, expires time.Time) (User, error) {
	email = NormalizeEmail(email)
	now := s.nowUTC()
	var u User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		existing, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, email))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			u = User{AccountID: accountID, Email: email, Role: role, Status: UserInvited, CreatedAt: now}
			err = tx.QueryRowContext(ctx, `INSERT INTO users (account_id, email, password_hash, created_at, role, status) VALUES ($1, $2, '', $3, $4, $5) RETURNING id`,
				accountID, email, now, string(role), UserInvited).Scan(&u.ID)
			if isUniqueViolation(err) {
				return ErrConflict
			}
			if err != nil {
				return err
			}
		case err != nil:
			return err
		case existing.AccountID != accountID || existing.Status != UserInvited:
			return ErrConflict
		default:
			u = existing
			u.Role = role
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = $1 WHERE id = $2`, string(role), u.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM invitations WHERE user_id = $1`, u.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO invitations (account_id, user_id, token_hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			accountID, u.ID, hashToken(token), createdBy, now, expires.UTC())
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("store: invite %s: %w", email, err)
	}
	return u, nil
}

// InvitationByToken looks an invitation up by its link's token: used and expired ones too, so
// that the page can say which it is; an unknown token is ErrNotFound.
func (s *Store) InvitationByToken(ctx context.Context, token string) (Invitation, error) {
	var inv Invitation
	var used sql.NullTime
	var role string
	err := s.r.QueryRowContext(ctx, `SELECT i.id, i.account_id, a.name, i.user_id, u.email, u.role, i.created_by, i.created_at, i.expires_at, i.used_at
		FROM invitations i JOIN users u ON u.id = i.user_id JOIN accounts a ON a.id = i.account_id
		WHERE i.token_hash = $1`, hashToken(token)).
		Scan(&inv.ID, &inv.AccountID, &inv.AccountName, &inv.UserID, &inv.Email, &role, &inv.CreatedBy, &inv.CreatedAt, &inv.ExpiresAt, &used)
	if err != nil {
		return Invitation{}, fmt.Errorf("store: invitation: %w", notFound(err))
	}
	inv.Role = access.Role(role)
	inv.CreatedAt, inv.ExpiresAt = inv.CreatedAt.UTC(), inv.ExpiresAt.UTC()
	if used.Valid {
		t := used.Time.UTC()
		inv.UsedAt = &t
	}
	return inv, nil
}

// AcceptInvitation sets the invited user's password and makes them active, once: the link must
// be unused and unexpired at now, and its user still invited, all checked in the statement that
// uses it, so a link used twice at the same moment works once. Anything else is ErrNotFound.
func (s *Store) AcceptInvitation(ctx context.Context, token, passwordHash string, now time.Time) (User, error) {
	var u User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id, userID int64
		err := tx.QueryRowContext(ctx, `SELECT i.id, i.user_id FROM invitations i JOIN users u ON u.id = i.user_id
			WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND u.status = $3`,
			hashToken(token), now.UTC(), UserInvited).Scan(&id, &userID)
		if err != nil {
			return notFound(err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL`, now.UTC(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, status = $2 WHERE id = $3`, passwordHash, UserActive, userID); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID))
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("store: accept invitation: %w", err)
	}
	return u, nil
}

// SetRole changes the role of one of the account's users and returns the user as it was before.
// Demoting the account's last active owner is ErrLastOwner.
func (s *Store) SetRole(ctx context.Context, accountID, userID int64, role access.Role) (User, error) {
	var before User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var err error
		before, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1 AND u.account_id = $2`, userID, accountID))
		if err != nil {
			return notFound(err)
		}
		if before.Role == access.Owner && role != access.Owner && before.Status == UserActive {
			n, err := otherOwners(ctx, tx, accountID, userID)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastOwner
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET role = $1 WHERE id = $2`, string(role), userID)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("store: set the role of user %d: %w", userID, err)
	}
	return before, nil
}

// RemoveUser deletes one of the account's users with everything that lets them in: sessions,
// API tokens, invitations, recovery codes, pending sign-ins. Removing the account's last active
// owner is ErrLastOwner. The audit log keeps their email in the events they did.
func (s *Store) RemoveUser(ctx context.Context, accountID, userID int64) (User, error) {
	var u User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1 AND u.account_id = $2`, userID, accountID))
		if err != nil {
			return notFound(err)
		}
		if u.Role == access.Owner && u.Status == UserActive {
			n, err := otherOwners(ctx, tx, accountID, userID)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastOwner
			}
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE user_id = $1`,
			`DELETE FROM api_tokens WHERE user_id = $1`,
			`DELETE FROM invitations WHERE user_id = $1`,
			`DELETE FROM recovery_codes WHERE user_id = $1`,
			`DELETE FROM login_challenges WHERE user_id = $1`,
			`DELETE FROM users WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("store: remove user %d: %w", userID, err)
	}
	return u, nil
}

// PasswordHash is the user's stored password hash ("" for an invited user).
func (s *Store) PasswordHash(ctx context.Context, userID int64) (string, error) {
	var h string
	if err := s.r.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&h); err != nil {
		return "", fmt.Errorf("store: password of user %d: %w", userID, notFound(err))
	}
	return h, nil
}

// SetPassword stores a new password hash and ends the user's other sessions: every session but
// the one whose id is keep ("" ends them all).
func (s *Store) SetPassword(ctx context.Context, userID int64, hash, keep string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set the password of user %d: %w", userID, err)
	}
	return nil
}

// TOTPState is a user's second factor as stored: the sealed secret (pending until enabled) and
// the last step a code was accepted for.
type TOTPState struct {
	Sealed   string
	Enabled  bool
	LastStep int64
}

// TOTP reads the user's second factor.
func (s *Store) TOTP(ctx context.Context, userID int64) (TOTPState, error) {
	var st TOTPState
	var enabled sql.NullTime
	err := s.r.QueryRowContext(ctx, `SELECT totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = $1`, userID).
		Scan(&st.Sealed, &enabled, &st.LastStep)
	if err != nil {
		return TOTPState{}, fmt.Errorf("store: second factor of user %d: %w", userID, notFound(err))
	}
	st.Enabled = enabled.Valid
	return st, nil
}

// SetPendingTOTP stores a new secret for an enrolment under way; a user whose second factor
// is on keeps it (ErrConflict).
func (s *Store) SetPendingTOTP(ctx context.Context, userID int64, sealed string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET totp_secret = $1 WHERE id = $2 AND totp_enabled_at IS NULL`, sealed, userID)
	if err != nil {
		return fmt.Errorf("store: pending second factor of user %d: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: pending second factor of user %d: %w", userID, ErrConflict)
	}
	return nil
}

// EnableTOTP turns the pending secret sealed into the user's second factor, with step as the
// code that proved it and recovery codes, stored only as their SHA-256 (earlier ones are
// dropped).
// The secret must still be the pending one (another enrolment in another tab did not replace
// it): otherwise ErrConflict.
func (s *Store) EnableTOTP(ctx context.Context, userID int64, sealed string, step int64, recovery []string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled_at = $1, totp_last_step = $2 WHERE id = $3 AND totp_secret = $4 AND totp_enabled_at IS NULL`,
			s.nowUTC(), step, userID, sealed)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrConflict
		}
		return replaceRecoveryCodes(ctx, tx, userID, recovery)
	})
	if err != nil {
		return fmt.Errorf("store: enable the second factor of user %d: %w", userID, err)
	}
	return nil
}

func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID int64, codes []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, hashToken(c)); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceRecoveryCodes gives the user new recovery codes (stored as their SHA-256); the old
// ones stop working.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, codes []string) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return replaceRecoveryCodes(ctx, tx, userID, codes) }); err != nil {
		return fmt.Errorf("store: recovery codes of user %d: %w", userID, err)
	}
	return nil
}

// DisableTOTP turns the user's second factor off and drops its secret and recovery codes.
func (s *Store) DisableTOTP(ctx context.Context, userID int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = '', totp_enabled_at = NULL, totp_last_step = 0 WHERE id = $1`, userID); err != nil {
			return err
		}
		return replaceRecoveryCodes(ctx, tx, userID, nil)
	})
	if err != nil {
		return fmt.Errorf("store: disable the second factor of user %d: %w", userID, err)
	}
	return nil
}

// UseTOTPStep records that a code of step was accepted, only if no code of that step or a later
// one was accepted before: false means the code was used already (a replay).
func (s *Store) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1 AND totp_enabled_at IS NOT NULL`, step, userID)
	if err != nil {
		return false, fmt.Errorf("store: use a code of user %d: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// UseRecoveryCode spends one of the user's recovery codes, once: false when the user has no
// such unused code.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, code string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, s.nowUTC(), userID, hashToken(code))
	if err != nil {
		return false, fmt.Errorf("store: use a recovery code of user %d: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: recovery codes of user %d: %w", userID, err)
	}
	return n, nil
}

// SealedTOTP is a user's sealed TOTP secret as a key rotation visits it.
type SealedTOTP struct {
	UserID int64
	Sealed string
}

// SealedTOTPSecrets lists every stored TOTP secret, pending ones included, for the key rotation.
func (s *Store) SealedTOTPSecrets(ctx context.Context) ([]SealedTOTP, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT id, totp_secret FROM users WHERE totp_secret <> '' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list TOTP secrets: %w", err)
	}
	defer rows.Close()
	var out []SealedTOTP
	for rows.Next() {
		var t SealedTOTP
		if err := rows.Scan(&t.UserID, &t.Sealed); err != nil {
			return nil, fmt.Errorf("store: list TOTP secrets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ReplaceTOTPSecret stores a user's secret sealed anew, only if the stored value is still old.
func (s *Store) ReplaceTOTPSecret(ctx context.Context, userID int64, old, sealed string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET totp_secret = $1 WHERE id = $2 AND totp_secret = $3`, sealed, userID, old)
	if err != nil {
		return false, fmt.Errorf("store: replace the TOTP secret of user %d: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AddLoginFailure records a failed sign-in step for the throttle key at.
func (s *Store) AddLoginFailure(ctx context.Context, key string, at time.Time) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO login_failures (throttle_key, failed_at) VALUES ($1, $2)`, key, at.UTC().Truncate(time.Microsecond)); err != nil {
		return fmt.Errorf("store: record a failed sign-in: %w", err)
	}
	return nil
}

// LoginFailures lists the newest failures of the key after since, at most limit, newest first.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT failed_at FROM login_failures WHERE throttle_key = $1 AND failed_at > $2 ORDER BY failed_at DESC LIMIT $3`,
		key, since.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: read failed sign-ins: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("store: read failed sign-ins: %w", err)
		}
		out = append(out, at.UTC())
	}
	return out, rows.Err()
}

// ClearLoginFailures forgets the key's failures (a successful sign-in).
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE throttle_key = $1`, key); err != nil {
		return fmt.Errorf("store: clear failed sign-ins: %w", err)
	}
	return nil
}

// PruneSignIns forgets what no longer matters at now: failures older than before, and pending
// sign-ins and single sign-on flows past their end.
func (s *Store) PruneSignIns(ctx context.Context, now, before time.Time) error {
	for _, q := range []struct {
		sql string
		at  time.Time
	}{
		{`DELETE FROM login_failures WHERE failed_at <= $1`, before},
		{`DELETE FROM login_challenges WHERE expires_at <= $1`, now},
		{`DELETE FROM oidc_logins WHERE expires_at <= $1`, now},
	} {
		if _, err := s.w.ExecContext(ctx, q.sql, q.at.UTC()); err != nil {
			return fmt.Errorf("store: prune sign-ins: %w", err)
		}
	}
	return nil
}

// Challenge is a sign-in whose first step passed and whose second factor is still to come.
type Challenge struct {
	UserID    int64
	Method    string // how the first step was passed: "password" or "sso"
	Next      string // where the browser goes afterwards
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateChallenge stores a pending sign-in under the hash of token.
func (s *Store) CreateChallenge(ctx context.Context, token string, c Challenge) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO login_challenges (id, user_id, method, next_path, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		hashToken(token), c.UserID, c.Method, c.Next, c.CreatedAt.UTC().Truncate(time.Microsecond), c.ExpiresAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("store: create a pending sign-in: %w", err)
	}
	return nil
}

// ChallengeByToken reads a pending sign-in that has not ended at now, with its user.
func (s *Store) ChallengeByToken(ctx context.Context, token string, now time.Time) (Challenge, User, error) {
	var c Challenge
	var u User
	dest, done := userDest(&u)
	err := s.r.QueryRowContext(ctx, `SELECT c.user_id, c.method, c.next_path, c.created_at, c.expires_at, `+userColumns+`
		FROM login_challenges c JOIN users u ON u.id = c.user_id WHERE c.id = $1 AND c.expires_at > $2`, hashToken(token), now.UTC()).
		Scan(append([]any{&c.UserID, &c.Method, &c.Next, &c.CreatedAt, &c.ExpiresAt}, dest...)...)
	if err != nil {
		return Challenge{}, User{}, fmt.Errorf("store: pending sign-in: %w", notFound(err))
	}
	done()
	return c, u, nil
}

// DeleteChallenge ends a pending sign-in; false when it was ended already (by another request
// that completed it first).
func (s *Store) DeleteChallenge(ctx context.Context, token string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM login_challenges WHERE id = $1`, hashToken(token))
	if err != nil {
		return false, fmt.Errorf("store: end a pending sign-in: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// OIDCLogin is one redirect to the identity provider: what the callback needs to finish it.
type OIDCLogin struct {
	Nonce     string
	Verifier  string // the PKCE code verifier
	Next      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateOIDCLogin stores a single sign-on flow under the hash of its state.
func (s *Store) CreateOIDCLogin(ctx context.Context, state string, l OIDCLogin) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO oidc_logins (id, nonce, verifier, next_path, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		hashToken(state), l.Nonce, l.Verifier, l.Next, l.CreatedAt.UTC().Truncate(time.Microsecond), l.ExpiresAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("store: start a single sign-on: %w", err)
	}
	return nil
}

// TakeOIDCLogin returns the flow of state and deletes it, so a state is good once; an unknown,
// used or ended one (at now) is ErrNotFound.
func (s *Store) TakeOIDCLogin(ctx context.Context, state string, now time.Time) (OIDCLogin, error) {
	var l OIDCLogin
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT nonce, verifier, next_path, created_at, expires_at FROM oidc_logins WHERE id = $1`, hashToken(state)).
			Scan(&l.Nonce, &l.Verifier, &l.Next, &l.CreatedAt, &l.ExpiresAt)
		if err != nil {
			return notFound(err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM oidc_logins WHERE id = $1`, hashToken(state))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotFound
		}
		if !l.ExpiresAt.After(now) {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return OIDCLogin{}, fmt.Errorf("store: single sign-on state: %w", err)
	}
	return l, nil
}
