package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Session is a browser session of the web UI. Only the hash of its token is stored: the
// token itself lives in the user's cookie and nowhere else.
type Session struct {
	ID         string // SHA-256 of the token, hex
	UserID     int64
	AccountID  int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end, however active the session is
	UserAgent  string
	IP         string
}

// sessionPrefix tells session tokens apart from API tokens (oit_) in logs and scanners.
const sessionPrefix = "ois_"

// maxUserAgent bounds what a client can make us store per session.
const maxUserAgent = 512

// CreateSession starts a session for the user at now that ends at the latest after ttl, and
// returns the token for the cookie. The session methods take the time from the caller, whose
// policy the timeouts are.
func (s *Store) CreateSession(ctx context.Context, u User, now time.Time, ttl time.Duration, userAgent, ip string) (string, Session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, err
	}
	token := sessionPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now = now.UTC().Truncate(time.Microsecond)
	ss := Session{ID: hashToken(token), UserID: u.ID, AccountID: u.AccountID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(ttl), UserAgent: truncateUTF8(userAgent, maxUserAgent), IP: ip}
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (id, user_id, account_id, created_at, last_seen_at, expires_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ss.ID, ss.UserID, ss.AccountID, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.UserAgent, ss.IP)
	if err != nil {
		return "", Session{}, fmt.Errorf("store: create session for user %d: %w", u.ID, err)
	}
	return token, ss, nil
}

// SessionByToken resolves a session cookie at now. Unknown tokens and sessions past their
// absolute end are ErrNotFound; the idle timeout is the caller's policy (it sees LastSeenAt).
func (s *Store) SessionByToken(ctx context.Context, token string, now time.Time) (Session, User, error) {
	if !strings.HasPrefix(token, sessionPrefix) || len(token) > 200 {
		return Session{}, User{}, ErrNotFound
	}
	var ss Session
	var u User
	dest, done := userDest(&u)
	err := s.r.QueryRowContext(ctx, `SELECT s.id, s.user_id, s.account_id, s.created_at, s.last_seen_at, s.expires_at, s.user_agent, s.ip,
		`+userColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = $1 AND s.expires_at > $2`, hashToken(token), now.UTC()).
		Scan(append([]any{&ss.ID, &ss.UserID, &ss.AccountID, &ss.CreatedAt, &ss.LastSeenAt, &ss.ExpiresAt, &ss.UserAgent, &ss.IP}, dest...)...)
	if err != nil {
		return Session{}, User{}, notFound(err)
	}
	done()
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = ss.CreatedAt.UTC(), ss.LastSeenAt.UTC(), ss.ExpiresAt.UTC()
	return ss, u, nil
}

// TouchSession records activity on a session at now (the idle timeout counts from it).
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2`, now.UTC().Truncate(time.Microsecond), id); err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session server-side (logout, idle timeout, login rotation); a token
// that names no session is not an error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, hashToken(token)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteStaleSessions removes the sessions past their absolute end at now or idle since
// before idleBefore, and reports how many went.
func (s *Store) DeleteStaleSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2`, now.UTC(), idleBefore.UTC())
	if err != nil {
		return 0, fmt.Errorf("store: delete stale sessions: %w", err)
	}
	return res.RowsAffected()
}

func truncateUTF8(v string, max int) string {
	if len(v) <= max {
		return v
	}
	v = v[:max]
	for !utf8.ValidString(v) {
		v = v[:len(v)-1]
	}
	return v
}
