package store

import "context"

// MigrateTo applies the migrations up to version v only (the upgrade tests).
func (s *Store) MigrateTo(ctx context.Context, v int) (int, error) {
	return s.migrate(ctx, v)
}

// MigrationVersions lists the version numbers of the engine's migrations, in order.
func (s *Store) MigrationVersions() ([]int, error) {
	ms, err := s.migrations()
	if err != nil {
		return nil, err
	}
	vs := make([]int, len(ms))
	for i, m := range ms {
		vs[i] = m.version
	}
	return vs, nil
}

// SetRecountBatch makes Recount re-evaluate n orders per transaction (tests of its batches).
func (s *Store) SetRecountBatch(n int) { s.recountSize = n }
