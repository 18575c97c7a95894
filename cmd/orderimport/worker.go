package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/jobs"
	"orderimport/internal/store"
)

func workerCmd(ctx context.Context, args []string, stderr io.Writer) error {
	var metricsFlag *string
	cfg, err := loadConfig("worker", args, false, stderr, func(fs *flagSetT) {
		metricsFlag = fs.String("metrics-addr", "", "serve /healthz, /readyz and /metrics on this address, e.g. 127.0.0.1:9101 (env "+config.EnvMetricsAddr+"; default: none)")
	})
	if err != nil {
		return err
	}
	if cfg.DB.Engine != store.Postgres {
		return &config.UsageError{Msg: "worker processes share work through PostgreSQL: use -db postgres://… (on SQLite, `serve` runs the workers itself)"}
	}
	if cfg.Workers == 0 {
		return &config.UsageError{Msg: "-workers must be at least 1 for a worker process"}
	}
	metricsAddr := strings.TrimSpace(*metricsFlag)
	if metricsAddr == "" {
		metricsAddr = strings.TrimSpace(os.Getenv(config.EnvMetricsAddr))
	}
	if metricsAddr != "" {
		if _, _, err := net.SplitHostPort(metricsAddr); err != nil {
			return &config.UsageError{Msg: fmt.Sprintf("-metrics-addr / %s: %q is not host:port (%v)", config.EnvMetricsAddr, metricsAddr, err)}
		}
	}
	log := newLogger(cfg.LogLevel, stderr)
	// Workers migrate too (under the migration lock, so any number may start at once): a
	// worker started first on a new database or after an upgrade does not wait for a serve.
	a, err := app.New(ctx, cfg, log, app.Options{Workers: cfg.Workers, Migrate: true, Jobs: jobs.Config{RescueAfter: cfg.RescueAfter}})
	if err != nil {
		return err
	}
	defer a.Close()
	warnPrivate(a)
	if metricsAddr != "" {
		stop, err := serveOps(a, metricsAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("worker started", "workers", cfg.Workers, "rescue_after", cfg.RescueAfter)
	return a.Work(ctx)
}

// serveOps serves a worker's operational endpoints: a worker has no UI or API, but its runs,
// RetailCRM requests and health are its own and are scraped from it.
func serveOps(a *app.App, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	a.RegisterOps(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("operations endpoints stopped", "error", err)
		}
	}()
	a.Log.Info("operations endpoints", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
