package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

func TestAccountLease(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const acct = "https://shop.retailcrm.ru"
		now := time.Now().UTC().Truncate(time.Microsecond)
		st.SetClock(func() time.Time { return now })

		l, err := st.AcquireAccountLease(ctx, acct, "p1/1", now.Add(time.Minute))
		if err != nil || !l.Acquired || l.PrevOwner != "" || !l.PrevUntil.IsZero() {
			t.Fatalf("first lease of an account: %+v %v", l, err)
		}
		l, err = st.AcquireAccountLease(ctx, acct, "p2/7", now.Add(time.Minute))
		if err != nil || l.Acquired {
			t.Fatalf("a held account was leased twice: %+v %v", l, err)
		}
		if l.Owner != "p1/1" || !l.Until.Equal(now.Add(time.Minute)) {
			t.Fatalf("a refused lease names the holder and its end: %+v", l)
		}
		if l, _ := st.AcquireAccountLease(ctx, "https://other.retailcrm.ru", "p2/7", now.Add(time.Minute)); !l.Acquired {
			t.Fatal("another account is independent")
		}

		// Released: the next holder learns who held it and when it ended.
		now = now.Add(10 * time.Second)
		if err := st.ReleaseAccountLease(ctx, acct, "p2/7"); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.AcquireAccountLease(ctx, acct, "p2/7", now.Add(time.Minute)); l.Acquired {
			t.Fatal("a release by a non-holder freed the account")
		}
		if err := st.ReleaseAccountLease(ctx, acct, "p1/1"); err != nil {
			t.Fatal(err)
		}
		released := now
		now = now.Add(time.Second)
		l, err = st.AcquireAccountLease(ctx, acct, "p2/7", now.Add(time.Minute))
		if err != nil || !l.Acquired || l.PrevOwner != "p1/1" || !l.PrevUntil.Equal(released) {
			t.Fatalf("lease after a release: %+v %v (released at %v)", l, err, released)
		}

		// Expired without a release (the holder died): taken over; the predecessor's end is
		// the expiry.
		expiry := now.Add(time.Minute)
		now = expiry.Add(time.Millisecond)
		l, err = st.AcquireAccountLease(ctx, acct, "p3/9", now.Add(time.Minute))
		if err != nil || !l.Acquired || l.PrevOwner != "p2/7" || !l.PrevUntil.Equal(expiry) {
			t.Fatalf("takeover of an expired lease: %+v %v", l, err)
		}
	})
}

func TestAccountLeaseOneWinner(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const workers = 8
		var mu sync.Mutex
		winners := 0
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				l, err := st.AcquireAccountLease(ctx, "https://race.retailcrm.ru", "p/"+string(rune('a'+i)), time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				if l.Acquired {
					mu.Lock()
					winners++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("%d workers leased one account at once", winners)
		}
	})
}

// TestConcurrentMigrations starts several "processes" (stores with their own pools) on one
// empty PostgreSQL schema at once: the migration lock makes them apply the migrations one
// after another, and every one of them ends on the newest version.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schemaURL := pgtest.Schema(t)
	const procs = 4
	versions := make([]int, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			st, err := store.Open(ctx, store.Location{Engine: store.Postgres, URL: schemaURL})
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			versions[i], err = st.Migrate(ctx)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, v := range versions[1:] {
		if v != versions[0] || v < 4 {
			t.Fatalf("process %d reached version %d, process 0 %d", i+1, v, versions[0])
		}
	}
}

// TestScheduleLock holds the schedule lock in one transaction and checks that a second
// transaction of the same schema waits for it.
func TestScheduleLock(t *testing.T) {
	engines(t, func(t *testing.T, st *store.Store) {
		if st.Engine() != store.Postgres {
			t.Skip("SQLite serialises writers by itself")
		}
		ctx := context.Background()
		locked := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- st.InTx(ctx, func(tx *sql.Tx) error {
				if err := st.LockSchedule(ctx, tx); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		second := make(chan error, 1)
		go func() {
			second <- st.InTx(ctx, func(tx *sql.Tx) error { return st.LockSchedule(ctx, tx) })
		}()
		// The second transaction must be seen waiting for the lock (not merely slow).
		deadline := time.Now().Add(10 * time.Second)
		for {
			var waiting int
			err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
				AND objid::bigint = (hashtext('orderimport.schedule.' || current_schema())::bigint & 4294967295)`).Scan(&waiting)
			if err != nil {
				t.Fatal(err)
			}
			if waiting == 1 {
				break
			}
			select {
			case err := <-second:
				t.Fatalf("a second tick took the schedule lock while the first held it (%v)", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the second tick was never seen waiting for the schedule lock")
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatal(err)
		}
	})
}
