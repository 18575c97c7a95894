package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/jobs"
	"orderimport/internal/store"
)

// killChildEnv names the directory a re-executed test binary serves from (TestKillChild).
const killChildEnv = "ORDERIMPORT_KILL_CHILD"

// TestKillChild is not a test of its own: TestKill9 re-executes the test binary to run the
// whole service in a child process that it can kill -9.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("the child process of TestKill9")
	}
	ctx := context.Background()
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: filepath.Join(dir, "test.db")}, AllowPrivate: true}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := app.New(ctx, cfg, log, app.Options{Workers: 2, Migrate: true, Jobs: jobs.Config{Slice: 500 * time.Millisecond, TickInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "addr.tmp")
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "addr")); err != nil {
		t.Fatal(err)
	}
	// Serves until the parent kills the process; it never returns on its own.
	t.Fatal(a.Serve(ctx, ln))
}

// child is one life of the service in its own process.
type child struct {
	cmd  *exec.Cmd
	base string
	out  *os.File
}

func startChild(t *testing.T, dir string, life int) *child {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "addr"))
	out, err := os.Create(filepath.Join(dir, fmt.Sprintf("child%d.log", life)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: out}
	t.Cleanup(func() { c.kill(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "addr")); err == nil {
			c.base = "http://" + string(b)
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not start; its log is %s", out.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL: no deferred function, no shutdown, no last commit runs.
func (c *child) kill(t *testing.T) {
	if c.cmd.ProcessState != nil {
		return
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Error(err)
	}
	_ = c.cmd.Wait()
	c.out.Close()
}

type killRun struct {
	ID      int64  `json:"id"`
	Status  string `json:"status"`
	Phase   string `json:"phase"`
	Pages   int64  `json:"pages"`
	Created int64  `json:"created"`
	Cursor  string `json:"cursor"`
	Error   string `json:"error"`
}

// A real kill -9 of the process running an import — once in the middle of the backfill, once
// in the middle of the change-feed catch-up, once in the middle of a re-map — and a restart on the same SQLite file: the
// interrupted run says so, the task resumes from its last checkpoint, and the final orders are
// exactly RetailCRM's.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	dir := t.TempDir()
	emu := crmemu.New(crmemu.Options{Seed: 41, Orders: 1500, OrderSize: "small", Latency: 2 * time.Millisecond})
	var mu sync.Mutex
	mutating, requests := false, 0
	rng := rand.New(rand.NewPCG(41, 0))
	emu.OnRequest(func(*http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if requests++; mutating && requests%3 == 0 {
			emu.RandomMutation(rng) // life goes on in the shop while the import runs
		}
	})
	crm := httptest.NewServer(emu)
	t.Cleanup(crm.Close)

	// The database with a user and a token; the service itself only ever runs in children.
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.SQLite, Path: filepath.Join(dir, "test.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	u, _, err := st.AddUser(ctx, "owner@example.com", "correct horse battery", "Shop", false)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := st.CreateToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	life := 1
	c := startChild(t, dir, life)
	e := &env{t: t, token: token, emu: emu, crm: crm.URL, base: c.base}
	counter := e.counter()
	task := e.createTask(counter, map[string]any{"name": "t",
		"retailcrm": map[string]any{"url": crm.URL, "api_key": crmemu.DemoKey, "rate_limit": 30}})

	// waitFor polls the task's runs until cond holds for one of them, with a deadline.
	waitFor := func(what string, cond func(killRun) bool) killRun {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var runs struct{ Runs []killRun }
			e.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &runs)
			for _, r := range runs.Runs {
				if cond(r) {
					return r
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: runs %+v", what, runs.Runs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	restart := func() {
		t.Helper()
		life++
		c = startChild(t, dir, life)
		e.base = c.base
	}
	ok := func(r killRun) bool {
		return r.Status == store.RunSucceeded || r.Status == store.RunSucceededWithWarnings
	}

	// 1. Kill -9 in the middle of the backfill.
	mu.Lock()
	mutating = true
	mu.Unlock()
	victim := waitFor("a backfill with committed pages", func(r killRun) bool {
		return r.Status == store.RunRunning && r.Phase == "backfill" && r.Pages >= 3
	})
	c.kill(t)
	t.Logf("killed mid-backfill: %+v", victim)
	restart()
	waitFor("the interrupted run to say so", func(r killRun) bool {
		return r.ID == victim.ID && r.Status == store.RunInterrupted && strings.Contains(r.Error, "resumes from the last saved checkpoint")
	})
	resumed := waitFor("the resumed run to succeed", func(r killRun) bool { return r.ID > victim.ID && ok(r) })
	t.Logf("resumed: %+v", resumed)
	mu.Lock()
	mutating = false
	mu.Unlock()
	if r := e.runNow(task.ID); !succeeded(r) {
		t.Fatalf("clean run after the backfill: %+v", r)
	}
	assertRows(t, "after a kill -9 mid-backfill", e.csv(counter, "")[1:], e.expectedCSV(t, "Europe/Moscow"))

	// 2. Kill -9 in the middle of the catch-up: thousands of changes make a long feed.
	for range 1500 {
		emu.RandomMutation(rng)
	}
	mu.Lock()
	mutating = true
	mu.Unlock()
	var started runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &started); st != 202 {
		t.Fatalf("run now: %d", st)
	}
	victim = waitFor("a catch-up with committed pages", func(r killRun) bool {
		return r.ID == started.ID && r.Status == store.RunRunning && r.Phase == "history" && r.Pages >= 3
	})
	c.kill(t)
	t.Logf("killed mid-history: %+v", victim)
	restart()
	resumed = waitFor("the resumed run to succeed", func(r killRun) bool { return r.ID > victim.ID && ok(r) })
	t.Logf("resumed: %+v", resumed)
	mu.Lock()
	mutating = false
	mu.Unlock()
	if r := e.runNow(task.ID); !succeeded(r) {
		t.Fatalf("clean run after the catch-up: %+v", r)
	}
	assertRows(t, "after a kill -9 mid-history", e.csv(counter, "")[1:], e.expectedCSV(t, "Europe/Moscow"))

	// 3. Kill -9 in the middle of a re-map: enough orders for dozens of batches, a new mapping
	// of revenue, and the kill once some batches are committed. The re-map resumes from its
	// checkpoint and reads no order from RetailCRM.
	for range 15000 {
		emu.CreateOrder(crmemu.OrderInput{})
	}
	if r := e.runNow(task.ID); !succeeded(r) {
		t.Fatalf("the run importing 15,000 new orders: %+v", r)
	}
	var orderReads atomic.Int64
	emu.OnRequest(func(r *http.Request) {
		if r.URL.Path == "/api/v5/orders" {
			orderReads.Add(1)
		}
	})
	revenue := "(totalSumm ?? 0) + 1"
	if st := e.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", task.ID), map[string]any{"mapping": map[string]any{"revenue": revenue}}, nil); st != 200 {
		t.Fatalf("mapping change: %d", st)
	}
	victim = waitFor("a re-map with committed batches", func(r killRun) bool {
		return r.Status == store.RunRunning && r.Phase == "remap" && r.Pages >= 2
	})
	c.kill(t)
	t.Logf("killed mid-remap: %+v", victim)
	restart()
	resumed = waitFor("the resumed re-map to succeed", func(r killRun) bool { return r.ID >= victim.ID && ok(r) })
	t.Logf("resumed: %+v", resumed)
	if n := orderReads.Load(); n != 0 {
		t.Errorf("the re-map, killed and resumed, read orders %d times", n)
	}
	assertRows(t, "after a kill -9 mid-remap", e.csv(counter, "")[1:],
		e.expectedTask(t, store.Task{Mapping: map[string]string{"revenue": revenue}}, "Europe/Moscow"))

	// Every run ended, and said how: three interrupted by the kills, none left "running".
	var runs struct{ Runs []killRun }
	e.do("GET", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &runs)
	statuses := map[string]int{}
	for _, r := range runs.Runs {
		statuses[r.Status]++
	}
	if statuses[store.RunInterrupted] != 3 || statuses[store.RunRunning]+statuses[store.RunQueued] != 0 {
		t.Errorf("runs after three kills: %v", statuses)
	}
}
