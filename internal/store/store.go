// Package store is the only package that knows SQL exists. Every tenant-scoped method takes
// the account id and filters by it; the DML text is shared by SQLite and PostgreSQL ($n
// placeholders, ON CONFLICT … DO UPDATE, no engine-only functions), only the DDL differs.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the embedded default engine, pure Go
)

// Engine names the database behind a Store.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// ErrNotFound is returned for rows that are absent or belong to another account: callers
// must not be able to tell the two apart.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique value is already taken.
var ErrConflict = errors.New("already exists")

//go:embed migrations
var migrationsFS embed.FS

// Store holds the connection pools. On SQLite there is exactly one writer connection (shared
// with River) so writers queue in Go instead of failing with SQLITE_BUSY, and a separate read
// pool so pages and exports never wait behind an import transaction.
type Store struct {
	engine Engine
	w      *sql.DB
	r      *sql.DB
	pool   *pgxpool.Pool // PostgreSQL only: the connections of queries (postgres.go)
	listen *pgxpool.Pool // PostgreSQL only: River's LISTEN session
	path   string
	now    func() time.Time
	hot    hotStatements
	// recountSize overrides RecountBatch (tests).
	recountSize int
	// feedWrites tells the feed's listener which counters a committed transaction appended to.
	feedWrites feedWrites
	// ck checkpoints SQLite's write-ahead log beside the writer (checkpoint.go).
	ck *checkpointer
}

// Location is a parsed ORDERIMPORT_DB value, with how to use it.
type Location struct {
	Engine Engine
	Path   string // SQLite file path
	URL    string // PostgreSQL URL
	// MaxConns bounds the PostgreSQL connections the process opens (ORDERIMPORT_DB_MAX_CONNS;
	// 0: DefaultMaxConns). ConnWait is how long an operation waits for one before it fails
	// with ErrBusy (0: DefaultConnWait).
	MaxConns int
	ConnWait time.Duration
}

// ParseLocation accepts `sqlite:PATH`, a plain file path or `postgres://…`.
func ParseLocation(dsn string) (Location, error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return Location{}, errors.New("database location is empty")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			return Location{}, fmt.Errorf("database URL is not a valid URL: %w", err)
		}
		return Location{Engine: Postgres, URL: dsn}, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if p == "" {
			return Location{}, errors.New("sqlite: the file path is empty (use sqlite:./orderimport.db)")
		}
		return Location{Engine: SQLite, Path: p}, nil
	case strings.Contains(dsn, "://"):
		return Location{}, fmt.Errorf("unsupported database %q: use sqlite:PATH, a file path or postgres://", redactDSN(dsn))
	default:
		return Location{Engine: SQLite, Path: dsn}, nil
	}
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// Open connects to the database. It does not migrate; call Migrate.
func Open(ctx context.Context, loc Location) (*Store, error) {
	switch loc.Engine {
	case SQLite:
		return openSQLite(ctx, loc.Path, nil)
	case Postgres:
		return openPostgres(ctx, loc)
	}
	return nil, fmt.Errorf("store: unknown engine %q", loc.Engine)
}

// openSQLite opens the file's pools and starts its checkpointer, which tells ran (tests) of
// every checkpoint it makes.
func openSQLite(ctx context.Context, path string, ran chan<- checkpointResult) (*Store, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
		}
	}
	// Pragmas go in the DSN so that every pooled connection gets them, not only the first.
	// secure_delete: what a write replaces or deletes is overwritten with zeros, so that the file
	// keeps no clear contact a task's pii=hash or drop rewrote, an order retention deleted or a
	// person erased (in free space of a page or on the free list, where a copy of the disk would
	// still show it).
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(1)&_time_format=sqlite"
	// The writer checkpoints the log itself only when the checkpointer fell far behind.
	w, err := sql.Open("sqlite", dsn+fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", writerCheckpointPages))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open read pool %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	ck, err := startCheckpointer(dsn, path+reserveSuffix, ran)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open checkpoint connection %s: %w", path, err)
	}
	return &Store{engine: SQLite, w: w, r: r, path: path, now: time.Now, ck: ck}, nil
}

// Engine reports which database the store talks to.
func (s *Store) Engine() Engine { return s.engine }

// Path is the SQLite file path ("" on PostgreSQL).
func (s *Store) Path() string { return s.path }

// DB is the writer pool; River shares it so that jobs are enqueued in our transactions.
func (s *Store) DB() *sql.DB { return s.w }

// SetClock replaces the clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func (s *Store) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Close closes both pools.
func (s *Store) Close() error {
	err0 := errors.Join(s.closeHot(), s.ck.stop())
	err1 := s.w.Close()
	var err2 error
	if s.r != s.w {
		err2 = s.r.Close()
	}
	if s.pool != nil {
		s.pool.Close()
		s.listen.Close()
	}
	return errors.Join(err0, err1, err2)
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// dataMigrations are the migrations whose data change is Go code rather than SQL: it runs
// after the version's SQL file, in the same transaction, on both engines.
var dataMigrations = map[int]func(ctx context.Context, tx *sql.Tx) error{
	7: convertLegacyMessages,
}

type migration struct {
	version int
	name    string
	sql     string
}

func (s *Store) migrations() ([]migration, error) {
	dir := "migrations/" + string(s.engine)
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: name must start with its version number", name)
		}
		b, err := migrationsFS.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("store: migrations %s and %s have the same version number; renumber one of them", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// Migrate applies every migration not applied yet, each in its own transaction, and reports
// the schema version reached. A version is applied when it is missing, not only when it is
// above the newest: a migration merged later with a lower number than one already applied
// still runs. On PostgreSQL it holds the migration lock, so processes started at once do not
// race each other.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	var version int
	err := s.WithMigrationLock(ctx, func() error {
		var err error
		version, err = s.migrate(ctx, 0)
		return err
	})
	return version, err
}

// migrate applies the missing migrations up to version upTo (0: all of them); the upgrade
// tests stop at each earlier version to fill the database as that version would have.
func (s *Store) migrate(ctx context.Context, upTo int) (int, error) {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return 0, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	ms, err := s.migrations()
	if err != nil {
		return 0, err
	}
	applied := map[int]bool{}
	rows, err := s.w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: read schema version: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	current := 0
	for v := range applied {
		current = max(current, v)
	}
	for _, m := range ms {
		if applied[m.version] || (upTo > 0 && m.version > upTo) {
			continue
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if data := dataMigrations[m.version]; data != nil {
				if err := data(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, m.version, m.name, s.nowUTC())
			return err
		})
		if err != nil {
			return current, fmt.Errorf("store: apply migration %s: %w", m.name, err)
		}
		current = max(current, m.version)
	}
	return current, nil
}

// tx runs fn in a transaction on the writer pool and commits it when fn returns nil. Under
// WithPatience it runs the transaction again while the database is away, so fn must build its
// results afresh on every call; every transaction of the store can be repeated, even after a
// commit whose outcome the lost connection hid (ApplyBatch checks before it repeats one).
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.patiently(ctx, func() error { return s.txOnce(ctx, fn) })
}

func (s *Store) txOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		s.feedWrites.done(tx, false)
		return err
	}
	err = tx.Commit()
	s.feedWrites.done(tx, err == nil)
	if err == nil {
		s.ck.wrote()
	}
	return err
}

// InTx runs fn in one write transaction, for callers (the scheduler) that must put their own
// work — River job inserts — in the same transaction as store writes.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.tx(ctx, fn)
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "duplicate key value")
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
