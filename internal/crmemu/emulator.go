// Package crmemu emulates the parts of the RetailCRM (Simla.com) API v5 an
// order import reads, as an http.Handler: the same endpoints, shapes, status
// codes and quirks as RetailCRM's API documentation and the real payloads in
// internal/crmfixture show (the shape tests hold its answers to those
// payloads). Tests, the demo and the benchmarks run against it, so it favours
// faithfulness over convenience.
//
// Data is seeded and deterministic: order i is a pure function of (Seed, i),
// generated on demand, so a million-order account costs no memory. Only
// mutations (CreateOrder, UpdateOrder, DeleteOrder, MergeOrders) are stored,
// in an overlay, together with the history entries they produce. The history
// feed's entry k ≤ Orders is the creation entry of seeded order k.
//
// Running it on its own (the `orderimport crm-emulator` command does this):
//
//	emu := crmemu.New(crmemu.Options{Seed: 1, Orders: 100_000, RateLimit: 10,
//		Keys: map[string]crmemu.KeyConfig{key: crmemu.FullAccess()}})
//	url, err := emu.Serve(ctx, "127.0.0.1:8081") // serves until ctx is done
//	// point a client at url with header X-API-KEY: key
//
// With Keys nil the only key is "demo-key" (DemoKey) with full access.
package crmemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // account timezones must resolve on machines without zoneinfo
)

// KeyConfig is what /api/credentials reports for one API key.
type KeyConfig struct {
	Scopes     []string
	SiteAccess string // AccessFull | AccessSelective
	Sites      []string
}

// Site access modes of an API key.
const (
	AccessFull      = "access_full"
	AccessSelective = "access_selective"
)

// DemoKey is the API key of an emulator created with Options.Keys == nil.
const DemoKey = "demo-key"

// DefaultScopes are the scopes of a typical integration key.
var DefaultScopes = []string{
	"order_read", "order_write", "customer_read", "customer_write", "reference_read",
	"store_read", "custom_fields_read", "user_read", "cost_read", "payments_read",
}

// FullAccess is a key with DefaultScopes on every site.
func FullAccess() KeyConfig {
	return KeyConfig{Scopes: append([]string(nil), DefaultScopes...), SiteAccess: AccessFull}
}

// Options configure an emulator; the zero value is a valid small account.
type Options struct {
	Seed      int64                // deterministic data
	Orders    int                  // number of seeded orders
	Keys      map[string]KeyConfig // nil → DemoKey with FullAccess
	RateLimit int                  // requests per sliding second per key; 0 = unlimited
	// Latency and LatencyPerOrder make the answer time RetailCRM-like: every answer is written
	// Latency + LatencyPerOrder × (orders or feed entries in it) after the request arrived,
	// so a page of 100 full orders takes longer than a key check. SetAnswerTime changes both.
	Latency         time.Duration
	LatencyPerOrder time.Duration
	Faults          FaultConfig      // random fault injection, seeded
	Timezone        string           // account timezone; default Europe/Moscow
	Now             func() time.Time // clock for new orders and history entries; default time.Now
	Start           time.Time        // createdAt range of seeded orders; default End-180 days
	End             time.Time        // default Now()
	OrderSize       string           // "rich" (default) or "small"
	// Currencies are the stores' currencies by store code (default RUB); an order of a store
	// carries its store's currency, when it carries one. DefaultCurrency is the account's
	// (default RUB), which the account's purchase prices are in.
	Currencies      map[string]string
	DefaultCurrency string
}

// Emulator is an emulated RetailCRM account. It is safe for concurrent use.
type Emulator struct {
	gen  *generator
	now  func() time.Time
	wait answerTime

	mu        sync.RWMutex
	loc       *time.Location
	tz        string
	tzUpdated int64
	keys      map[string]KeyConfig
	over      map[int64]*slot // orders touched by mutations
	maxID     int64
	hist      []*histEntry // history entries after the seeded creation entries
	statuses  []statusDef  // the reference's statuses; replaced whole, never changed in place
	version   uint64       // bumps on every mutation; invalidates view
	viewMu    sync.Mutex
	view      *view

	hookMu sync.Mutex
	hooks  []func(*http.Request)

	lim    limiter
	faults faultState
	stats  statsState

	currencies      map[string]string // by store code; fixed at New
	defaultCurrency string
}

// ErrNotFound is returned by mutations of an order that does not exist (any more).
var ErrNotFound = errors.New("crmemu: order not found")

// New builds an emulator. It panics on an unknown Options.Timezone or
// OrderSize: both are programming errors of the caller.
func New(opts Options) *Emulator {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	end := opts.End
	if end.IsZero() {
		end = now()
	}
	start := opts.Start
	if start.IsZero() {
		start = end.Add(-180 * 24 * time.Hour)
	}
	tz := opts.Timezone
	if tz == "" {
		tz = "Europe/Moscow"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		panic(fmt.Sprintf("crmemu: timezone %q: %v", tz, err))
	}
	rich := true
	switch opts.OrderSize {
	case "", "rich":
	case "small":
		rich = false
	default:
		panic(fmt.Sprintf("crmemu: order size %q: want rich or small", opts.OrderSize))
	}
	n := int64(max(opts.Orders, 0))
	currencies := map[string]string{SiteMain: "RUB", SiteOpt: "RUB"}
	for code, c := range opts.Currencies {
		currencies[code] = c
	}
	defaultCurrency := opts.DefaultCurrency
	if defaultCurrency == "" {
		defaultCurrency = "RUB"
	}
	keys := map[string]KeyConfig{}
	if opts.Keys == nil {
		keys[DemoKey] = FullAccess()
	}
	for k, kc := range opts.Keys {
		keys[k] = kc
	}
	e := &Emulator{
		gen:       newGenerator(opts.Seed, n, start, end, rich, [3]string{currencies[SiteMain], currencies[SiteOpt], defaultCurrency}),
		now:       now,
		loc:       loc,
		tz:        tz,
		tzUpdated: start.Unix(),
		keys:      keys,
		over:      map[int64]*slot{},
		maxID:     n,
		statuses:  slices.Clone(statusDefs),

		currencies:      currencies,
		defaultCurrency: defaultCurrency,
	}
	e.wait.set(opts.Latency, opts.LatencyPerOrder)
	e.lim.init(opts.RateLimit)
	e.faults.init(opts.Seed, opts.Faults)
	e.stats.init()
	return e
}

// Serve listens on addr and serves the emulator until ctx is done. It
// returns the base URL to configure a client with (http://host:port).
func (e *Emulator) Serve(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("crmemu: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// OnRequest registers a hook called before each request is answered,
// outside any lock of the emulator: a hook may mutate data, so a test can
// change the account between two pages of one walk.
func (e *Emulator) OnRequest(hook func(r *http.Request)) {
	e.hookMu.Lock()
	defer e.hookMu.Unlock()
	e.hooks = append(e.hooks, hook)
}

func (e *Emulator) runHooks(r *http.Request) {
	e.hookMu.Lock()
	hooks := append([]func(*http.Request){}, e.hooks...)
	e.hookMu.Unlock()
	for _, h := range hooks {
		h(r)
	}
}

// SetRateLimit changes the per-key requests-per-second limit (0 = unlimited).
func (e *Emulator) SetRateLimit(rps int) { e.lim.setRPS(rps) }

// SetAnswerTime changes how long answers take from now on (Options.Latency and
// Options.LatencyPerOrder): a RetailCRM that slows down or recovers in the middle of an import.
func (e *Emulator) SetAnswerTime(fixed, perOrder time.Duration) { e.wait.set(fixed, perOrder) }

// answerTime is the emulated time RetailCRM takes to answer: a fixed part and a part per order.
type answerTime struct {
	fixed, perOrder atomic.Int64 // nanoseconds
}

func (a *answerTime) set(fixed, perOrder time.Duration) {
	a.fixed.Store(int64(max(fixed, 0)))
	a.perOrder.Store(int64(max(perOrder, 0)))
}

// of is the answer time of an answer holding n orders or feed entries.
func (a *answerTime) of(n int) time.Duration {
	return time.Duration(a.fixed.Load() + int64(n)*a.perOrder.Load())
}

// SetTimezone changes the account timezone: /api/v5/settings reports it and
// every naive timestamp renders in it from now on; instants do not move.
func (e *Emulator) SetTimezone(tz string) error {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fmt.Errorf("crmemu: set timezone %q: %w", tz, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.loc, e.tz, e.tzUpdated = loc, tz, e.now().Unix()
	return nil
}

// SetKey adds or replaces an API key.
func (e *Emulator) SetKey(key string, kc KeyConfig) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[key] = kc
}

// KeyConfig is what the emulator says about a key now (the zero value for an unknown key).
func (e *Emulator) KeyConfig(key string) KeyConfig {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.keys[key]
}

// RemoveKey revokes an API key: it answers 403 Wrong "apiKey" value. from now on.
func (e *Emulator) RemoveKey(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.keys, key)
}

// HistoryLastID is the id of the newest history entry.
func (e *Emulator) HistoryLastID() int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.gen.n + int64(len(e.hist))
}

// Location is the account timezone currently in effect.
func (e *Emulator) Location() *time.Location {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.loc
}

// site bits used to filter by store without generating orders.
const (
	bitMain uint8 = 1 << siteIdxMain
	bitOpt  uint8 = 1 << siteIdxOpt
	bitNone uint8 = 1 << siteIdxNone
	bitAll        = bitMain | bitOpt | bitNone
)

func siteBit(site string) uint8 {
	switch site {
	case SiteMain:
		return bitMain
	case SiteOpt:
		return bitOpt
	case "":
		return bitNone
	}
	return 0
}

// keyMask is the set of sites a key sees. Orders without a site are visible
// to full-access keys only: a selective key is limited to the stores it names.
func keyMask(kc *KeyConfig) uint8 {
	if kc == nil || kc.SiteAccess != AccessSelective {
		return bitAll
	}
	var m uint8
	for _, s := range kc.Sites {
		if s != "" {
			m |= siteBit(s)
		}
	}
	return m
}

func hasScope(kc *KeyConfig, scope string) bool {
	for _, s := range kc.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// keyConfigLocked resolves a key for the Go API: "" means an all-seeing observer.
func (e *Emulator) keyConfigLocked(key string) (*KeyConfig, bool) {
	if key == "" {
		return nil, true
	}
	kc, ok := e.keys[key]
	if !ok {
		return nil, false
	}
	return &kc, true
}
