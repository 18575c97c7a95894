package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"orderimport/internal/store"
)

func TestSessions(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		u, _, err := st.AddUser(ctx, "s@example.com", "long enough password", "", false)
		if err != nil {
			t.Fatal(err)
		}
		token, ss, err := st.CreateSession(ctx, u, now, 7*24*time.Hour, strings.Repeat("Ж", 400), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ss.ID, token) || len(ss.ID) != 64 {
			t.Fatalf("the session id must be the token's hash, got %q", ss.ID)
		}
		if len(ss.UserAgent) > 512 || !strings.HasPrefix(ss.UserAgent, "ЖЖ") {
			t.Fatalf("user agent not capped on a character boundary: %d bytes", len(ss.UserAgent))
		}
		got, gu, err := st.SessionByToken(ctx, token, now)
		if err != nil {
			t.Fatal(err)
		}
		if gu.ID != u.ID || got.AccountID != u.AccountID || !got.ExpiresAt.Equal(now.Add(7*24*time.Hour)) || got.IP != "192.0.2.1" {
			t.Fatalf("session %+v user %+v", got, gu)
		}
		for _, bad := range []string{"", "ois_unknown", token + "x", "oit_" + token[4:]} {
			if _, _, err := st.SessionByToken(ctx, bad, now); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("token %q: %v, want ErrNotFound", bad, err)
			}
		}

		now = now.Add(time.Hour)
		if err := st.TouchSession(ctx, ss.ID, now); err != nil {
			t.Fatal(err)
		}
		got, _, _ = st.SessionByToken(ctx, token, now)
		if !got.LastSeenAt.Equal(now) {
			t.Fatalf("last seen %v, want %v", got.LastSeenAt, now)
		}

		// Past the absolute end the session is gone even before the sweep.
		now = now.Add(7 * 24 * time.Hour)
		if _, _, err := st.SessionByToken(ctx, token, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session: %v", err)
		}

		// The sweep removes expired and idle sessions, and keeps fresh ones.
		idle, _, _ := st.CreateSession(ctx, u, now, 7*24*time.Hour, "", "")
		now = now.Add(9 * time.Hour)
		fresh, _, _ := st.CreateSession(ctx, u, now, 7*24*time.Hour, "", "")
		n, err := st.DeleteStaleSessions(ctx, now, now.Add(-8*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("swept %d sessions (%v), want the expired and the idle one", n, err)
		}
		if _, _, err := st.SessionByToken(ctx, idle, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("idle session survived the sweep: %v", err)
		}
		if _, _, err := st.SessionByToken(ctx, fresh, now); err != nil {
			t.Fatalf("fresh session swept: %v", err)
		}

		// Logout deletes server-side: the cookie value is worthless afterwards.
		if err := st.DeleteSession(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.SessionByToken(ctx, fresh, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted session still resolves: %v", err)
		}
	})
}
