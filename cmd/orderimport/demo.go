package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
)

// Demo account: printed at start; the data lives in a fresh directory.
const (
	demoEmail    = "demo@example.com"
	demoPassword = "demo-password"
	demoOrders   = 3000
	demoRate     = 9.0

	demoAnswer         = 150 * time.Millisecond
	demoAnswerPerOrder = 2 * time.Millisecond
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	addr := fs.String("addr", "", "listen address (env "+config.EnvAddr+", default "+config.DefaultAddr+")")
	dir := fs.String("dir", "", "directory for the demo database (default: a new temporary directory, removed at exit)")
	orders := fs.Int("orders", demoOrders, "orders in the built-in RetailCRM emulator")
	if err := parse(fs, args); err != nil {
		return err
	}
	listen := first(*addr, os.Getenv(config.EnvAddr), config.DefaultAddr)
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return &config.UsageError{Msg: fmt.Sprintf("-addr: %q is not host:port", listen)}
	}
	if *orders < 0 || *orders > 10_000_000 {
		return &config.UsageError{Msg: "-orders must be from 0 to 10000000"}
	}
	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "orderimport-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		d = tmp
	} else {
		// A demo always starts from a clean account: the emulator's data and port are new
		// at every start, so an old database would point at an emulator that is gone.
		for _, f := range []string{"orderimport.db", "orderimport.db-wal", "orderimport.db-shm", "orderimport.key"} {
			_ = os.Remove(filepath.Join(d, f))
		}
	}
	cfg := config.Config{DB: store.Location{Engine: store.SQLite, Path: filepath.Join(d, "orderimport.db")}, Addr: listen,
		AllowPrivate: true, Workers: 4, LogLevel: strings.ToLower(os.Getenv(config.EnvLogLevel))}
	log := newLogger(cfg.LogLevel, stderr)

	// RetailCRM as a shop meets it: 10 requests a second per key and a few hundred milliseconds
	// for a page of full orders, so the import shows its real pace.
	emu := crmemu.New(crmemu.Options{Seed: 1, Orders: *orders, RateLimit: 10, Latency: demoAnswer, LatencyPerOrder: demoAnswerPerOrder})
	emuURL, err := emu.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, log, app.Options{Workers: cfg.Workers, Migrate: true})
	if err != nil {
		return err
	}
	defer a.Close()
	log.Info("demo: CRM URLs may point at loopback here, for the built-in RetailCRM emulator only")

	u, _, err := a.Store.AddUser(ctx, demoEmail, demoPassword, "Демо", false)
	if err != nil {
		return err
	}
	token, _, err := a.Store.CreateToken(ctx, u.ID)
	if err != nil {
		return err
	}
	counterName := "Демо-магазин"
	// The demo's setup is the operator's, as at the command line.
	setup := access.System(ctx)
	counter, err := a.Tasks.CreateCounter(setup, u.AccountID, tasks.CounterInput{Name: &counterName})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another with -addr)", listen, err)
	}
	name, active, freq := "Заказы RetailCRM", true, 1
	key := crmemu.DemoKey
	// The emulator runs in this process and counts a request when its handler starts; with the
	// process busy importing, that can come later than the request left. A request a second of
	// headroom keeps the demo's own emulator from ever answering 503.
	rate := demoRate
	sid, uid := "customFields."+crmemu.FieldSessionID, "customFields."+crmemu.FieldUserID
	task, err := a.Tasks.Create(setup, u.AccountID, counter.ID, tasks.Input{
		Name: &name, Active: &active, FrequencyHours: &freq,
		RetailCRM: &tasks.RetailCRMInput{URL: &emuURL, APIKey: &key, RateLimit: &rate},
		Mapping:   map[string]*string{"session_id": &sid, "user_id": &uid},
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("create the demo import task: %w", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `
orderimport demo is running.

  Open:      %s/counters/%d/orders
  Log in:    %s / %s
  API token: %s

  The built-in RetailCRM emulator (%d orders) answers at %s (API key %q).
  The import task %q (id %d) of counter %q (id %d) is importing now.

  Try:
    curl -s -H 'Authorization: Bearer %s' '%s/api/v1/imports/%d/runs'
    curl -s -H 'Authorization: Bearer %s' '%s/api/v1/counters/%d/orders?limit=5'
    curl -s -H 'Authorization: Bearer %s' '%s/api/v1/counters/%d/orders?format=csv' | head

  Data: %s (Ctrl+C stops the demo)
`, base, counter.ID, demoEmail, demoPassword, token, *orders, emuURL, key, task.Name, task.ID, counter.Name, counter.ID,
		token, base, task.ID, token, base, counter.ID, token, base, counter.ID, d)
	return a.Serve(ctx, ln)
}

func emulatorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("crm-emulator", stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	orders := fs.Int("orders", 1000, "seeded orders")
	rps := fs.Int("rps", 10, "requests per second allowed per key (0 = unlimited); beyond it the emulator answers 503 like RetailCRM")
	key := fs.String("key", crmemu.DemoKey, "the API key it accepts (full access)")
	seed := fs.Int64("seed", 1, "data seed")
	tz := fs.String("timezone", "Europe/Moscow", "account timezone reported in /api/v5/settings")
	answer := fs.Duration("answer-time", 0, "how long every answer takes (RetailCRM: a few hundred milliseconds for a page of orders)")
	perOrder := fs.Duration("answer-time-per-order", 0, "added to the answer time for every order or feed entry in the answer")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *orders < 0 || *rps < 0 || *answer < 0 || *perOrder < 0 || strings.TrimSpace(*key) == "" {
		return &config.UsageError{Msg: "-orders, -rps and the answer times must not be negative and -key must not be empty"}
	}
	if _, err := loadZone(*tz); err != nil {
		return &config.UsageError{Msg: "-timezone: " + err.Error()}
	}
	emu := crmemu.New(crmemu.Options{Seed: *seed, Orders: *orders, RateLimit: *rps, Timezone: *tz,
		Latency: *answer, LatencyPerOrder: *perOrder, Keys: map[string]crmemu.KeyConfig{*key: crmemu.FullAccess()}})
	url, err := emu.Serve(ctx, *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "RetailCRM emulator: %s (key %q, %d orders, %s) — Ctrl+C stops it\n", url, *key, *orders, rpsText(*rps))
	<-ctx.Done()
	return nil
}

func rpsText(rps int) string {
	if rps == 0 {
		return "no rate limit"
	}
	return strconv.Itoa(rps) + " requests/second per key"
}

func first(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	return time.LoadLocation(name)
}
