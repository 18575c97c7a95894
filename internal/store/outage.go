package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// When the database is away or full. A request that cannot get a connection fails with
// ErrBusy after a bounded wait (the API answers 503 with Retry-After); an import run waits the
// outage out (WithPatience) and continues with the page it had in hand; a full disk fails the
// run with nothing half-written (every page is one transaction).

// ErrBusy is returned when no database connection could be had within the wait: every
// connection of the process stayed in use, or PostgreSQL refused new sessions or could not be
// reached. The same operation can succeed a little later.
var ErrBusy = errors.New("the database has no connection free")

// IsBusy reports whether err means the database could not be used for the moment rather than
// that the operation is wrong: ErrBusy, a connection lost in the middle of an operation (the
// server restarted), a server that refuses sessions (too many clients, starting up, shutting
// down), or SQLite's writer lock held past the busy timeout. Repeating the operation later is
// the remedy for all of them.
func IsBusy(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBusy) || lostConnection(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53300" { // too_many_connections
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteBusy {
		return true
	}
	return false
}

// lostConnection reports errors that mean the session with the server is gone or could not be
// opened: the remedy is a new connection, once the server is back.
func lostConnection(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up, not the server
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// SQLite's primary result codes the store tells apart.
const (
	sqliteBusy = 5
	sqliteFull = 13
)

// IsDiskFull reports whether err means the database had no room to write: SQLite's
// SQLITE_FULL (the file system is full, or the file reached its size limit), no room for the
// reserve (Reserve) or PostgreSQL's disk_full. A transaction that met it was rolled back whole.
func IsDiskFull(err error) bool {
	if errors.Is(err, errNoRoom) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteFull {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53100"
}

// Patience is how an import run waits for a database that went away: it repeats the
// operation that failed, with a backoff of at most a second, until it succeeds, fails for
// another reason, ctx ends or Max has passed (0: as long as ctx lives).
type Patience struct {
	Max time.Duration
	// OnWait is told when an operation starts waiting; OnBack when it succeeded after waiting.
	OnWait func(err error)
	OnBack func(waited time.Duration)
}

type patienceKey struct{}

// WithPatience makes the store's operations called with the returned context wait for the
// database instead of failing while it is away (IsBusy). Only operations that can be repeated
// without effect wait; every transaction of the store is one.
func WithPatience(ctx context.Context, p Patience) context.Context {
	return context.WithValue(ctx, patienceKey{}, &p)
}

// patiently runs fn, and again while it fails with IsBusy when ctx asks for patience.
func (s *Store) patiently(ctx context.Context, fn func() error) error {
	err := fn()
	if err == nil || !IsBusy(err) {
		return err
	}
	p, ok := ctx.Value(patienceKey{}).(*Patience)
	if !ok {
		return err
	}
	start := time.Now()
	if p.OnWait != nil {
		p.OnWait(err)
	}
	delay := 100 * time.Millisecond
	for {
		s.forgetConnections(err)
		if p.Max > 0 && time.Since(start) >= p.Max {
			return err
		}
		if sleep(ctx, delay) != nil {
			return errors.Join(err, ctx.Err())
		}
		delay = min(2*delay, time.Second)
		if err = fn(); err == nil {
			if p.OnBack != nil {
				p.OnBack(time.Since(start))
			}
			return nil
		}
		if !IsBusy(err) {
			return err
		}
	}
}

// forgetConnections closes the pooled PostgreSQL sessions after one of them was found dead:
// the others died with it, and each would otherwise fail one more operation first.
func (s *Store) forgetConnections(err error) {
	if s.pool != nil && lostConnection(err) && !errors.Is(err, ErrBusy) {
		s.pool.Reset()
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
