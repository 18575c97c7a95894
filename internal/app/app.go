// Package app assembles the service from its parts for the commands: store, secrets, the
// outbound HTTP client behind the SSRF guard, the importer, the job system, the API and the
// operational endpoints.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/alert"
	"orderimport/internal/api"
	"orderimport/internal/audit"
	"orderimport/internal/config"
	"orderimport/internal/export"
	"orderimport/internal/importer"
	"orderimport/internal/jobs"
	"orderimport/internal/mail"
	"orderimport/internal/metrics"
	"orderimport/internal/netguard"
	"orderimport/internal/people"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/sso"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
	"orderimport/internal/web"
	"orderimport/internal/webhook"
)

// Options are what differs between the commands.
type Options struct {
	Workers int         // 0: this process does not execute runs
	Jobs    jobs.Config // tuning (tests shorten the slice and tick)
	Migrate bool        // apply migrations at start
	// Resolver and RootCAs replace the system's DNS resolver and trusted CAs for calls to
	// RetailCRM (tests: a name that resolves to loopback, a TLS server of the test's own).
	Resolver *net.Resolver
	RootCAs  *x509.CertPool
	// MailTLS replaces the TLS settings of the SMTP connection (tests trust their own server).
	MailTLS *tls.Config
}

// App is an assembled service.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Store    *store.Store
	Keyring  *secret.Keyring
	Importer *importer.Importer
	Jobs     *jobs.Jobs
	Tasks    *tasks.Service
	People   *people.Service
	API      *api.API
	Web      *web.Web
	Metrics  *metrics.Metrics
	Audit    *audit.Log
	// KeyFileCreated reports that this start generated the SQLite installation's key file.
	KeyFileCreated bool

	redactions atomic.Int64
}

// New opens the database and builds every part; nothing runs until Start.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (*App, error) {
	kr, created, err := cfg.Keyring()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Store: st, Keyring: kr, KeyFileCreated: created}
	// No code path logs a CRM key; should one ever try, the handler takes out every key the
	// keyring handled lately and counts the attempt (orderimport_log_secrets_redacted_total).
	log = slog.New(secret.NewAlarmedRedactingHandler(log.Handler(), kr.Recent, func() { a.redactions.Add(1) }))
	a.Log = log
	if opts.Migrate {
		if err := a.migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	policy := netguard.Policy{AllowPrivate: cfg.AllowPrivate, Resolver: opts.Resolver, RootCAs: opts.RootCAs}
	httpClient := policy.NewHTTPClient()
	limiters := retailcrm.NewLimiters()

	a.Metrics = metrics.New(st.QueueDepth)
	a.Metrics.LogRedactions(a.redactions.Load)
	httpClient.Transport = a.Metrics.Transport(httpClient.Transport)

	keys := &tasks.Keys{Keyring: kr}
	a.Importer = &importer.Importer{Store: st, Keys: keys, HTTPClient: httpClient, Limiters: limiters, Logger: log,
		Observe: func(r store.BatchResult, invalid int64) { a.Metrics.Orders(r.Created, r.Updated, r.Deleted, invalid) }}
	jc := opts.Jobs
	jc.Workers = opts.Workers
	a.Jobs, err = jobs.New(st, a.Importer, log, jc)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.Jobs.OnRunFinished = func(r store.Run) { a.Metrics.RunFinished(r.Status) }
	// Webhook and alert receivers are behind the same guard as RetailCRM, with a switch of
	// their own for tests.
	hookPolicy := netguard.Policy{AllowPrivate: cfg.AllowPrivateWebhooks, Resolver: opts.Resolver, RootCAs: opts.RootCAs, Webhooks: true}
	sender := webhook.NewSender(hookPolicy)
	notifier := &alert.Notifier{Sender: sender, Secrets: keys}
	if cfg.SMTP.URL != "" {
		if notifier.Mail, err = mail.New(mail.Config{URL: cfg.SMTP.URL, From: cfg.SMTP.From, TLS: opts.MailTLS, Timeout: mailTimeout}); err != nil {
			st.Close()
			return nil, err
		}
	}
	a.Jobs.Sender, a.Jobs.Secrets, a.Jobs.Alerts, a.Jobs.PublicURL = sender, keys, notifier, cfg.PublicURL
	a.Audit = &audit.Log{Store: st, Logger: log}
	a.Tasks = &tasks.Service{Store: st, Keys: keys, Jobs: a.Jobs, Policy: policy, HTTPClient: httpClient, Limiters: limiters, Audit: a.Audit,
		Flow: a.Jobs, WebhookPolicy: hookPolicy, Sender: sender, Alerts: notifier, PublicURL: cfg.PublicURL}
	a.Jobs.Names = func(ctx context.Context, accountID, counterID int64) (export.Namer, error) {
		names, err := a.Tasks.Names(access.System(ctx), accountID, counterID)
		if err != nil {
			return nil, err // not a nil *tasks.Names inside the interface
		}
		return names, nil
	}
	a.People = &people.Service{Store: st, Audit: a.Audit, Secrets: kr, Log: log}
	if notifier.Mail != nil {
		a.People.Mailer = notifier.Mail // invitations go through the same server as alerts
	}
	if cfg.OIDC.Issuer != "" {
		if a.People.SSO, err = sso.New(sso.Config{Issuer: cfg.OIDC.Issuer, ClientID: cfg.OIDC.ClientID, ClientSecret: cfg.OIDC.ClientSecret,
			RedirectURL: cfg.OIDC.RedirectURL, Name: cfg.OIDC.Name}); err != nil {
			st.Close()
			return nil, err
		}
	}
	a.API = &api.API{Store: st, Tasks: a.Tasks, People: a.People, Log: log}
	if a.Web, err = web.New(st, a.Tasks, a.People, log); err != nil {
		st.Close()
		return nil, err
	}
	a.Web.Audit = a.Audit
	a.API.SessionUser = a.Web.SessionUser
	return a, nil
}

func (a *App) migrate(ctx context.Context) error {
	v, err := a.Store.Migrate(ctx)
	if err != nil {
		return err
	}
	if err := jobs.Migrate(ctx, a.Store); err != nil {
		return err
	}
	a.Log.Debug("schema up to date", "version", v)
	return nil
}

// SecretsRedactedFromLogs is how many log records had a secret taken out by the safety net;
// anything above 0 is a bug.
func (a *App) SecretsRedactedFromLogs() int64 { return a.redactions.Load() }

// Handler is the HTTP surface: web UI, API, health and metrics.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	a.register(mux)
	cop := http.NewCrossOriginProtection()
	// RetailCRM's trigger is called by RetailCRM's servers with a token in the path and no
	// session: a cross-origin check protects cookies it does not use, and would refuse the call
	// should RetailCRM ever send an Origin header.
	cop.AddInsecureBypassPattern("POST /hooks/retailcrm/{token}")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			api.CrossOriginRefused(w, r)
			return
		}
		a.Web.CrossOriginRefused(w, r)
	}))
	return a.Config.Proxies.Handler(securityHeaders(a.recoverPanics(cop.Handler(mux))))
}

// isAPI tells the JSON API's requests from the UI's, which answer errors differently.
func isAPI(r *http.Request) bool {
	return r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
}

// recoverPanics turns a handler's panic into a 500 that says nothing about it, and a log line
// through the service's logger (whose redaction covers the panic value) instead of net/http's
// default logger on stderr.
func (a *App) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.Log.Error("panic serving a request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if isAPI(r) {
				api.Internal(w, r)
				return
			}
			a.Web.Internal(w, r)
		}()
		next.ServeHTTP(w, r)
	})
}

// Routes lists the pattern of every route Handler serves, in the order they are registered:
// tests walk it so that a route added without a test fails them.
func (a *App) Routes() []string {
	rec := &routeRecorder{mux: http.NewServeMux()}
	a.register(rec)
	return rec.patterns
}

type routeRecorder struct {
	mux      *http.ServeMux
	patterns []string
}

func (r *routeRecorder) Handle(pattern string, h http.Handler) {
	r.patterns = append(r.patterns, pattern)
	r.mux.Handle(pattern, h)
}

func (r *routeRecorder) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	r.patterns = append(r.patterns, pattern)
	r.mux.HandleFunc(pattern, h)
}

// mailTimeout bounds each step of sending an email (connect, TLS, each command): a mail server
// that hangs delays an alert, never an import, and a test the user waits for at most 4 steps.
const mailTimeout = 10 * time.Second

func (a *App) register(mux interface {
	api.Mux
	web.Mux
}) {
	a.API.RegisterHooks(mux)
	a.API.Register(mux)
	a.Web.Register(mux)
	a.RegisterOps(mux)
}

// RegisterOps mounts the operational endpoints: /healthz (the process answers), /readyz (and its
// database does, within 2 s) and /metrics. serve mounts them beside the UI and the API; a worker
// serves them alone on its -metrics-addr.
func (a *App) RegisterOps(mux interface {
	Handle(pattern string, handler http.Handler)
}) {
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	mux.Handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := a.Store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("database unavailable\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}))
	mux.Handle("GET /metrics", a.Metrics.Handler())
}

// securityHeaders sets the headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		// Over HTTPS (here, or at a proxy that says so) browsers are told to stay on it. Not
		// over plain HTTP: there the header means nothing, and a local install must keep working.
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// Serve listens on addr (or ln when given), starts the job system and serves until ctx is
// done; then it stops taking work, lets running pages commit and shuts the server down.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if err := a.Jobs.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(a.Log.Handler(), slog.LevelError),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = a.Jobs.Stop(context.Background())
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: no new work is taken, running pages commit")
	sctx, cancel := context.WithTimeout(context.Background(), config.ShutdownTimeout)
	defer cancel()
	jerr := a.Jobs.Stop(sctx)
	herr := srv.Shutdown(sctx)
	if errors.Is(herr, http.ErrServerClosed) {
		herr = nil
	}
	return errors.Join(jerr, herr)
}

// Work runs the job system only (the worker command) until ctx is done.
func (a *App) Work(ctx context.Context) error {
	if err := a.Jobs.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), config.ShutdownTimeout)
	defer cancel()
	return a.Jobs.Stop(sctx)
}

// Close releases the database.
func (a *App) Close() error { return a.Store.Close() }
