package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
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
	// MinMaxConns is the smallest pool that cannot starve itself: River's LISTEN session holds
	// one connection for good, and taking the migration lock holds one while the migration
	// runs on another.
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

// openPostgres opens one pgx pool of loc.MaxConns connections for everything the process does:
// the store's queries, River's, and River's LISTEN session (which takes one connection for
// good). The store and River go through database/sql, so that both share one transaction type
// (*sql.Tx) on both engines; database/sql keeps no connections of its own (no idle ones, no
// limit), it borrows one from the pool for each statement or transaction. That makes the
// pool's limit the process's limit, and lets the connector bound the wait for a connection.
func openPostgres(ctx context.Context, loc Location) (*Store, error) {
	pc, err := pgxpool.ParseConfig(loc.URL)
	if err != nil {
		return nil, fmt.Errorf("store: postgres %s: %w", redactDSN(loc.URL), err)
	}
	pc.MaxConns = int32(loc.maxConns())
	pc.MinConns = 0
	pc.MaxConnIdleTime = 5 * time.Minute
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", redactDSN(loc.URL), err)
	}
	c := &boundedConnector{Connector: stdlib.GetPoolConnector(pool), pool: pool, wait: loc.connWait()}
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(0)
	s := &Store{engine: Postgres, w: db, r: db, pool: pool, now: time.Now}
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
			if errors.Is(err, context.DeadlineExceeded) {
				// The pool stayed exhausted: every connection was in use all along.
				return nil, fmt.Errorf("%w: all %d connections of this process stayed in use for %s", ErrBusy, c.pool.Config().MaxConns, c.wait)
			}
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		case !IsBusy(err):
			return nil, err
		}
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

// ListenerPool is the pgx pool River takes its LISTEN connection from (nil on SQLite): the
// store's own pool, so that the session counts against ORDERIMPORT_DB_MAX_CONNS.
func (s *Store) ListenerPool() *pgxpool.Pool { return s.pool }

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
