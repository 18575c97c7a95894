package jobs

import (
	"context"
	"testing"
	"time"

	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// A holder in another process may have sent its last requests just before it released the
// account, unseen by this process's limiter: the new holder starts only a second after that.
// A predecessor in this process needs no pause (the shared limiter saw its requests), and
// neither does a busy account that stays busy: it is given up after AccountWait.
func TestHoldAccountHandover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openSchema(t)
	j, err := New(st, nil, nil, Config{TickInterval: time.Hour, AccountWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	task := store.Task{CRMURL: "https://Shop.RetailCRM.ru/"}
	key := "https://shop.retailcrm.ru"

	// Released by another process just now.
	if l, err := st.AcquireAccountLease(ctx, key, "other_p1_x/5", time.Now().Add(time.Minute)); err != nil || !l.Acquired {
		t.Fatal(l, err)
	}
	if err := st.ReleaseAccountLease(ctx, key, "other_p1_x/5"); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	h, err := j.holdAccount(ctx, task, j.client.ID()+"/1")
	if err != nil || h == nil {
		t.Fatalf("hold after a release: %v %v", h, err)
	}
	if waited := time.Since(released); waited < handoverQuiet-10*time.Millisecond {
		t.Errorf("a handover from another process started after %s; it must wait out the predecessor's last second", waited)
	}
	h.release(ctx)

	// Released by this process: no pause.
	start := time.Now()
	h, err = j.holdAccount(ctx, task, j.client.ID()+"/2")
	if err != nil || h == nil {
		t.Fatalf("hold after this process's release: %v %v", h, err)
	}
	if waited := time.Since(start); waited >= handoverQuiet {
		t.Errorf("a handover within one process waited %s", waited)
	}

	// Busy: given up after AccountWait, and the holder keeps the account.
	start = time.Now()
	busy, err := j.holdAccount(ctx, task, "other_p1_x/6")
	if err != nil || busy != nil {
		t.Fatalf("a held account was taken: %v %v", busy, err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond || waited > 30*time.Second {
		t.Errorf("waiting for a busy account took %s, want about AccountWait", waited)
	}
	h.release(ctx)
}

// openSchema opens a migrated store in a schema of the test's own on the test server.
func openSchema(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.Postgres, URL: pgtest.Schema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}
