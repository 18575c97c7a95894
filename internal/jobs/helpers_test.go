package jobs_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/jobs"
	"orderimport/internal/pgtest"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// cluster is one database shared by several nodes, each standing for a process: its own
// connection pools, its own RetailCRM limiters and its own River client.
type cluster struct {
	t   *testing.T
	url string // with search_path set to the test's schema
	kr  *secret.Keyring
	st  *store.Store // the test's own view of the database
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	c := &cluster{t: t, url: pgtest.Schema(t)}
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c.kr = secret.NewKeyring(key)
	c.st = c.open()
	if _, err := c.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, c.st); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) open() *store.Store {
	c.t.Helper()
	st, err := store.Open(context.Background(), store.Location{Engine: store.Postgres, URL: c.url})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

// node is one process of the cluster.
type node struct {
	jobs    *jobs.Jobs
	st      *store.Store
	started bool
}

func (c *cluster) node(workers int, cfg jobs.Config) *node {
	c.t.Helper()
	st := c.open()
	log := slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	im := &importer.Importer{Store: st, Keys: &tasks.Keys{Keyring: c.kr}, HTTPClient: &http.Client{Timeout: 30 * time.Second},
		Limiters: retailcrm.NewLimiters(), Logger: log}
	cfg.Workers = workers
	j, err := jobs.New(st, im, log, cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return &node{jobs: j, st: st}
}

func (n *node) start(t *testing.T) {
	t.Helper()
	if err := n.jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.started = true
	t.Cleanup(func() { n.stop(t) })
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if !n.started {
		return
	}
	n.started = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.jobs.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// account is an emulated RetailCRM account that records how many requests were in flight at
// once: more than one means two runs talked to the account at the same time.
type account struct {
	emu *crmemu.Emulator
	url string
	key string

	mu              sync.Mutex
	inFlight, maxIn int
}

func newAccount(t *testing.T, opts crmemu.Options) *account {
	t.Helper()
	a := &account{emu: crmemu.New(opts), key: crmemu.DemoKey}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.inFlight++
		a.maxIn = max(a.maxIn, a.inFlight)
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			a.inFlight--
			a.mu.Unlock()
		}()
		a.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *account) maxInFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.maxIn
}

// taskRate is the tasks' pace against emulators limited to 10 requests/second: under the
// load of a CI run the emulator's clock sees a process's evenly paced requests bunched, so the
// tasks keep two requests/second of headroom. Two processes pacing an account at once would
// still show as 16/s.
const taskRate = 8

// seedTasks creates a tracker account and n tasks of the RetailCRM account, each importing
// into a counter of its own. Active tasks are due at once; the tests start runs of inactive
// ones themselves.
func (c *cluster) seedTasks(a *account, n int, active bool) []store.Task {
	c.t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	u, _, err := c.st.AddUser(ctx, "owner-"+hex.EncodeToString(b)+"@example.com", "correct horse battery", "", false)
	if err != nil {
		c.t.Fatal(err)
	}
	sealed, _, err := (&tasks.Keys{Keyring: c.kr}).Seal(u.AccountID, a.key)
	if err != nil {
		c.t.Fatal(err)
	}
	var tasks []store.Task
	for i := range n {
		counter, err := c.st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
		if err != nil {
			c.t.Fatal(err)
		}
		task, err := c.st.CreateTask(ctx, store.Task{AccountID: u.AccountID, CounterID: counter.ID, Name: "t" + string(rune('a'+i)),
			Active: active, Type: "retailcrm", FrequencyHours: 1, CRMURL: a.url, CRMKeySealed: sealed, CRMKeyHint: "…" + a.key[len(a.key)-4:],
			RateLimit: taskRate, Status: store.TaskOK})
		if err != nil {
			c.t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	return tasks
}

// waitRuns polls the runs until every one is final, with a deadline.
func (c *cluster) waitRuns(runIDs []int64, within time.Duration) []store.Run {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := make([]store.Run, 0, len(runIDs))
		for _, id := range runIDs {
			r, err := c.st.RunForWorker(context.Background(), id)
			if err != nil {
				c.t.Fatal(err)
			}
			if !r.Finished() {
				break
			}
			out = append(out, r)
		}
		if len(out) == len(runIDs) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("runs not finished within %s: %d of %d done", within, len(out), len(runIDs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storedOrders counts a task's live orders.
func (c *cluster) storedOrders(taskID int64) int {
	c.t.Helper()
	n := 0
	if err := c.st.TaskOrders(context.Background(), taskID, false, func(*store.OrderRow) error { n++; return nil }); err != nil {
		c.t.Fatal(err)
	}
	return n
}

func (c *cluster) scalar(q string, args ...any) int64 {
	c.t.Helper()
	var n int64
	if err := c.st.DB().QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
