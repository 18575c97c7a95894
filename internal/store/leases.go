package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AccountLease is the outcome of asking for a RetailCRM account.
type AccountLease struct {
	Acquired bool
	// Owner and Until describe the current holder when the lease was not acquired.
	Owner string
	Until time.Time
	// PrevOwner and PrevUntil describe the holder before this one when it was acquired:
	// PrevUntil is when that lease was released or ran out. PrevOwner is "" when nobody held
	// the account before.
	PrevOwner string
	PrevUntil time.Time
}

// AcquireAccountLease makes owner the only holder of the RetailCRM account until `until`,
// unless another owner holds an unexpired lease. The account is keyed by its normalised URL.
// One statement decides, so two workers asking at once cannot both win.
func (s *Store) AcquireAccountLease(ctx context.Context, accountURL, owner string, until time.Time) (AccountLease, error) {
	var prevOwner string
	var prevUntil sql.NullTime
	// In DO UPDATE, the right-hand sides read the row as it was, so prev_* receive the
	// previous holder while owner and lease_until receive the new one. Repeated after a
	// connection lost with the commit on its way, the statement finds this owner holding the
	// lease and takes it again.
	err := s.patiently(ctx, func() error {
		err := s.w.QueryRowContext(ctx, `INSERT INTO crm_account_leases (account_url, owner, lease_until, prev_owner, prev_until)
			VALUES ($1, $2, $3, '', NULL)
			ON CONFLICT (account_url) DO UPDATE SET prev_owner = crm_account_leases.owner, prev_until = crm_account_leases.lease_until,
				owner = excluded.owner, lease_until = excluded.lease_until
			WHERE crm_account_leases.lease_until <= $4 OR crm_account_leases.owner = $2
			RETURNING prev_owner, prev_until`, accountURL, owner, until.UTC().Truncate(time.Microsecond), s.nowUTC()).Scan(&prevOwner, &prevUntil)
		return err
	})
	if err == nil {
		l := AccountLease{Acquired: true, PrevOwner: prevOwner}
		if prevUntil.Valid {
			l.PrevUntil = prevUntil.Time.UTC()
		}
		return l, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return AccountLease{}, fmt.Errorf("store: lease RetailCRM account: %w", err)
	}
	var l AccountLease
	err = s.patiently(ctx, func() error {
		return s.w.QueryRowContext(ctx, `SELECT owner, lease_until FROM crm_account_leases WHERE account_url = $1`, accountURL).Scan(&l.Owner, &l.Until)
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return AccountLease{}, fmt.Errorf("store: read lease of RetailCRM account: %w", err)
	}
	l.Until = l.Until.UTC()
	return l, nil
}

// ReleaseAccountLease ends owner's lease now. The row keeps the owner and the end time, which
// is what the next holder needs to know about its predecessor.
func (s *Store) ReleaseAccountLease(ctx context.Context, accountURL, owner string) error {
	err := s.patiently(ctx, func() error {
		_, err := s.w.ExecContext(ctx, `UPDATE crm_account_leases SET lease_until = $1 WHERE account_url = $2 AND owner = $3`,
			s.nowUTC(), accountURL, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release lease of RetailCRM account: %w", err)
	}
	return nil
}

// LockSchedule serialises scheduler ticks across processes for the rest of tx: a second tick
// waits for the first to commit and then finds the tasks it enqueued no longer due. SQLite
// has one writer at a time anyway.
func (s *Store) LockSchedule(ctx context.Context, tx *sql.Tx) error {
	if s.engine != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('orderimport.schedule.' || current_schema()))`); err != nil {
		return fmt.Errorf("store: lock the schedule: %w", err)
	}
	return nil
}
