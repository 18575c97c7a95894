package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/importer"
	"orderimport/internal/locale"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// service is the assembled product (app.New: store, keyring, SSRF-guarded HTTP client with
// metrics, importer, job system, API) on a database of its own.
type service struct {
	app     *app.App
	dir     string
	account int64
	counter int64
	token   string
}

// newService opens a fresh SQLite database in dir (or PostgreSQL when pg is a URL) with a
// user, a counter and an API token.
func newService(ctx context.Context, dir, pg string, workers int) (*service, error) {
	return newServiceOn(ctx, dir, pg, workers, true)
}

// newServiceOn is newService; with fresh false the database already has the user and counter
// (a database a child process filled) and only a token is added.
func newServiceOn(ctx context.Context, dir, pg string, workers int, fresh bool) (*service, error) {
	cfg := config.Config{AllowPrivate: true, AllowPrivateWebhooks: true, Workers: workers}
	if pg != "" {
		cfg.DB = store.Location{Engine: store.Postgres, URL: pg}
		k, err := secret.GenerateKey()
		if err != nil {
			return nil, err
		}
		cfg.SecretKey = k.Base64()
	} else {
		cfg.DB = store.Location{Engine: store.SQLite, Path: filepath.Join(dir, "bench.db")}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(ctx, cfg, log, app.Options{Workers: workers, Migrate: true})
	if err != nil {
		return nil, err
	}
	s := &service{app: a, dir: dir}
	if err := s.identity(ctx, fresh); err != nil {
		a.Close()
		return nil, err
	}
	return s, nil
}

const benchEmail = "bench@example.com"

func (s *service) identity(ctx context.Context, fresh bool) error {
	st := s.app.Store
	var u store.User
	var err error
	if fresh {
		u, _, err = st.AddUser(ctx, benchEmail, "bench-password-1", "Bench", false)
	} else {
		u, err = st.UserByEmail(ctx, benchEmail)
	}
	if err != nil {
		return err
	}
	s.account = u.AccountID
	if fresh {
		c, err := st.CreateCounter(ctx, u.AccountID, "Shop", "Europe/Moscow")
		if err != nil {
			return err
		}
		s.counter = c.ID
	} else {
		cs, err := st.Counters(ctx, u.AccountID)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return errors.New("the database has no counter")
		}
		s.counter = cs[0].ID
	}
	s.token, _, err = st.CreateToken(ctx, u.ID)
	return err
}

func (s *service) Close() { s.app.Close() }

// unpaced is the per-task rate limit (requests/second) of the benchmarks against an
// unlimited emulator: high enough that the client's pacing never waits.
const unpaced = 1e6

// addTask stores an import task for a RetailCRM account URL with the default mapping; rate is
// the task's retailcrm.rate_limit (0: RetailCRM's 10/s). An inactive task is only run when the
// benchmark says so.
func (s *service) addTask(ctx context.Context, crmURL string, rate float64, active bool) (store.Task, error) {
	return s.addTaskIn(ctx, s.counter, crmURL, rate, active)
}

func (s *service) addTaskIn(ctx context.Context, counter int64, crmURL string, rate float64, active bool) (store.Task, error) {
	t := store.Task{AccountID: s.account, CounterID: counter, Name: "bench", Active: active, Type: "retailcrm",
		FrequencyHours: 1, CRMURL: crmURL, RateLimit: rate}
	var err error
	if t.CRMKeySealed, t.CRMKeyHint, err = s.app.Tasks.Keys.Seal(s.account, emuKey); err != nil {
		return t, err
	}
	return s.app.Store.CreateTask(ctx, t)
}

// runOnce executes one complete run of the task (every time slice of it) the way the import
// worker does, and returns the run as recorded.
func (s *service) runOnce(ctx context.Context, t store.Task) (store.Run, error) {
	st := s.app.Store
	r, err := st.CreateRun(ctx, t.AccountID, t.ID, store.RunManual)
	if err != nil {
		return r, err
	}
	if err := st.StartRun(ctx, r.ID); err != nil {
		return r, err
	}
	for {
		err = s.app.Importer.Run(ctx, t, r.ID, time.Now().Add(10*time.Minute))
		if !errors.Is(err, importer.ErrSliceDone) {
			break
		}
	}
	status := store.RunSucceeded
	var msg locale.Message
	if err != nil {
		status, msg = store.RunFailed, importer.FailureMessage(err)
	}
	fin, ferr := st.FinishRun(ctx, r.ID, status, msg)
	if err != nil {
		return fin, fmt.Errorf("run of task %d: %w", t.ID, err)
	}
	return fin, ferr
}
