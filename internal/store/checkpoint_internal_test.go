package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The write-ahead log is checkpointed by the checkpointer's connection while the writer writes:
// the writer's own threshold is far away, a checkpoint of the checkpointer copies the whole log
// once the writes stop, and Scrub, which must not race it, still cuts the log to nothing.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "ck.db")
	ran := make(chan checkpointResult)
	s, err := openSQLite(ctx, path, ran)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Results are taken as they come, so that the checkpointer never waits on the test.
	results := make(chan checkpointResult, 1024)
	go func() {
		for {
			select {
			case r := <-ran:
				select {
				case results <- r:
				default:
				}
			case <-s.ck.done:
				return
			}
		}
	}()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != writerCheckpointPages {
		t.Fatalf("the writer checkpoints itself after %d pages (%v), want %d", pages, err, writerCheckpointPages)
	}
	pad := strings.Repeat("x", 8<<10)
	for i := range 600 {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO accounts (name, created_at) VALUES ($1, $2)`, fmt.Sprint(i, pad), time.Now().UTC())
			return err
		})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// The last writes woke the checkpointer; it copies what the writer left in the log.
	for {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("checkpoint: %v", r.err)
			}
			if !r.busy && r.log > 0 && r.log == r.checkpointed {
				goto copied
			}
			s.ck.wrote() // not all of it yet: once more
		case <-ctx.Done():
			t.Fatal("the checkpointer never copied the whole log")
		}
	}
copied:
	if err := s.Scrub(ctx); err != nil {
		t.Fatalf("scrub: %v", err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("the log after a scrub: %v, %v", fi, err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE name LIKE '%' || $1`, pad).Scan(&n); err != nil || n != 600 {
		t.Fatalf("%d accounts read back (%v), want 600", n, err)
	}
}

// After a checkpoint failed for want of room, the checkpointer leaves the disk's last room to
// the writes that record runs' outcomes, and checkpoints again once the reserve is back.
func TestCheckpointerWaitsForTheReserve(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	s := &Store{engine: SQLite, path: path}
	ck := &checkpointer{reserve: s.reservePath()}
	if !ck.due() {
		t.Fatal("a checkpointer that never met a full disk waits")
	}
	ck.full = true
	if ck.due() {
		t.Fatal("after a checkpoint failed for want of room, the next runs while there is no reserve")
	}
	if err := s.Reserve(); err != nil {
		t.Fatal(err)
	}
	if !ck.due() || ck.full {
		t.Fatal("the reserve is back, and the checkpointer still waits")
	}
	if !s.UseReserve() || !ck.due() {
		t.Fatal("a reserve given up without a failed checkpoint stops the checkpointer")
	}
}
