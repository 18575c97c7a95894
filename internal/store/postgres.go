package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// openPostgres uses pgx through database/sql so that the store and River share one
// transaction type (*sql.Tx) on both engines. A separate one-connection pgx pool serves
// River's LISTEN: notifications need a dedicated session, which database/sql cannot lend.
func openPostgres(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", redactDSN(url), err)
	}
	db.SetMaxOpenConns(MaxPostgresConns)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to postgres %s: %w", redactDSN(url), err)
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres %s: %w", redactDSN(url), err)
	}
	pc.MinConns, pc.MaxConns = 0, 1
	listen, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open listener pool for postgres %s: %w", redactDSN(url), err)
	}
	return &Store{engine: Postgres, w: db, r: db, listen: listen, now: time.Now}, nil
}

// MaxPostgresConns bounds the connections of one process's store pool on PostgreSQL; River
// shares the pool and adds one listener connection (ListenerPool).
const MaxPostgresConns = 20

// ListenerPool is the pgx pool River takes its LISTEN connection from (nil on SQLite). It
// connects to the same database and schema as the store's pool.
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
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	const key = `hashtext('orderimport.migrate.' || current_schema())`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		conn.Close()
		return fmt.Errorf("store: take the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			// A session that may still hold the lock must not go back to the pool: closing
			// it ends the session, which releases the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	return fn()
}
