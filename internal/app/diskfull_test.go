package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
)

// The embedded database on a full disk, in the middle of a first import: the run fails with
// the code disk_full, nothing of the page being written is kept (the stored orders are exactly
// what the run's committed pages created, each as RetailCRM has it), the service keeps
// answering reads, a run asked for while the disk is full is refused at once or fails the same
// way instead of hanging, and once there is room again the next run completes the import
// exactly.
//
// As root, where the test can mount a file system, the database lives on a 16 MiB tmpfs that a
// filler file fills to the last byte in the middle of the import (the database's reserve is
// what lets the failure be recorded), and freeing space is deleting the filler; elsewhere
// SQLite's max_page_count makes the database full the same way for SQLite (SQLITE_FULL), and
// raising it frees the space.
func TestDiskFullMidImport(t *testing.T) {
	dir := t.TempDir()
	disk := newDisk(t, dir)
	emu := crmemu.New(crmemu.Options{Seed: 11, Orders: 4000})
	e := startEnvAt(t, filepath.Join(dir, "shop.db"), emu)

	var counter struct{ ID int64 }
	if st := e.do("POST", "/api/v1/counters", map[string]any{"name": "Shop", "timezone": "Europe/Moscow"}, &counter); st != 201 {
		t.Fatalf("create counter: %d", st)
	}
	var task struct{ ID int64 }
	if st := e.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), map[string]any{
		"name": "Заказы", "active": false, "type": "retailcrm", "frequency_hours": 1,
		"retailcrm": map[string]any{"url": e.crm, "api_key": crmemu.DemoKey},
	}, &task); st != 201 {
		t.Fatalf("create task: %d", st)
	}

	var run runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &run); st != 202 {
		t.Fatalf("run now: %d", st)
	}
	// The disk fills up once the run has committed a few pages.
	deadline := time.Now().Add(time.Minute)
	for {
		var r struct {
			Status string `json:"status"`
			Pages  int64  `json:"pages"`
		}
		if st := e.do("GET", fmt.Sprintf("/api/v1/runs/%d", run.ID), nil, &r); st != 200 {
			t.Fatalf("get run: %d", st)
		}
		if r.Pages >= 3 {
			break
		}
		if r.Status != store.RunQueued && r.Status != store.RunRunning || time.Now().After(deadline) {
			t.Fatalf("the run did not get under way: %+v", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	disk.fill(t, e)
	failed := e.waitRun(run.ID)
	t.Logf("on a full disk (%s): %+v", disk.how, failed)
	if code := e.errorCode(run.ID); failed.Status != store.RunFailed || code != "disk_full" || !strings.Contains(failed.Error, "disk is full") {
		t.Fatalf("the run on a full disk: %s %s %q; want failed with disk_full, saying in plain words that the disk is full", failed.Status, code, failed.Error)
	}

	// Reads answer, and what was stored is whole pages of exact orders.
	want := e.expectedCSV(t, "Europe/Moscow")
	byID := map[string][]string{}
	for _, r := range want {
		byID[r[0]] = r
	}
	got := e.csv(counter.ID, "")[1:]
	if int64(len(got)) != failed.Created || len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("after the failure %d orders are stored, the run says it created %d of %d", len(got), failed.Created, len(want))
	}
	for _, r := range got {
		if w, ok := byID[r[0]]; !ok || strings.Join(w, "|") != strings.Join(r, "|") {
			t.Fatalf("order %s stored as %q, RetailCRM has %q", r[0], r, w)
		}
	}
	var task2 struct{ Status string }
	if st := e.do("GET", fmt.Sprintf("/api/v1/imports/%d", task.ID), nil, &task2); st != 200 {
		t.Fatalf("read the task on a full disk: %d", st)
	}

	// A run asked for while the disk is still full never waits for room: it is refused at once
	// (507, nothing changed) when the disk has less free than the database's reserve, and
	// otherwise it starts and fails the same way.
	var answer json.RawMessage
	switch st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &answer); st {
	case 507:
		var refusal struct{ Error struct{ Code string } }
		if err := json.Unmarshal(answer, &refusal); err != nil || refusal.Error.Code != "database_full" {
			t.Fatalf("run now on a full disk: 507 with %s", answer)
		}
	case 202:
		var again runOut
		if err := json.Unmarshal(answer, &again); err != nil {
			t.Fatal(err)
		}
		if again = e.waitRun(again.ID); again.Status != store.RunFailed || e.errorCode(again.ID) != "disk_full" {
			t.Fatalf("a run started on a full disk: %+v", again)
		}
	default:
		t.Fatalf("run now on a full disk: %d", st)
	}

	disk.free(t, e)
	var next runOut
	if st := e.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", task.ID), nil, &next); st != 202 {
		t.Fatalf("run now after freeing space: %d", st)
	}
	done := e.waitRun(next.ID)
	if done.Status != store.RunSucceeded && done.Status != store.RunSucceededWithWarnings {
		t.Fatalf("the run after freeing space: %+v", done)
	}
	assertRows(t, "after freeing space", e.csv(counter.ID, "")[1:], want)
	if disk.fileSystem {
		if _, err := os.Stat(filepath.Join(dir, "shop.db-reserve")); err != nil {
			t.Errorf("the database's reserve was not taken back once there was room: %v", err)
		}
	}
	t.Logf("after freeing space: %+v", done)
}

// disk makes the database's disk full and frees it again.
type disk struct {
	how        string
	fileSystem bool // a real file system runs full (not only SQLite's limit)
	fill, free func(t *testing.T, e *env)
}

func newDisk(t *testing.T, dir string) *disk {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", dir).Run(); err == nil {
			t.Cleanup(func() {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v %s", dir, err, out)
				}
			})
			filler := filepath.Join(dir, "filler")
			return &disk{how: "a 16 MiB tmpfs filled to the last byte", fileSystem: true,
				fill: func(t *testing.T, e *env) {
					f, err := os.Create(filler)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					chunk := make([]byte, 64<<10)
					for {
						if _, err := f.Write(chunk); err != nil {
							if !errors.Is(err, syscall.ENOSPC) {
								t.Fatalf("fill the disk: %v", err)
							}
							break
						}
					}
					// What a page's worth of writing did not fill, a byte at a time does.
					for {
						if _, err := f.Write(chunk[:1]); err != nil {
							break
						}
					}
				},
				free: func(t *testing.T, e *env) {
					if err := os.Remove(filler); err != nil {
						t.Fatal(err)
					}
				}}
		}
	}
	// The writer pool is one connection, so a limit set on it holds for every write.
	return &disk{how: "SQLite's max_page_count",
		fill: func(t *testing.T, e *env) {
			ctx := context.Background()
			var pages int64
			if err := e.app.Store.DB().QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if _, err := e.app.Store.DB().ExecContext(ctx, `PRAGMA max_page_count = `+strconv.FormatInt(pages+16, 10)); err != nil {
				t.Fatal(err)
			}
		},
		free: func(t *testing.T, e *env) {
			if _, err := e.app.Store.DB().ExecContext(context.Background(), `PRAGMA max_page_count = 1073741823`); err != nil {
				t.Fatal(err)
			}
		}}
}

// startEnvAt runs the service on the SQLite database at path in front of emu.
func startEnvAt(t *testing.T, path string, emu *crmemu.Emulator) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	crm := httptest.NewServer(emu)
	t.Cleanup(crm.Close)
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: path}, AllowPrivate: true}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, cfg, log, app.Options{Workers: 2, Migrate: true, Jobs: jobsConfigForTests()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	u, _, err := a.Store.AddUser(ctx, "owner@example.com", "correct horse battery", "Shop", false)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := a.Store.CreateToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	return &env{t: t, app: a, base: "http://" + ln.Addr().String(), token: token, emu: emu, crm: crm.URL, acc: u.AccountID}
}

// errorCode is a run's error_code.
func (e *env) errorCode(runID int64) string {
	e.t.Helper()
	var r struct {
		ErrorCode string `json:"error_code"`
	}
	if st := e.do("GET", fmt.Sprintf("/api/v1/runs/%d", runID), nil, &r); st != 200 {
		e.t.Fatalf("get run %d: %d", runID, st)
	}
	return r.ErrorCode
}
