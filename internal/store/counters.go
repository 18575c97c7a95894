package store

import (
	"context"
	"fmt"
	"time"
)

// Counter is a tracker counter: the place orders are imported into. Its timezone is the zone
// every order date of the counter is shown in.
type Counter struct {
	ID        int64
	AccountID int64
	Name      string
	Timezone  string
	CreatedAt time.Time
}

// CreateCounter adds a counter to the account.
func (s *Store) CreateCounter(ctx context.Context, accountID int64, name, timezone string) (Counter, error) {
	c := Counter{AccountID: accountID, Name: name, Timezone: timezone, CreatedAt: s.nowUTC()}
	err := s.w.QueryRowContext(ctx, `INSERT INTO counters (account_id, name, timezone, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		accountID, name, timezone, c.CreatedAt).Scan(&c.ID)
	if err != nil {
		return Counter{}, fmt.Errorf("store: create counter: %w", err)
	}
	return c, nil
}

// Counter loads one of the account's counters.
func (s *Store) Counter(ctx context.Context, accountID, id int64) (Counter, error) {
	var c Counter
	err := s.patiently(ctx, func() error {
		return s.r.QueryRowContext(ctx, `SELECT id, account_id, name, timezone, created_at FROM counters WHERE id = $1 AND account_id = $2`,
			id, accountID).Scan(&c.ID, &c.AccountID, &c.Name, &c.Timezone, &c.CreatedAt)
	})
	if err != nil {
		return Counter{}, fmt.Errorf("store: counter %d: %w", id, notFound(err))
	}
	return c, nil
}

// Counters lists the account's counters, oldest first.
func (s *Store) Counters(ctx context.Context, accountID int64) ([]Counter, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, account_id, name, timezone, created_at FROM counters WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: list counters: %w", err)
	}
	defer rows.Close()
	var out []Counter
	for rows.Next() {
		var c Counter
		if err := rows.Scan(&c.ID, &c.AccountID, &c.Name, &c.Timezone, &c.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list counters: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
