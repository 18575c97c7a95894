package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"orderimport/internal/access"
)

// Account is a tenant: a company with its users, counters and import tasks.
type Account struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// User belongs to exactly one account, with one role in it.
type User struct {
	ID          int64
	AccountID   int64
	Email       string
	Role        access.Role
	Status      string // UserActive, or UserInvited until the invitation is accepted
	CreatedAt   time.Time
	TOTPEnabled bool // signs in with a second factor
}

// User statuses.
const (
	UserActive  = "active"
	UserInvited = "invited"
)

// userColumns are the columns scanUser reads, of the users table aliased u.
const userColumns = `u.id, u.account_id, u.email, u.role, u.status, u.created_at, u.totp_enabled_at`

// userDest are the scan destinations of userColumns; call done after the scan.
func userDest(u *User) (dest []any, done func()) {
	var totp sql.NullTime
	var role string
	return []any{&u.ID, &u.AccountID, &u.Email, &role, &u.Status, &u.CreatedAt, &totp}, func() {
		u.Role = access.Role(role)
		u.TOTPEnabled = totp.Valid
		u.CreatedAt = u.CreatedAt.UTC()
	}
}

func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var u User
	dest, done := userDest(&u)
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return User{}, err
	}
	done()
	return u, nil
}

// Token is an API token as listed: never its value.
type Token struct {
	ID         int64
	AccountID  int64
	UserID     int64
	Hint       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Password length limits: the lower bound keeps trivially guessable passwords out, the upper
// bound keeps the KDF from being used to burn our CPU.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// argon2id parameters (RFC 9106 second recommendation, memory-constrained).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword derives an argon2id hash in PHC string format.
func HashPassword(password string) (string, error) {
	if n := len([]rune(password)); n < MinPasswordLen || len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password must be %d to %d characters long", MinPasswordLen, MaxPasswordLen)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword verifies a password against a hash made by HashPassword.
func CheckPassword(hash, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a login names an unknown email, so that the answer takes
// as long as for a known one: a well-formed hash with the current parameters whose key (all
// zeros) no password derives. It is built, not derived: hashing a dummy password at package
// init cost every process — worker, migrate, token create — an argon2 pass and a 64 MiB
// allocation that stayed its peak RSS.
var dummyHash = fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
	base64.RawStdEncoding.EncodeToString(make([]byte, 16)), base64.RawStdEncoding.EncodeToString(make([]byte, argonKeyLen)))

// AddUser creates an owner. When accountName names an existing account the user joins it;
// otherwise the account is created (named after accountName, or the email when empty).
func (s *Store) AddUser(ctx context.Context, email, password, accountName string, mustExist bool) (User, Account, error) {
	return s.AddUserWithRole(ctx, email, password, accountName, mustExist, access.Owner)
}

// AddUserWithRole is AddUser with the user's role.
func (s *Store) AddUserWithRole(ctx context.Context, email, password, accountName string, mustExist bool, role access.Role) (User, Account, error) {
	email = NormalizeEmail(email)
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, Account{}, err
	}
	if accountName == "" {
		accountName = email
	}
	var u User
	var a Account
	err = s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM accounts WHERE name = $1`, accountName).Scan(&a.ID, &a.Name, &a.CreatedAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if mustExist {
				return fmt.Errorf("account %q does not exist", accountName)
			}
			a = Account{Name: accountName, CreatedAt: s.nowUTC()}
			if err := tx.QueryRowContext(ctx, `INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id`, a.Name, a.CreatedAt).Scan(&a.ID); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		u = User{AccountID: a.ID, Email: email, Role: role, Status: UserActive, CreatedAt: s.nowUTC()}
		err = tx.QueryRowContext(ctx, `INSERT INTO users (account_id, email, password_hash, created_at, role, status) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			a.ID, email, hash, u.CreatedAt, string(role), UserActive).Scan(&u.ID)
		if isUniqueViolation(err) {
			return fmt.Errorf("a user with email %s already exists: %w", email, ErrConflict)
		}
		return err
	})
	if err != nil {
		return User{}, Account{}, fmt.Errorf("store: add user %s: %w", email, err)
	}
	return u, a, nil
}

// AccountName is the name of an account.
func (s *Store) AccountName(ctx context.Context, id int64) (string, error) {
	var name string
	if err := s.r.QueryRowContext(ctx, `SELECT name FROM accounts WHERE id = $1`, id).Scan(&name); err != nil {
		return "", fmt.Errorf("store: account %d: %w", id, notFound(err))
	}
	return name, nil
}

// NormalizeEmail is the form emails are stored and compared in: trimmed, lower-case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// UserByEmail finds a user by email (case-insensitive), invited users included.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.email = $1`, NormalizeEmail(email)))
	if err != nil {
		return User{}, fmt.Errorf("store: user %s: %w", email, notFound(err))
	}
	return u, nil
}

// Authenticate checks an email and password. A wrong password, an unknown email and an
// invited user (who has no password yet) give the same error after the same amount of work.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	var hash string
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.email = $1`,
		NormalizeEmail(email)), &hash)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && u.Status != UserActive) {
		CheckPassword(dummyHash, password)
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: authenticate: %w", err)
	}
	if !CheckPassword(hash, password) {
		return User{}, ErrNotFound
	}
	return u, nil
}

// UserByID loads a user.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("store: user %d: %w", id, notFound(err))
	}
	return u, nil
}

// tokenPrefix makes our tokens recognisable in secret scanners and logs.
const tokenPrefix = "oit_"

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new API token for the user and returns its value, which is stored only
// as a hash and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, userID int64) (string, Token, error) {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return "", Token{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, err
	}
	value := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{AccountID: u.AccountID, UserID: u.ID, Hint: "…" + value[len(value)-4:], CreatedAt: s.nowUTC()}
	err = s.w.QueryRowContext(ctx, `INSERT INTO api_tokens (account_id, user_id, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		t.AccountID, t.UserID, hashToken(value), t.Hint, t.CreatedAt).Scan(&t.ID)
	if err != nil {
		return "", Token{}, fmt.Errorf("store: create token: %w", err)
	}
	return value, t, nil
}

// UserByToken resolves a bearer token; revoked and unknown tokens are ErrNotFound.
func (s *Store) UserByToken(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 200 {
		return User{}, ErrNotFound
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+`
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.status = $2`, hashToken(token), UserActive))
	if err != nil {
		return User{}, notFound(err)
	}
	return u, nil
}

// Tokens lists the account's tokens without their values.
func (s *Store) Tokens(ctx context.Context, accountID int64) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, account_id, user_id, hint, created_at, last_used_at, revoked_at
		FROM api_tokens WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var used, revoked sql.NullTime
		if err := rows.Scan(&t.ID, &t.AccountID, &t.UserID, &t.Hint, &t.CreatedAt, &used, &revoked); err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		if used.Valid {
			t.LastUsedAt = &used.Time
		}
		if revoked.Valid {
			t.RevokedAt = &revoked.Time
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of the account's tokens.
func (s *Store) RevokeToken(ctx context.Context, accountID, tokenID int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL`,
		s.nowUTC(), tokenID, accountID)
	if err != nil {
		return fmt.Errorf("store: revoke token %d: %w", tokenID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: revoke token %d: %w", tokenID, ErrNotFound)
	}
	return nil
}
