//go:build unix

package store

import (
	"fmt"
	"path/filepath"
	"syscall"
)

// Room reports whether an SQLite database's disk has room for a run: at least the reserve's
// size free. A run asked for on a fuller disk could not get on (its job's own writes may find
// no room, and it would wait in the queue until someone freed space), so it is refused at once
// with an error for which IsDiskFull holds. On PostgreSQL, or when the file system cannot say,
// it reports room: the writes themselves tell then.
func (s *Store) Room() error {
	if s.engine != SQLite {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(s.path), &st); err != nil {
		return nil
	}
	if free := uint64(st.Bavail) * uint64(st.Bsize); free < reserveSize {
		return fmt.Errorf("store: %w (%d bytes free beside %s)", errNoRoom, free, s.path)
	}
	return nil
}
