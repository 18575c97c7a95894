package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// hotPage is the batch size whose statements are kept prepared: RetailCRM's largest page,
// which is what a backfill writes again and again.
const hotPage = 100

// hotStatements are the statements every imported page runs, prepared once on the writer
// pool and reused by each transaction (database/sql keeps one per connection). Prepared per
// batch instead, SQLite parsed the 23-column upsert and the two 100-id lookups again for every
// page: 6% of a first run's CPU in BenchmarkImport. PostgreSQL needs none of it: pgx prepares
// and caches every statement per connection by itself, and database/sql borrows a pooled
// connection per transaction there, on which a database/sql statement would be prepared anew
// each time.
type hotStatements struct {
	mu                  sync.Mutex
	ready               bool
	upsert, byCRM, byID *sql.Stmt
	event               *sql.Stmt // one timeline event (timeline.go)
	byRow               *sql.Stmt // orders before their change (timeline.go)
}

const (
	liveByCRMIDSQL  = `SELECT events, ` + orderColumns + ` FROM orders WHERE task_id = $1 AND deleted = $2 AND crm_id IN (`
	existingByIDSQL = `SELECT id, crm_id, task_id, order_id, hash, deleted FROM orders WHERE counter_id = $1 AND order_id IN (`
	rowsByIDSQL     = `SELECT events, ` + orderColumns + ` FROM orders WHERE id IN (`
)

// prepareHot prepares the hot statements if they are not yet. It must be called outside a
// transaction: on SQLite the writer pool has one connection, which the transaction holds.
// A failure (the schema not migrated yet) is not kept: the batch runs unprepared statements.
func (s *Store) prepareHot(ctx context.Context) *hotStatements {
	if s.engine == Postgres {
		return nil
	}
	h := &s.hot
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready {
		return h
	}
	var stmts []*sql.Stmt
	prep := func(q string) *sql.Stmt {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return nil
		}
		stmts = append(stmts, st)
		return st
	}
	h.upsert = prep(anonymous(upsertOrderSQL))
	h.byCRM = prep(anonymous(liveByCRMIDSQL + placeholders(3, hotPage) + `)`))
	h.byID = prep(anonymous(existingByIDSQL + placeholders(2, hotPage) + `)`))
	h.event = prep(anonymous(insertEventSQL))
	h.byRow = prep(anonymous(rowsByIDSQL + placeholders(1, hotPage) + `)`))
	if h.upsert == nil || h.byCRM == nil || h.byID == nil || h.event == nil || h.byRow == nil {
		for _, st := range stmts {
			st.Close()
		}
		h.upsert, h.byCRM, h.byID, h.event, h.byRow = nil, nil, nil, nil, nil
		return nil
	}
	h.ready = true
	return h
}

// anonymous rewrites a statement whose parameters are $1, $2, … $n, each once and in that
// order, with SQLite's anonymous parameters (?). The driver asks SQLite for the name of every
// parameter it binds, and for a numbered one SQLite walks its list of names, which the driver
// then copies into a Go string and parses: for the 36 parameters of the upsert, 36 of each per
// order written. Anonymous parameters have no name to look up. It panics on any other use of $,
// which only a change to the statements above can bring.
func anonymous(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	next := 1
	for {
		i := strings.IndexByte(q, '$')
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		b.WriteString(q[:i])
		q = q[i+1:]
		n := 0
		for n < len(q) && q[n] >= '0' && q[n] <= '9' {
			n++
		}
		if k, err := strconv.Atoi(q[:n]); err != nil || k != next {
			panic(fmt.Sprintf("store: a hot statement's parameter $%s where $%d was due", q[:n], next))
		}
		b.WriteByte('?')
		q = q[n:]
		next++
	}
}

// closeHot closes the hot statements (Close).
func (s *Store) closeHot() error {
	h := &s.hot
	h.mu.Lock()
	defer h.mu.Unlock()
	var first error
	for _, st := range []*sql.Stmt{h.upsert, h.byCRM, h.byID, h.event, h.byRow} {
		if st != nil {
			if err := st.Close(); err != nil && first == nil {
				first = fmt.Errorf("store: close prepared statement: %w", err)
			}
		}
	}
	h.upsert, h.byCRM, h.byID, h.event, h.byRow, h.ready = nil, nil, nil, nil, nil, false
	return first
}
