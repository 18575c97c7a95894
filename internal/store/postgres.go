package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Connection pool limits on PostgreSQL (ORDERIMPORT_DB_MAX_CONNS).
const (
	// DefaultMaxConns is the most connections one process opens unless told otherwise:
	// docs/DEPLOY.md sizes it (a serve and four workers stay under PostgreSQL's default
	// max_connections of 100).
	DefaultMaxConns = 10
	// MinMaxConns is the smallest setting that cannot starve itself: River's LISTEN session
	// holds one connection for good, and taking the migration lock holds one while the
	// migration runs on another.
	MinMaxConns = 3
	// MaxMaxConns bounds the setting to something PostgreSQL can be configured for.
	MaxMaxConns = 1000
	// DefaultConnWait is how long an operation waits for a connection before it fails with
	// ErrBusy.
	DefaultConnWait = 10 * time.Second
	// connectTimeout bounds one attempt to open a connection when the URL sets none: a
	// server that does not answer at all must not hold a caller for pgx's default 2 minutes.
	connectTimeout = 5 * time.Second
)

// openPostgres opens the process's connections: a pgx pool of loc.MaxConns−1 for the store's
// and River's queries, and one more for River's LISTEN session, whose connection River takes
// out of its pool for good (a hijacked connection no longer counts against a pool's limit, so
// it gets a pool of its own). The store and River go through database/sql, so that both share
// one transaction type (*sql.Tx) on both engines; database/sql keeps no connections of its own
// (no idle ones, no limit), it borrows one from the pool for each statement or transaction.
// That makes the pool's limit the process's limit, and lets the connector bound the wait for a
// connection.
func openPostgres(ctx context.Context, loc Location) (*Store, error) {
	pc, err := pgxpool.ParseConfig(loc.URL)
	if err != nil {
		return nil, fmt.Errorf("store: postgres %s: %w", redactDSN(loc.URL), err)
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = connectTimeout
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		// pg_stat_activity then tells the sessions of each process apart (pool sizing).
		pc.ConnConfig.RuntimeParams["application_name"] = fmt.Sprintf("orderimport[%d]", os.Getpid())
	}
	pc.MinConns = 0
	pc.MaxConnIdleTime = 5 * time.Minute
	lc := pc.Copy()
	pc.MaxConns = int32(loc.maxConns() - 1)
	lc.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", redactDSN(loc.URL), err)
	}
	listen, err := pgxpool.NewWithConfig(ctx, lc)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open postgres %s: %w", redactDSN(loc.URL), err)
	}
	c := &boundedConnector{Connector: stdlib.GetPoolConnector(pool), pool: pool, wait: loc.connWait()}
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(0)
	s := &Store{engine: Postgres, w: db, r: db, pool: pool, listen: listen, now: time.Now}
	if err := db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect to postgres %s: %w", redactDSN(loc.URL), err)
	}
	return s, nil
}

func (l Location) maxConns() int {
	if l.MaxConns == 0 {
		return DefaultMaxConns
	}
	return min(max(l.MaxConns, MinMaxConns), MaxMaxConns)
}

func (l Location) connWait() time.Duration {
	if l.ConnWait <= 0 {
		return DefaultConnWait
	}
	return l.ConnWait
}

// boundedConnector lends database/sql a connection of the pool, waiting at most `wait` for
// one: while the pool is exhausted, and while PostgreSQL refuses new sessions or cannot be
// reached, it tries again with a backoff of at most a second, so a caller gets a connection
// within about a second of one becoming available. After `wait` it fails with ErrBusy.
type boundedConnector struct {
	driver.Connector
	pool *pgxpool.Pool
	wait time.Duration
}

func (c *boundedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	giveUp := time.Now().Add(c.wait)
	delay := 50 * time.Millisecond
	var refused error // the last reason the server gave, if any
	for {
		actx, cancel := context.WithDeadline(ctx, giveUp)
		conn, err := c.Connector.Connect(actx)
		cancel()
		switch {
		case err == nil:
			return conn, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !time.Now().Before(giveUp):
			if !errors.Is(err, context.DeadlineExceeded) {
				refused = err
			}
			stat := c.pool.Stat()
			if refused == nil && stat.AcquiredConns() >= stat.MaxConns() {
				return nil, fmt.Errorf("%w: all %d connections of this process's pool stayed in use for %s", ErrBusy, stat.MaxConns(), c.wait)
			}
			if refused == nil {
				return nil, fmt.Errorf("%w: no connection to the server within %s", ErrBusy, c.wait)
			}
			return nil, fmt.Errorf("%w: %w", ErrBusy, refused)
		case !IsBusy(err):
			return nil, err
		}
		refused = err
		if lostConnection(err) {
			// The server went away: the pooled sessions went with it. Closing them now saves
			// every caller from meeting a dead one first.
			c.pool.Reset()
		}
		if sleep(ctx, min(delay, time.Until(giveUp))) != nil {
			return nil, ctx.Err()
		}
		delay = min(2*delay, time.Second)
	}
}

// ListenerPool is the one-connection pgx pool River takes its LISTEN session from (nil on
// SQLite); with the store's pool it makes ORDERIMPORT_DB_MAX_CONNS.
func (s *Store) ListenerPool() *pgxpool.Pool { return s.listen }

// WithMigrationLock runs fn holding the database's migration lock, so that processes started
// at once apply the store's and River's migrations one after another instead of racing into
// "relation already exists". The lock is per schema; Migrate takes it by itself, so fn must
// not call Migrate (the lock is not re-entrant across connections). SQLite installations are
// one process.
func (s *Store) WithMigrationLock(ctx context.Context, fn func() error) error {
	if s.engine != Postgres {
		return fn()
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer conn.Release()
	const key = `hashtext('orderimport.migrate.' || current_schema())`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("store: take the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			// A session that may still hold the lock must not go back to the pool: closing
			// it ends the session, which releases the lock.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn()
}
