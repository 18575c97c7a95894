package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// On a disk filled to the last byte SQLite cannot write anything, not even the line that says
// a run failed because the disk is full: the run would show as running until someone freed
// space. So an SQLite installation keeps a reserve beside the database, a file of zeros it
// gives up when a write the disk has no room for must still be made (UseReserve), and takes
// back once there is room again (Reserve, before each run).

// reserveSize is room for what must be written on a full disk: a run's failure and its job's
// completion are a few pages of the WAL each.
const reserveSize = 1 << 20

// errNoRoom is the error of a reserve that cannot be made; IsDiskFull recognises it.
var errNoRoom = errors.New("no room on the database's disk for its reserve")

// reserveSuffix names the reserve after its database.
const reserveSuffix = "-reserve"

func (s *Store) reservePath() string { return s.path + reserveSuffix }

// Reserve makes sure the reserve beside an SQLite database exists (on PostgreSQL it does
// nothing). An error for which IsDiskFull holds means the disk has no room for it: a run
// started now would fill the disk to the last byte.
func (s *Store) Reserve() error {
	if s.engine != SQLite {
		return nil
	}
	path := s.reservePath()
	if reserved(path) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: create the reserve %s: %w", path, err)
	}
	// Written, not truncated to size: a sparse file would hold no room at all.
	_, werr := f.Write(make([]byte, reserveSize))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(path)
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("store: %w (%s)", errNoRoom, path)
		}
		return fmt.Errorf("store: write the reserve %s: %w", path, err)
	}
	return nil
}

// reserved reports whether the reserve at path exists whole.
func reserved(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() >= reserveSize
}

// UseReserve gives the reserve up, so that the disk has room for a write it had none for, and
// reports whether there was one to give.
func (s *Store) UseReserve() bool {
	if s.engine != SQLite {
		return false
	}
	return os.Remove(s.reservePath()) == nil
}
