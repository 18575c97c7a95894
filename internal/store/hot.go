package store

import (
	"context"
	"database/sql"
	"fmt"
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
}

const (
	liveByCRMIDSQL  = `SELECT id, crm_id, order_id FROM orders WHERE task_id = $1 AND deleted = $2 AND crm_id IN (`
	existingByIDSQL = `SELECT id, crm_id, task_id, order_id, hash, deleted FROM orders WHERE counter_id = $1 AND order_id IN (`
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
	h.upsert = prep(upsertOrderSQL)
	h.byCRM = prep(liveByCRMIDSQL + placeholders(3, hotPage) + `)`)
	h.byID = prep(existingByIDSQL + placeholders(2, hotPage) + `)`)
	h.event = prep(insertEventSQL)
	if h.upsert == nil || h.byCRM == nil || h.byID == nil || h.event == nil {
		for _, st := range stmts {
			st.Close()
		}
		h.upsert, h.byCRM, h.byID, h.event = nil, nil, nil, nil
		return nil
	}
	h.ready = true
	return h
}

// closeHot closes the hot statements (Close).
func (s *Store) closeHot() error {
	h := &s.hot
	h.mu.Lock()
	defer h.mu.Unlock()
	var first error
	for _, st := range []*sql.Stmt{h.upsert, h.byCRM, h.byID, h.event} {
		if st != nil {
			if err := st.Close(); err != nil && first == nil {
				first = fmt.Errorf("store: close prepared statement: %w", err)
			}
		}
	}
	h.upsert, h.byCRM, h.byID, h.ready = nil, nil, nil, false
	return first
}
