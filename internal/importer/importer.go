// Package importer is the import algorithm: it reads a task's orders from RetailCRM, maps them
// and keeps the tracker's copy exactly in step. (It is not called sync, which would shadow the
// standard library's package everywhere it is used.)
//
// The guarantees and why they hold are written up in docs/CORRECTNESS.md. In short:
//   - the first run reads where the change feed ends BEFORE it reads any order, so every
//     change made while the backfill walks is replayed from the feed afterwards;
//   - the backfill walks day windows; a window read in several pages is checked against the
//     feed entries of the walk and read again when one of them could have shifted an unchanged
//     order past a page boundary (offset pages shift under concurrent deletes and inserts);
//   - the feed is walked by moving filter[sinceId]; changed orders are re-fetched by id, and an
//     id RetailCRM no longer returns is flagged deleted (deletion, merge, lost store access);
//   - every paged read keeps several requests in flight, as many as the account's pace and
//     RetailCRM's answer times call for, and applies the answers in the order it asked
//     (flight.go): pages in page order, windows in window order, re-fetches in feed order;
//   - each batch's order writes and the checkpoint that follows them commit in one
//     transaction, so a crash at any instant loses nothing and duplicates nothing;
//   - the checkpoint remembers what the stored rows were derived from (mapping, timezones, the
//     key's stores, the backfill start); when any of it changes, the next run re-syncs.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"orderimport/internal/counting"
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// Sync phases.
const (
	PhaseBackfill = "backfill"
	PhaseHistory  = "history"
)

// Config tunes the importer; zero values take the defaults.
type Config struct {
	PageSize int // 100: RetailCRM's largest page
	// WindowTarget is the number of orders a backfill window aims at: large enough to keep
	// request counts low (every multi-page window costs a check of the feed and a partial
	// last page), small enough that a drifted window is cheap to re-read (20,000 orders are
	// 20 s at RetailCRM's pace). The ceiling benchmark measured 2,000: 222 requests for a
	// 20,000-order first run, 10,000: 214; at 100,000 orders 20,000 keeps the windows' share
	// of the requests under 1% (docs/BENCHMARKS.md).
	WindowTarget int
	// MaxInFlight bounds the requests a paged read keeps outstanding (flight.go): the number
	// follows RetailCRM's answer times (at 10 requests/s and 800 ms an answer, 9), and this
	// bound is what a run holds in memory at most besides the page being stored, MaxInFlight
	// pages of up to PageSize orders (about 1 MB each for RetailCRM's full orders). At 32,
	// answers of up to 3 s keep the pace of 10 requests a second.
	MaxInFlight int
	// WindowMaxAttempts bounds re-reads of a window whose count keeps drifting.
	WindowMaxAttempts int
	// HistoryLookback is how far before "now" the first run starts looking for the end of
	// the change feed: it covers clock skew between us and RetailCRM (default an hour, far more
	// than two NTP-synchronised clocks drift apart). The zone of the account is not known yet
	// when the feed is first read, so up to 26 hours more are read (15 in Moscow); a longer lookback
	// only makes a busy account's first read longer than a page, and the end is then jumped to.
	HistoryLookback time.Duration
	// MaxAttempts per RetailCRM request (retries included).
	MaxAttempts int
	// RequestTimeout, RetryBaseDelay and RetryMaxDelay tune the RetailCRM client (zero: its
	// defaults); tests shorten them.
	RequestTimeout time.Duration
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
}

func (c *Config) defaults() {
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	if c.WindowTarget == 0 {
		c.WindowTarget = 20000
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 32
	}
	if c.WindowMaxAttempts == 0 {
		c.WindowMaxAttempts = 4
	}
	if c.HistoryLookback == 0 {
		c.HistoryLookback = time.Hour
	}
}

// KeyOpener opens a task's sealed RetailCRM key (the use-case layer, internal/tasks, owns
// sealing). An error wrapping secret.ErrUnknownKey means the key is sealed under a master key
// this process does not hold yet.
type KeyOpener interface {
	OpenKey(t store.Task) (string, error)
}

// Importer runs import tasks.
type Importer struct {
	Store      *store.Store
	Keys       KeyOpener
	HTTPClient *http.Client
	Limiters   *retailcrm.Limiters
	Logger     *slog.Logger
	Now        func() time.Time
	Config     Config
	// Observe, when set, is told about every committed batch (metrics).
	Observe func(store.BatchResult, int64 /*invalid*/)

	preflights preflights
}

// Client opens a RetailCRM client for a task.
func (im *Importer) Client(t store.Task) (*retailcrm.Client, error) {
	key, err := im.Keys.OpenKey(t)
	if errors.Is(err, secret.ErrUnknownKey) {
		// Sealed under a key this process does not hold: during a key rotation's rollout another
		// process may already seal under the next key. A later run (on a process that has the
		// key) succeeds, so the task is not parked at once; five in a row still park it.
		return nil, &Failure{Msg: locale.M("key_unknown_master"), Err: err}
	}
	if err != nil {
		return nil, &Failure{Permanent: true, Msg: locale.M("key_undecryptable"), Err: err}
	}
	return retailcrm.New(retailcrm.Config{
		URL:         t.CRMURL,
		APIKey:      key,
		RateLimit:   t.RateLimit,
		HTTPClient:  im.HTTPClient,
		Limiters:    im.Limiters,
		MaxAttempts: im.Config.MaxAttempts,
		Logger:      im.Logger,

		RequestTimeout: im.Config.RequestTimeout,
		RetryBaseDelay: im.Config.RetryBaseDelay,
		RetryMaxDelay:  im.Config.RetryMaxDelay,
	})
}

// Failure is a run failure: the message a user reads (one sentence naming the cause once,
// stored as its code) and, for logs only, the error behind it.
type Failure struct {
	Permanent bool // the task cannot succeed until a person changes something
	Msg       locale.Message
	Err       error
}

// Error is the message for logs: the words once, with where it happened when RetailCRM's
// answer is behind it, or the cause when it is not already in the words.
func (f *Failure) Error() string {
	s := f.Msg.String()
	var ce *retailcrm.Error
	if errors.As(f.Err, &ce) {
		if ce.Endpoint != "" {
			s += " [" + ce.Endpoint + "]"
		}
		return s
	}
	if _, said := locale.MessageOf(f.Err); said || f.Err == nil {
		return s
	}
	return s + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// FailureMessage is the message a run failure shows a user: a Failure's or a RetailCRM error's
// own; anything else is a fault of the service, whose details stay in the log.
func FailureMessage(err error) locale.Message {
	var f *Failure
	if errors.As(err, &f) {
		return f.Msg
	}
	var ce *retailcrm.Error
	if errors.As(err, &ce) {
		return ce.Msg()
	}
	if m, ok := locale.MessageOf(err); ok {
		return m
	}
	return locale.M("run_internal_error")
}

// classify turns an error from RetailCRM into a Failure.
func classify(err error) error {
	var f *Failure
	if errors.As(err, &f) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *retailcrm.Error
	if errors.As(err, &ce) {
		return &Failure{Permanent: ce.Kind.Permanent(), Msg: ce.Msg(), Err: err}
	}
	return err
}

// classify is classify for the requests after the preflight.
func (r *run) classify(ctx context.Context, err error) error {
	return recheck(ctx, r.client, err)
}

// recheck classifies a failure of a RetailCRM request. An answer that would park the task
// (access denied, no account at this address) is checked against the key check once more: if
// the key still reads orders, the key most likely lost a store the request named in
// filter[sites] (the next run's preflight sees the new access and re-syncs), or a proxy
// answered one request with some page. Neither needs a person; an address that keeps answering
// with a page, or that the SSRF guard refuses, answers the key check the same way and does.
func recheck(ctx context.Context, c *retailcrm.Client, err error) error {
	err = classify(err)
	var ce *retailcrm.Error
	if !errors.As(err, &ce) || (ce.Kind != retailcrm.KindAccessDenied && ce.Kind != retailcrm.KindAccountNotFound) {
		return err
	}
	cred, cerr := c.Credentials(ctx)
	var again *retailcrm.Error
	switch {
	case cerr != nil && errors.As(cerr, &again) && again.Kind.Permanent():
		return classify(cerr)
	case cerr != nil:
		// The key check did not get through either: nothing says a person must act.
		return &Failure{Msg: locale.M("crm_check_failed_too", "first", ce.Msg(), "second", FailureMessage(cerr)), Err: err}
	case !cred.Can("order_read"):
		return err
	}
	msg := locale.M("crm_access_changed")
	if ce.Kind == retailcrm.KindAccountNotFound {
		msg = locale.M("crm_odd_answer")
	}
	return &Failure{Msg: msg, Err: err}
}

// ErrSliceDone means the run used up its time slice and must be continued by a new job
// attempt; everything done so far is committed.
var ErrSliceDone = errors.New("time slice used up; the run continues from its checkpoint")

// run is the state of one run while it executes.
type run struct {
	im       *Importer
	task     store.Task
	runID    int64
	client   *retailcrm.Client
	mapper   *Mapper
	sites    []string // non-nil for keys limited to some stores
	tz       *time.Location
	worked   bool // read orders or feed entries (not an idle run)
	counts   store.Counts
	phase    string
	done     int64
	total    int64
	cursor   string
	deadline time.Time
	log      *slog.Logger
	baseReq  int64
	sizing   *sizing    // a first run's count of its orders (startBackfill)
	feedSeen *feedCache // the feed as the backfill's window checks read it (catchUp)
	// ready is closed once the mapper is set (settle): a first run asks for its first pages
	// before the reference the mapper needs has arrived, and their fetches wait for it.
	ready chan struct{}
	// settleWith takes the reference and sets the mapper and the fingerprint; nil once done.
	settleWith func(ctx context.Context, st *store.SyncState) error
	// fingerprint is what the stored rows derive from (settle).
	fingerprint string
	// deriveOf is the derive part of the fingerprint that the mapping spec would give under
	// what else the run maps with (settle): a re-map finds with it the mapping the stored rows
	// were made with.
	deriveOf func(spec map[string]string) string
	// planPending: a first run's plan is not stored yet; its first page stores it.
	planPending bool
	kind        string  // the run's kind (store.RunScheduled, RunTrigger, …)
	cause       string  // the timeline source of the batches being applied ("": the store's guess)
	keeper      *keeper // packs the kept copies of orders (keep.go)
}

// settle takes the run's reference (a first run's, read alongside its preflight, arrives while
// its first pages are asked for), brings the stored orders in line with it, sets the mapper and
// the fingerprint, and gives st the fingerprint: before any sync state is stored. Only the
// run's own goroutine calls it; the second call does nothing.
func (r *run) settle(ctx context.Context, st *store.SyncState) error {
	if r.settleWith == nil {
		return nil
	}
	settle := r.settleWith
	if err := settle(ctx, st); err != nil {
		return err
	}
	r.settleWith = nil
	return nil
}

// mapperReady waits until settle has set the mapper (a fetch of a first run's first pages).
func (r *run) mapperReady(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runCause is the timeline source of a run's batches outside a re-map: a run the RetailCRM
// trigger started says so; otherwise the store tells backfill, history and re-sync apart.
func (r *run) runCause() string {
	if r.kind == store.RunTrigger {
		return store.SourceTrigger
	}
	return ""
}

// Prepare checks the task's key against RetailCRM and compiles its mapping: the preflight
// every run starts with.
type Prepared struct {
	Client      *retailcrm.Client
	Credentials *retailcrm.Credentials
	Settings    *retailcrm.Settings
	AccountTZ   *time.Location
	Sites       []string

	// reference is the account's reference as a run's preflight read it alongside the key
	// check (referenceRead), once per run like the rest of the preflight.
	reference     store.Reference
	referenceErr  error
	referenceRead bool
	// referenceAhead is the reference still on its way (a first run's preflight), taken by
	// run.settle once the run's first pages are asked for.
	referenceAhead *referenceAhead
}

// Preflight asks RetailCRM what the key may do and which timezone the account uses.
func Preflight(ctx context.Context, c *retailcrm.Client) (*Prepared, error) {
	return preflightWith(ctx, c, c.Settings)
}

// preflightWith is Preflight with the settings read by settingsOf (a run asks for them alongside
// the key check, preflight.go).
func preflightWith(ctx context.Context, c *retailcrm.Client, settingsOf func(context.Context) (*retailcrm.Settings, error)) (*Prepared, error) {
	cred, err := c.Credentials(ctx)
	if err != nil {
		return nil, recheck(ctx, c, err)
	}
	if !cred.Can("order_read") {
		return nil, &Failure{Permanent: true, Msg: locale.M("crm_no_order_read")}
	}
	settings, err := settingsOf(ctx)
	if err != nil {
		return nil, recheck(ctx, c, err)
	}
	tzName := settings.Timezone
	if tzName == "" {
		// RetailCRM accounts are Russian by origin; an account that names no zone runs on
		// Moscow time, as RetailCRM's own default.
		tzName = "Europe/Moscow"
	}
	loc, err := time.LoadLocation(tzName)
	if err != nil {
		return nil, &Failure{Msg: locale.M("crm_timezone_unknown", "zone", tzName), Err: err}
	}
	p := &Prepared{Client: c, Credentials: cred, Settings: settings, AccountTZ: loc}
	if cred.SiteAccess == "access_selective" {
		p.Sites = append([]string{}, cred.SitesAvailable...)
		if len(p.Sites) == 0 {
			return nil, &Failure{Permanent: true, Msg: locale.M("crm_no_store")}
		}
	}
	return p, nil
}

// Run executes (or continues) a run of the task until the feed is caught up, the deadline
// passes (ErrSliceDone) or it fails. Progress is committed as it goes.
func (im *Importer) Run(ctx context.Context, task store.Task, runID int64, deadline time.Time) (err error) {
	im.Config.defaults()
	defer func() {
		if !errors.Is(err, ErrSliceDone) && ctx.Err() == nil {
			im.preflights.forget(runID) // the run is over; a paused one continues with its answers
		}
	}()
	r := &run{im: im, task: task, runID: runID, deadline: deadline,
		log: im.logger().With("task_id", task.ID, "run_id", runID, "account_id", task.AccountID)}
	prev, err := im.Store.RunForWorker(ctx, runID)
	if err != nil {
		return err
	}
	// A run continued after a time slice or a restart keeps counting where it stopped.
	r.counts = prev.Counts
	r.baseReq = prev.Counts.Requests
	r.kind = prev.Kind
	r.cause = r.runCause()
	r.phase, r.done, r.total = prev.Phase, prev.ProgressDone, prev.ProgressTotal

	c, err := im.Client(task)
	if err != nil {
		return err
	}
	r.client = c
	// Whatever happens, the run's request count and position are recorded: a run that made
	// only requests (nothing changed) or failed half-way still says what it did.
	defer func() {
		_ = im.Store.UpdateRun(context.WithoutCancel(ctx), runID, *r.progress())
	}()

	m, err := mapping.Compile(task.Mapping)
	if err != nil {
		// Saved mappings compiled when they were saved; this one no longer does (a rule of
		// the expression language tightened since).
		return &Failure{Permanent: true, Msg: locale.M("mapping_invalid").WithDetail(err.Error()), Err: err}
	}
	counter, err := im.Store.Counter(ctx, task.AccountID, task.CounterID)
	if err != nil {
		return fmt.Errorf("importer: counter of task %d: %w", task.ID, err)
	}
	counterTZ, err := time.LoadLocation(counter.Timezone)
	if err != nil {
		return &Failure{Permanent: true, Msg: locale.M("counter_timezone_unknown", "zone", counter.Timezone), Err: err}
	}

	st, err := im.Store.SyncState(ctx, task.ID)
	if err != nil {
		return err
	}
	var probes *firstProbes
	if st.Phase == "" {
		probes = r.probe(ctx)
		defer probes.stop()
	}
	// A first run does not wait for the reference before its first pages: they are asked for
	// while its answers are on their way (settle), which at RetailCRM's answer times is a
	// fifth of a second or more of the run.
	p, err := im.preflight(ctx, c, runID, task, probes != nil)
	if err != nil {
		return err
	}
	if ra := p.referenceAhead; ra != nil {
		defer ra.stop()
	}
	if r.sites, err = TaskSites(task.Sites, p.Sites); err != nil {
		return err
	}
	r.tz = p.AccountTZ
	if r.keeper, err = im.newKeeper(ctx, task.ID, task.PII); err != nil {
		return err
	}
	defer r.keeper.trained()
	r.ready = make(chan struct{})
	r.settleWith = func(ctx context.Context, st *store.SyncState) error {
		if ra := p.referenceAhead; ra != nil {
			im.tookReference(runID, task, p, ra)
		}
		ref, err := r.keepReference(ctx, p, prev)
		if err != nil {
			return err
		}
		r.mapper = NewMapper(m, p.AccountTZ, counterTZ).WithReference(ref).WithPII(task.PII)
		r.mapper.keep = r.keeper
		close(r.ready)
		r.fingerprint = fingerprint(m.Spec(), counter.Timezone, p, r.sites, task, ref)
		r.deriveOf = func(spec map[string]string) string { return deriveDigest(spec, counter.Timezone, task, ref) }
		if st != nil {
			st.Fingerprint = r.fingerprint
		}
		return nil
	}

	if st.Phase == "" {
		// A first run's plan: fixed before any order is read, and stored with its first page
		// once settle has given it the fingerprint.
		st, err = r.startBackfill(ctx, st, probes)
	} else if err = r.settle(ctx, nil); err == nil && st.Fingerprint != r.fingerprint {
		fp := r.fingerprint
		var local bool
		if local, err = r.canRemap(ctx, st, fp); err != nil {
			return err
		}
		if local {
			st, err = r.startRemap(ctx, st, fp)
		} else {
			// The stored rows were derived from another account timezone, store access or
			// date range, or their copies cannot give what changed: only a full re-read makes
			// them equal the CRM again.
			r.log.Info("what the stored orders were derived from changed; re-syncing")
			st, err = r.startResync(ctx, st, fp)
		}
	}
	if err != nil {
		return err
	}
	if st.Phase == PhaseRemap {
		if st, err = r.remap(ctx, st); err != nil {
			return err
		}
	}
	if st.Phase == PhaseBackfill {
		st, err = r.backfill(ctx, st)
		if err != nil {
			return err
		}
	}
	if err := r.catchUp(ctx, st, r.feedSeen); err != nil {
		return err
	}
	return r.confirmAccess(ctx, p)
}

// confirmAccess asks, after a run that read orders or feed entries, which stores the key may
// read now. A change of store access leaves no entry in the feed: orders of a store lost in
// the middle of the run were not seen or looked deleted, orders of a store gained were never
// listed. The next run's preflight notices a lasting change; this notices one that was undone
// by the time the run ended, and makes the next run re-sync.
func (r *run) confirmAccess(ctx context.Context, p *Prepared) error {
	if !r.worked {
		return nil // an idle run read nothing a change could have hidden
	}
	cred, err := r.client.Credentials(ctx)
	if err != nil {
		first := classify(err)
		var ce *retailcrm.Error
		if !errors.As(first, &ce) || !ce.Kind.Permanent() {
			return first
		}
		// An answer that would park the task (a web page, garbage, a denial) is asked once
		// more, as the preflight does: a proxy's odd answer to one request needs no person
		// (found by the model test, seed 1977 of 5,000).
		if cred, err = r.client.Credentials(ctx); err != nil {
			return classify(err)
		}
	}
	var sites []string
	if cred.SiteAccess == "access_selective" {
		sites = append([]string{}, cred.SitesAvailable...)
	}
	if sitesKey(sites) == sitesKey(p.Sites) {
		return nil
	}
	r.log.Info("the key's store access changed during the run; the next run re-syncs")
	st, err := r.im.Store.SyncState(ctx, r.task.ID)
	if err != nil {
		return err
	}
	st.Fingerprint = ""
	return r.im.Store.SaveSyncState(ctx, r.task.AccountID, st)
}

// sitesKey is a comparable form of a key's stores ("*": all of them).
func sitesKey(sites []string) string {
	if sites == nil {
		return "*"
	}
	s := slices.Clone(sites)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// fingerprint is a digest of what the stored orders were derived from, in parts: source is
// what decides which orders are read and how RetailCRM's times are read (the account's zone
// with its "set at" time, so that a change undone before the next run still moves it; the key's
// stores; the task's date range; the version of what rows hold: stored before orders kept their
// RetailCRM order, they are read again once); derive is what the mapping makes of a kept order
// (expressions, the effective ones with the defaults merged, so that equal mappings written
// differently agree; the counter's zone, pii, currencies of the reference); pii and contact say what
// the contacts were derived under (remap.go). Equal sources with another derivation are re-mapped
// locally; another source is read again.
func fingerprint(spec map[string]string, counterTZ string, p *Prepared, sites []string, task store.Task, ref *store.Reference) string {
	src := sha256.New()
	fmt.Fprintf(src, "rows=3\naccount_tz=%s@%s\nsites=%s\nbackfill_from=%s\nbackfill_to=%s\n",
		p.AccountTZ.String(), p.Settings.TimezoneSetAt, sitesKey(sites), task.BackfillFrom, task.BackfillTo)
	contact := sha256.New()
	fmt.Fprintf(contact, "pii=%s\nname=%s\nphone=%s\nemail=%s\n", piiMode(task.PII), spec["contact_name"], spec["contact_phone"], spec["contact_email"])
	return print{source: short(src), derive: deriveDigest(spec, counterTZ, task, ref), pii: piiMode(task.PII), contact: short(contact)}.String()
}

// deriveDigest is the derive part of a fingerprint.
func deriveDigest(spec map[string]string, counterTZ string, task store.Task, ref *store.Reference) string {
	mappingJSON, _ := json.Marshal(spec) // map keys are sorted: equal mappings, equal text
	derive := sha256.New()
	fmt.Fprintf(derive, "mapping=%s\ncounter_tz=%s\npii=%s\ndefault_currency=%s\n", mappingJSON, counterTZ, piiMode(task.PII), ref.DefaultCurrency)
	for _, s := range ref.Sites {
		fmt.Fprintf(derive, "currency[%s]=%s\n", s.Code, s.Currency)
	}
	return short(derive)
}

func short(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)[:12]) }

func piiMode(p string) string {
	if p == "" {
		return mapping.PIIKeep
	}
	return p
}

// print is a fingerprint's parts.
type print struct{ source, derive, pii, contact string }

func (p print) String() string {
	return "v3;" + p.source + ";" + p.derive + ";" + p.pii + ";" + p.contact
}

// parsePrint reads a fingerprint; one of an earlier version (or none) is not a print.
func parsePrint(s string) (print, bool) {
	parts := strings.Split(s, ";")
	if len(parts) != 5 || parts[0] != "v3" {
		return print{}, false
	}
	return print{source: parts[1], derive: parts[2], pii: parts[3], contact: parts[4]}, true
}

func (im *Importer) logger() *slog.Logger {
	if im.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return im.Logger
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

// Resync makes the task's next run re-read every order from RetailCRM and then flag deleted
// what RetailCRM no longer has, keeping its change-feed cursor. Nothing is deleted first, so
// reports never lose data during the re-sync.
func (im *Importer) Resync(ctx context.Context, task store.Task) error {
	st, err := im.Store.SyncState(ctx, task.ID)
	if err != nil {
		return err
	}
	if st.Phase == "" {
		return nil // the first run reads everything anyway
	}
	// An unknown fingerprint makes the next run start the re-sync, after its preflight has
	// told it the account's timezone and today's date there.
	st.Fingerprint = ""
	return im.Store.SaveSyncState(ctx, task.AccountID, st)
}

func (r *run) progress() *store.RunProgress {
	r.counts.Requests = r.baseReq + r.client.Requests()
	return &store.RunProgress{Phase: r.phase, Counts: r.counts, ProgressDone: r.done, ProgressTotal: r.total, Cursor: r.cursor}
}

func (r *run) sliceOver() bool {
	return !r.deadline.IsZero() && r.im.now().After(r.deadline)
}

// Mapper maps RetailCRM orders onto stored tracker rows for one task.
type Mapper struct {
	m   *mapping.Mapping
	env mapping.Env
	ref *store.Reference
	// defaultProfit: profit is the default formula, which subtracts purchaseSumm (in the
	// account's base currency) from totalSumm (in the order's).
	defaultProfit bool
	// keep, when set, packs the copy of each order the row keeps (keep.go).
	keep *keeper
	// only, when set, are the fields m evaluates (a re-map of what changed: m is the mapping
	// restricted to them); the other fields of each order are taken from stored, its row as
	// stored, by RetailCRM id (every order mapped so has one).
	only   []string
	stored func(crmID int64) *store.OrderRow
}

// WithPII maps under a task's pii setting (mapping.PIIKeep, PIIHash, PIIDrop).
func (mp *Mapper) WithPII(pii string) *Mapper {
	mp.env.PII = pii
	return mp
}

// NewMapper binds a compiled mapping to the account's and the counter's timezones.
func NewMapper(m *mapping.Mapping, accountTZ, counterTZ *time.Location) *Mapper {
	return &Mapper{m: m, env: mapping.Env{AccountTZ: accountTZ, CounterTZ: counterTZ},
		defaultProfit: m.Spec()["profit"] == mapping.Default()["profit"]}
}

// WithReference gives the mapper the account's reference: an order without a currency of its
// own takes its store's or the account's default, and a profit mixing currencies is caught.
func (mp *Mapper) WithReference(ref *store.Reference) *Mapper {
	mp.ref = ref
	return mp
}

// MapOne maps one order; rejected orders (a required field missing or invalid) must not be
// stored, and their issues say why.
func (mp *Mapper) MapOne(o *retailcrm.Order) (row store.OrderRow, rejected bool, issues []store.Issue) {
	var res mapping.Result
	if members := o.Members(); members != nil {
		// The answer's decoder already walked the order: the mapping parses only what it reads.
		res = mp.m.MapMembers(o.Raw, members, mp.env)
	} else {
		res = mp.m.Map(o.Raw, mp.env)
	}
	var old *store.OrderRow
	if mp.only != nil {
		old = mp.stored(o.ID)
		if !slices.Contains(mp.only, mapping.FieldOrderID) {
			// The order's id was not evaluated: its issues are labelled with the stored one.
			for i := range res.Issues {
				res.Issues[i].OrderID = old.OrderID
			}
		}
	}
	for _, is := range res.Issues {
		issues = append(issues, store.Issue{OrderID: is.OrderID, OrderNumber: is.OrderNumber, Field: is.Field, Value: is.Value, Msg: is.Msg})
	}
	if res.Rejected {
		return store.OrderRow{}, true, issues
	}
	row = toRow(o, &res.Order, mp.env.CounterTZ, mp.ref)
	if old != nil {
		keepStored(&row, old, mp.only)
	}
	if is, mixed := mp.mixedProfit(o, &row); mixed {
		// totalSumm − purchaseSumm across two currencies is no amount of money at all: the
		// profit is left unknown rather than stored wrong, and the run says why.
		row.Profit = ""
		issues = append(issues, is)
	}
	row.Hash = RowHash(&row)
	if mp.keep != nil {
		if packed, digest := mp.keep.keep(o.Raw); packed != nil {
			row.Raw = packed
			row.Hash += "/" + digest
		}
	}
	return row, false, issues
}

// keepStored gives row the stored values of the fields not evaluated (not in only). They are
// what evaluating them would give: the stored row was mapped from the same order with the same
// expressions for them, under the same zones, pii and currencies (remap.go).
func keepStored(row, old *store.OrderRow, only []string) {
	for _, f := range mapping.Fields {
		if slices.Contains(only, f.Name) {
			continue
		}
		switch f.Name {
		case mapping.FieldOrderID:
			row.OrderID = old.OrderID
		case mapping.FieldOrderDate:
			row.OrderDate, row.OrderLocal = old.OrderDate, old.OrderLocal
		case mapping.FieldSessionID:
			row.SessionID = old.SessionID
		case mapping.FieldUserID:
			row.UserID = old.UserID
		case mapping.FieldItemCount:
			row.ItemCount = old.ItemCount
		case mapping.FieldProfit:
			row.Profit = old.Profit
		case mapping.FieldRevenue:
			row.Revenue = old.Revenue
		case mapping.FieldComment:
			row.Comment = old.Comment
		case mapping.FieldContactName:
			row.ContactName = old.ContactName
		case mapping.FieldContactPhone:
			row.ContactPhone = old.ContactPhone
		case mapping.FieldContactEmail:
			row.ContactEmail = old.ContactEmail
		case mapping.FieldTags:
			row.Tags = old.Tags
		default:
			panic("importer: keepStored does not know the tracker field " + f.Name)
		}
	}
}

// mixedProfit recognises a default profit computed from amounts in two currencies: the order's
// total in its own, the purchase cost in the account's base currency.
func (mp *Mapper) mixedProfit(o *retailcrm.Order, row *store.OrderRow) (store.Issue, bool) {
	if !mp.defaultProfit || mp.ref == nil || row.Profit == "" {
		return store.Issue{}, false
	}
	base := mp.ref.DefaultCurrency
	if base == "" || row.Currency == "" || row.Currency == base || !nonZero(o.PurchaseSumm) {
		return store.Issue{}, false
	}
	return store.Issue{OrderID: row.OrderID, OrderNumber: o.Number, Field: "profit", Value: row.Profit,
		Msg: locale.M("profit_currency_mixed", "currency", row.Currency, "base", base)}, true
}

// nonZero tells whether a JSON number's text is a number other than zero.
func nonZero(n string) bool {
	d, err := decimal.NewFromString(n)
	return err == nil && !d.IsZero()
}

// mapOrders maps fetched orders; rejected ones become issues and count as invalid, and are
// returned by id so that a stale stored copy can be flagged.
func (r *run) mapOrders(mp *Mapper, orders []retailcrm.Order) (rows []store.OrderRow, rejected []int64, issues []store.Issue) {
	rows = make([]store.OrderRow, 0, len(orders))
	for i := range orders {
		row, rej, is := mp.MapOne(&orders[i])
		issues = append(issues, is...)
		if rej {
			rejected = append(rejected, orders[i].ID)
			continue
		}
		rows = append(rows, row)
	}
	return rows, rejected, issues
}

func decimalText(d interface {
	String() string
}, valid bool) string {
	if !valid {
		return ""
	}
	return d.String()
}

func toRow(o *retailcrm.Order, m *mapping.Order, counterTZ *time.Location, ref *store.Reference) store.OrderRow {
	row := store.OrderRow{
		CRMID:        o.ID,
		OrderID:      m.OrderID,
		OrderDate:    m.OrderDate.UTC().Format(time.DateTime),
		OrderLocal:   m.DateIn(counterTZ),
		SessionID:    m.SessionID,
		UserID:       m.UserID,
		ItemCount:    decimalText(m.ItemCount.Decimal, m.ItemCount.Valid),
		Profit:       decimalText(m.Profit.Decimal, m.Profit.Valid),
		Revenue:      decimalText(m.Revenue.Decimal, m.Revenue.Valid),
		Comment:      m.Comment,
		ContactName:  m.ContactName,
		ContactPhone: m.ContactPhone,
		ContactEmail: m.ContactEmail,
		Tags:         m.Tags,
		Status:       o.Status,
		Site:         o.Site,
		OrderNumber:  o.Number,
		Currency:     counting.Currency(o.Currency, o.Site, ref),
		Source: store.Source{Source: o.Source.Source, Medium: o.Source.Medium, Campaign: o.Source.Campaign,
			Keyword: o.Source.Keyword, Content: o.Source.Content},
	}
	return row
}

// RowHash is the digest of everything the tracker shows of an order that the order itself
// says; two imports with equal hashes need no write. Its status group and counted flag are
// not in it: they follow from its status and the task's classes, which the store applies.
func RowHash(o *store.OrderRow) string {
	// The fields go into one buffer and are hashed at once: written one by one to a hash.Hash,
	// each field's conversion to bytes was an allocation of its own (44 an order).
	var buf [512]byte
	b := buf[:0]
	for _, f := range [...]string{o.OrderID, o.OrderDate, o.OrderLocal, o.SessionID, o.UserID, o.ItemCount, o.Profit, o.Revenue,
		o.Comment, o.ContactName, o.ContactPhone, o.ContactEmail, strings.Join(o.Tags, "\x1e"), o.Status, o.Site,
		o.OrderNumber, o.Currency, o.Source.Source, o.Source.Medium, o.Source.Campaign, o.Source.Keyword, o.Source.Content} {
		b = append(b, f...)
		b = append(b, 0x1f)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// commit writes one batch with the checkpoint that follows it.
func (r *run) commit(ctx context.Context, orders []retailcrm.Order, gone []int64, st *store.SyncState, mark int64) error {
	return r.apply(ctx, r.prepare(orders, gone), st, mark)
}

// preparedBatch is a batch of orders mapped and ready to be stored.
type preparedBatch struct {
	fetched int
	rows    []store.OrderRow
	// deletes are the orders gone from the task's set, including those that no longer map.
	deletes []int64
	invalid int
	issues  []store.Issue
}

// prepare maps a batch. It reads only the task and the mapper, never the run's counters, so
// a walk may prepare one page while the last is being applied.
func (r *run) prepare(orders []retailcrm.Order, gone []int64) preparedBatch {
	return r.prepareWith(r.mapper, orders, gone)
}

// prepareWith is prepare with another mapper (a re-map's, which keeps the copies it has).
func (r *run) prepareWith(mp *Mapper, orders []retailcrm.Order, gone []int64) preparedBatch {
	fetched := len(orders)
	if from, to := r.task.BackfillFrom, r.task.BackfillTo; from != "" || to != "" {
		// The task imports the orders created within its date range. The change feed also
		// names others; they are not in the task's set (and leave it if their date moved out).
		kept := orders[:0:0]
		for _, o := range orders {
			if o.CreatedAt != "" && ((from != "" && o.CreatedAt < from) || (to != "" && o.CreatedAt[:min(len(o.CreatedAt), len(day))] > to)) {
				gone = append(gone, o.ID)
				continue
			}
			kept = append(kept, o)
		}
		orders = kept
	}
	rows, rejected, issues := r.mapOrders(mp, orders)
	// An order that no longer maps (its required field went bad) is no longer in the mapped
	// set; a stale copy of it must not linger in reports.
	deletes := append(slices.Clone(gone), rejected...)
	return preparedBatch{fetched: fetched, rows: rows, deletes: deletes, invalid: len(rejected), issues: issues}
}

// apply stores a prepared batch and counts it.
func (r *run) apply(ctx context.Context, b preparedBatch, st *store.SyncState, mark int64) error {
	r.counts.Fetched += int64(b.fetched)
	r.counts.Invalid += int64(b.invalid)
	r.counts.Pages++
	p := r.progress()
	p.NewIssues = b.issues
	p.NewIssueCount = int64(len(b.issues))
	res, err := r.im.Store.ApplyBatch(ctx, store.Batch{
		AccountID: r.task.AccountID, CounterID: r.task.CounterID, TaskID: r.task.ID,
		Upserts: b.rows, Deletes: b.deletes, Mark: mark, State: st, RunID: r.runID, Progress: p, Cause: r.cause,
	})
	if err != nil {
		return err
	}
	if r.keeper != nil {
		r.train(ctx)
	}
	r.counts.Created += res.Created
	r.counts.Updated += res.Updated
	r.counts.Deleted += res.Deleted
	if r.im.Observe != nil {
		r.im.Observe(res, int64(b.invalid))
	}
	return nil
}
