// Package servicetest runs the whole service for tests: real SQLite (or PostgreSQL) in a
// directory of its own, River workers, the full HTTP handler on a real listener (web UI, JSON
// API, health), and a RetailCRM emulator in front of it, with a user, an API token and the
// emulator's key ready. The end-to-end and security tests of internal/app, the tests of the
// web UI, and the screenshot command all assemble the service here, so they test the same
// thing the commands run.
package servicetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/jobs"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// The login of the account every service starts with.
const (
	Email    = "owner@example.com"
	Password = "correct horse battery"
)

// Options say what differs between the tests; zero values take the defaults.
type Options struct {
	Emulator crmemu.Options
	// CRM wraps the emulator's handler (a RetailCRM that misbehaves on purpose).
	CRM func(http.Handler) http.Handler
	// Strict keeps the SSRF guard's production policy: no http:// and no private addresses,
	// so the emulator on loopback is refused (the default allows it).
	Strict bool
	// Resolver and RootCAs replace the system's for calls to RetailCRM.
	Resolver *net.Resolver
	RootCAs  *x509.CertPool
	Workers  int         // 0: 2
	Jobs     jobs.Config // zero: Jobs()
	Log      *slog.Logger
	// DB is the database (zero: SQLite in Dir).
	DB  store.Location
	Dir string // required for SQLite
	// Configure adjusts the service's configuration before it is assembled (single sign-on,
	// trusted proxies, the mail server); url is the address the service will answer at.
	Configure func(cfg *config.Config, url string)
	// MailTLS is the TLS settings that trust the test's SMTP server.
	MailTLS *tls.Config
}

// Jobs is the job system of tests: runs start when a test asks (the scheduler's tick waits an
// hour, so no scheduled run interferes; tests of the schedule set their own), slices are short.
func Jobs() jobs.Config {
	return jobs.Config{Slice: 20 * time.Second, TickInterval: time.Hour}
}

// Service is a running service with its emulator.
type Service struct {
	App       *app.App
	URL       string // the service, http://127.0.0.1:port
	CRM       string // the emulator's URL, for the connection form and the API
	Emu       *crmemu.Emulator
	AccountID int64
	UserID    int64
	Token     string // the user's API token
	DBPath    string // the SQLite file ("" on PostgreSQL)

	crm    *httptest.Server
	cancel context.CancelFunc
	done   chan error
	closed bool
	cfg    config.Config
	opts   Options
}

// Start assembles the service like `orderimport serve` and waits until it answers.
func Start(ctx context.Context, o Options) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.Jobs == (jobs.Config{}) {
		o.Jobs = Jobs()
	}
	s := &Service{}
	if o.DB == (store.Location{}) {
		if o.Dir == "" {
			return nil, errors.New("servicetest: no directory for the SQLite database")
		}
		s.DBPath = filepath.Join(o.Dir, "test.db")
		o.DB = store.Location{Engine: store.SQLite, Path: s.DBPath}
	}
	s.Emu = crmemu.New(o.Emulator)
	var crm http.Handler = s.Emu
	if o.CRM != nil {
		crm = o.CRM(s.Emu)
	}
	s.crm = httptest.NewServer(crm)
	s.CRM = s.crm.URL

	// The listener first, so that the configuration can name the service's own address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.crm.Close()
		return nil, fmt.Errorf("servicetest: listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.cfg = config.Config{DB: o.DB, AllowPrivate: !o.Strict, AllowPrivateWebhooks: !o.Strict}
	if o.DB.Engine == store.Postgres {
		// PostgreSQL keeps no key file: the sealing key comes from the environment in
		// production, a fresh one here, which the service's restarts keep.
		key, err := secret.GenerateKey()
		if err != nil {
			s.crm.Close()
			ln.Close()
			return nil, fmt.Errorf("servicetest: a secret key: %w", err)
		}
		s.cfg.SecretKey = key.Base64()
	}
	if o.Configure != nil {
		o.Configure(&s.cfg, s.URL)
	}
	s.opts = o
	if err := s.start(ctx, ln, true); err != nil {
		s.crm.Close()
		return nil, err
	}
	return s, nil
}

// start assembles the service on its database, adds the user and its token when first, and
// serves on ln until stopped.
func (s *Service) start(ctx context.Context, ln net.Listener, first bool) error {
	o := s.opts
	s.done = make(chan error, 1)
	ctx, s.cancel = context.WithCancel(ctx)
	a, err := app.New(ctx, s.cfg, o.Log, app.Options{Workers: o.Workers, Migrate: true, Jobs: o.Jobs,
		Resolver: o.Resolver, RootCAs: o.RootCAs, MailTLS: o.MailTLS})
	if err != nil {
		s.cancel()
		ln.Close()
		return fmt.Errorf("servicetest: assemble the service: %w", err)
	}
	s.App = a
	fail := func(err error) error {
		s.cancel()
		ln.Close()
		a.Close()
		return err
	}
	if first {
		u, _, err := a.Store.AddUser(ctx, Email, Password, "Shop", false)
		if err != nil {
			return fail(fmt.Errorf("servicetest: add the user: %w", err))
		}
		s.AccountID, s.UserID = u.AccountID, u.ID
		if s.Token, _, err = a.Store.CreateToken(ctx, u.ID); err != nil {
			return fail(fmt.Errorf("servicetest: create a token: %w", err))
		}
	}
	go func() { s.done <- a.Serve(ctx, ln) }()
	// Serve starts the job system before it answers: once /healthz answers, stopping the
	// service is a clean shutdown, never an interrupted start.
	if err := s.waitHealthy(ctx); err != nil {
		s.cancel()
		<-s.done
		a.Close()
		return err
	}
	return nil
}

// Restart stops the service as a signal would and starts it again on the same database,
// address, emulator, user and token, as an operator's restart does.
func (s *Service) Restart(ctx context.Context) error {
	s.cancel()
	err := <-s.done
	if err := errors.Join(err, s.App.Close()); err != nil {
		return fmt.Errorf("servicetest: stop for the restart: %w", err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		return fmt.Errorf("servicetest: listen again: %w", err)
	}
	return s.start(ctx, ln, false)
}

func (s *Service) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			return fmt.Errorf("servicetest: the service stopped while starting: %w", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("servicetest: the service did not answer within 30 s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close stops the service as a signal would (running pages commit), closes the database (the
// WAL is checkpointed into the file) and the emulator. Closing twice is harmless.
func (s *Service) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	err := <-s.done
	s.crm.Close()
	return errors.Join(err, s.App.Close())
}

// WaitRuns waits until the task has a finished newest run and none queued or running, polling
// the store with a deadline.
func (s *Service) WaitRuns(ctx context.Context, taskID int64, timeout time.Duration) (store.Run, error) {
	deadline := time.Now().Add(timeout)
	for {
		run, err := s.App.Store.LastRun(ctx, s.AccountID, taskID)
		if err != nil {
			return store.Run{}, err
		}
		if run != nil && run.Finished() {
			return *run, nil
		}
		if time.Now().After(deadline) {
			return store.Run{}, fmt.Errorf("servicetest: task %d still has a run going after %s", taskID, timeout)
		}
		select {
		case <-ctx.Done():
			return store.Run{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
