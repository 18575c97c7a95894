package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Moving an embedded installation (SQLite) to PostgreSQL: every table of the tracker's data is
// copied with its ids, then both sides are read again in key order and compared by row count
// and a SHA-256 over a canonical form of every value. The job queue is not copied (River's
// tables are rebuilt by the schedule) and neither are the RetailCRM account leases (nobody
// holds one while the installation is stopped).

// CopyTables are the tables an installation copy moves, parents before children, each with
// the column that orders its rows.
var CopyTables = []struct{ Name, Key string }{
	{"accounts", "id"},
	{"users", "id"},
	{"api_tokens", "id"},
	{"counters", "id"},
	{"import_tasks", "id"},
	{"mapping_versions", "id"},
	{"runs", "id"},
	{"sync_state", "task_id"},
	{"crm_references", "task_id"},
	{"raw_dicts", "id"},
	{"orders", "id"},
	{"order_events", "id"},
	{"sessions", "id"},
	{"audit_log", "id"},
	{"invitations", "id"},
	{"recovery_codes", "id"},
	{"webhooks", "id"},
	{"webhook_deliveries", "id"},
	{"webhook_attempts", "id"},
	{"alert_channels", "id"},
	{"incidents", "id"},
}

// NotCopied are the tables an installation copy leaves behind on purpose: bookkeeping, and
// sign-in state that lives minutes (failed attempts, pending second factors, single sign-on
// flows under way), which a person simply starts again.
var NotCopied = []string{"schema_migrations", "crm_account_leases", "login_failures", "login_challenges", "oidc_logins"}

// TableCopy is the outcome of copying one table.
type TableCopy struct {
	Table      string
	Rows       int64 // rows read from the source
	TargetRows int64 // rows read back from the target
	Source     string
	Target     string // SHA-256 of the canonical rows, hex
}

// Verified reports whether the target holds exactly the source's rows.
func (c TableCopy) Verified() bool { return c.Rows == c.TargetRows && c.Source == c.Target }

// ErrTargetNotEmpty is returned when the target database already holds data.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// copyBatch bounds the rows of one INSERT (and one transaction): PostgreSQL takes at most
// 65535 parameters per statement.
const copyBatch = 1000

type copyKind int

const (
	kindInt copyKind = iota
	kindText
	kindBool
	kindFloat
	kindTime
	kindBytes
)

type copyColumn struct {
	name     string
	kind     copyKind
	nullable bool
}

// CopyInstallation copies src (SQLite) into dst (PostgreSQL), which must be migrated to the
// same schema and hold no data. Each batch of rows is one transaction; identity sequences
// continue after the copied ids. It reads both sides again and returns per-table counts and
// checksums; done is told about each table as it finishes.
func CopyInstallation(ctx context.Context, src, dst *Store, done func(TableCopy)) ([]TableCopy, error) {
	if src.engine != SQLite || dst.engine != Postgres {
		return nil, errors.New("store: copy: the source must be SQLite and the target PostgreSQL")
	}
	sv, err := src.schemaVersions(ctx)
	if err != nil {
		return nil, err
	}
	dv, err := dst.schemaVersions(ctx)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("store: copy: the source schema (%s) and the target schema (%s) differ; migrate both first", sv, dv)
	}
	var busy []string
	for _, t := range CopyTables {
		var n int64
		if err := dst.w.QueryRowContext(ctx, `SELECT count(*) FROM `+t.Name).Scan(&n); err != nil {
			return nil, fmt.Errorf("store: copy: count %s in the target: %w", t.Name, err)
		}
		if n > 0 {
			busy = append(busy, fmt.Sprintf("%s (%d rows)", t.Name, n))
		}
	}
	if len(busy) > 0 {
		return nil, fmt.Errorf("store: copy: %w: %s", ErrTargetNotEmpty, strings.Join(busy, ", "))
	}
	var out []TableCopy
	for _, t := range CopyTables {
		cols, identity, err := dst.copyColumns(ctx, t.Name)
		if err != nil {
			return out, err
		}
		c := TableCopy{Table: t.Name}
		if c.Rows, c.Source, err = copyTable(ctx, src, dst, t.Name, t.Key, cols, identity); err != nil {
			return out, err
		}
		if identity != "" {
			if err := dst.continueIdentity(ctx, t.Name, identity); err != nil {
				return out, err
			}
		}
		if c.TargetRows, c.Target, err = dst.checksum(ctx, t.Name, t.Key, cols, nil); err != nil {
			return out, err
		}
		out = append(out, c)
		if done != nil {
			done(c)
		}
	}
	return out, nil
}

// schemaVersions lists the applied migrations, for comparing two databases.
func (s *Store) schemaVersions(ctx context.Context) (string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return "", fmt.Errorf("store: read schema versions: %w", err)
	}
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return "", fmt.Errorf("store: read schema versions: %w", err)
		}
		vs = append(vs, strconv.Itoa(v))
	}
	return "v" + strings.Join(vs, ","), rows.Err()
}

// copyColumns reads a table's columns and their kinds from the PostgreSQL catalogue, so that
// a column added by a later migration is copied without touching this code; identity is the
// name of the identity column, if any.
func (s *Store) copyColumns(ctx context.Context, table string) (cols []copyColumn, identity string, err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT column_name, data_type, is_nullable, is_identity FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, "", fmt.Errorf("store: copy: columns of %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ, nullable, ident string
		if err := rows.Scan(&name, &typ, &nullable, &ident); err != nil {
			return nil, "", fmt.Errorf("store: copy: columns of %s: %w", table, err)
		}
		c := copyColumn{name: name, nullable: nullable == "YES"}
		switch typ {
		case "bigint", "integer", "smallint":
			c.kind = kindInt
		case "text", "character varying":
			c.kind = kindText
		case "boolean":
			c.kind = kindBool
		case "double precision", "real":
			c.kind = kindFloat
		case "timestamp with time zone", "timestamp without time zone":
			c.kind = kindTime
		case "bytea":
			c.kind = kindBytes
		default:
			return nil, "", fmt.Errorf("store: copy: column %s.%s has type %s, which the copy does not know", table, name, typ)
		}
		if ident == "YES" {
			identity = name
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: copy: columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, "", fmt.Errorf("store: copy: the target has no table %s", table)
	}
	return cols, identity, nil
}

// copyTable streams the source table in key order into the target in batches and returns
// the source's row count and checksum.
func copyTable(ctx context.Context, src, dst *Store, table, key string, cols []copyColumn, identity string) (int64, string, error) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	insert := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `)`
	if identity != "" {
		// The ids are kept: other tables refer to them, and so do URLs users bookmarked.
		insert += ` OVERRIDING SYSTEM VALUE`
	}
	insert += ` VALUES `
	var batch [][]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var sb strings.Builder
		sb.WriteString(insert)
		args := make([]any, 0, len(batch)*len(cols))
		for i, row := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(" + placeholders(len(args)+1, len(cols)) + ")")
			args = append(args, row...)
		}
		err := dst.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, sb.String(), args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: copy %s: insert rows: %w", table, err)
		}
		batch = batch[:0]
		return nil
	}
	n, sum, err := src.checksum(ctx, table, key, cols, func(row []any) error {
		batch = append(batch, row)
		if len(batch) >= copyBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	if err := flush(); err != nil {
		return 0, "", err
	}
	return n, sum, nil
}

// checksum reads a table in key order and hashes a canonical form of every value: integers in
// decimal, text length-prefixed, times in UTC to the microsecond (what PostgreSQL keeps), NULL
// as a marker of its own. each, when set, receives every row's values as they go to the target.
func (s *Store) checksum(ctx context.Context, table, key string, cols []copyColumn, each func([]any) error) (int64, string, error) {
	names := make([]string, len(cols))
	order := key
	for i, c := range cols {
		names[i] = c.name
		if c.name == key && c.kind == kindText && s.engine == Postgres {
			// Byte order, as SQLite sorts text, whatever the database's collation.
			order = key + ` COLLATE "C"`
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+table+` ORDER BY `+order)
	if err != nil {
		return 0, "", fmt.Errorf("store: copy: read %s: %w", table, err)
	}
	defer rows.Close()
	h := sha256.New()
	dest := make([]any, len(cols))
	for i, c := range cols {
		switch c.kind {
		case kindInt:
			dest[i] = new(sql.NullInt64)
		case kindText:
			dest[i] = new(sql.NullString)
		case kindBool:
			dest[i] = new(sql.NullBool)
		case kindFloat:
			dest[i] = new(sql.NullFloat64)
		case kindTime:
			dest[i] = new(sql.NullTime)
		case kindBytes:
			dest[i] = new(nullBytes)
		}
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, "", fmt.Errorf("store: copy: read %s row %d: %w", table, n+1, err)
		}
		row := make([]any, len(cols))
		for i := range cols {
			row[i] = canonical(h, dest[i])
		}
		h.Write([]byte{'\n'})
		n++
		if each != nil {
			if err := each(row); err != nil {
				return 0, "", err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("store: copy: read %s: %w", table, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// canonical writes the value's canonical form to h and returns the value to insert (nil for
// NULL; times truncated to the microsecond, as stored).
func canonical(h hash.Hash, v any) any {
	var tag byte
	var text string
	var out any
	switch v := v.(type) {
	case *sql.NullInt64:
		if v.Valid {
			tag, text, out = 'i', strconv.FormatInt(v.Int64, 10), v.Int64
		}
	case *sql.NullString:
		if v.Valid {
			tag, text, out = 's', v.String, v.String
		}
	case *sql.NullBool:
		if v.Valid {
			tag, text, out = 'b', strconv.FormatBool(v.Bool), v.Bool
		}
	case *sql.NullFloat64:
		if v.Valid {
			tag, text, out = 'f', strconv.FormatFloat(v.Float64, 'g', -1, 64), v.Float64
		}
	case *sql.NullTime:
		if v.Valid {
			t := v.Time.UTC().Truncate(time.Microsecond)
			tag, text, out = 't', t.Format(time.RFC3339Nano), t
		}
	case *nullBytes:
		if *v != nil {
			tag, text, out = 'x', string(*v), []byte(*v)
		}
	}
	if tag == 0 {
		h.Write([]byte{'N', 0})
		return nil
	}
	h.Write([]byte{tag})
	h.Write([]byte(strconv.Itoa(len(text))))
	h.Write([]byte{':'})
	h.Write([]byte(text))
	return out
}

// nullBytes scans a binary column (the kept raw orders): nil for NULL, a copy of the bytes
// otherwise (a non-nil empty slice for an empty value).
type nullBytes []byte

func (b *nullBytes) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append([]byte{}, v...)
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("binary column holds %T", v)
	}
	return nil
}

// continueIdentity makes the identity sequence hand out ids after the copied ones.
func (s *Store) continueIdentity(ctx context.Context, table, column string) error {
	_, err := s.w.ExecContext(ctx, `SELECT CASE WHEN m.max_id IS NULL THEN setval(pg_get_serial_sequence($1, $2), 1, false)
		ELSE setval(pg_get_serial_sequence($1, $2), m.max_id) END
		FROM (SELECT max(`+column+`) AS max_id FROM `+table+`) m`, table, column)
	if err != nil {
		return fmt.Errorf("store: copy %s: continue the id sequence: %w", table, err)
	}
	return nil
}

// SettleCopiedRuns ends what the copied installation left in flight: its queue was not
// copied, so runs it had queued or running have no job any more. They are marked interrupted
// (the next run resumes from the task's checkpoint, as after any stop) and the task leases of
// its stopped process are cleared.
func (s *Store) SettleCopiedRuns(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.nowUTC()
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = $1, finished_at = $2,
			error = CASE WHEN error = '' THEN $3 ELSE error END WHERE status IN ($4, $5)`,
			RunInterrupted, now, "the installation moved to PostgreSQL before the run finished; the next run resumes from the last saved checkpoint",
			RunQueued, RunRunning)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `UPDATE import_tasks SET lease_owner = '', lease_until = NULL WHERE lease_owner <> ''`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: settle copied runs: %w", err)
	}
	return n, nil
}
