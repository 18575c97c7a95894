package importer_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"orderimport/internal/locale"
	"orderimport/internal/tasks"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/counting"
	"orderimport/internal/crmemu"
	"orderimport/internal/importer"
	"orderimport/internal/retailcrm"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// The model-based test: the emulator holds the truth; between runs and during them (between
// two pages of one walk) the account changes; requests fail in every way RetailCRM and its
// proxies fail; runs are cut off at random requests and the "process" restarts on the same
// SQLite file. After one clean run the stored orders must equal the emulator's under the
// mapping, field by field, with deletions reflected and nothing doubled; a second run must
// write nothing and make only the three requests of an idle run.
//
//	go test ./internal/importer/ -run 'TestModel$' -seeds 5000 -timeout 0  # a longer run
//	go test ./internal/importer/ -run 'TestModel$' -seed 42 -v -story  # one seed, with its story
var (
	flagSeed      = flag.Int64("seed", 0, "TestModel: run only this seed")
	flagSeeds     = flag.Int("seeds", 200, "TestModel: number of seeds")
	flagSeedStart = flag.Int64("seedstart", 1, "TestModel: first seed")

	flagModelParallel = flag.Int("modelparallel", 6, "TestModel: seeds run at once")
	flagStory         = flag.Bool("story", false, "TestModel: log every seed's story, not only a failing one's")
)

func TestModel(t *testing.T) {
	first, n := *flagSeedStart, int64(*flagSeeds)
	if *flagSeed != 0 {
		first, n = *flagSeed, 1
	}
	if testing.Short() {
		n = min(n, 20)
	}
	// A seed spends most of its time waiting (timeouts, retries, fsync), so more of them run
	// at once than there are cores.
	seeds := make(chan int64)
	var wg sync.WaitGroup
	for range *flagModelParallel {
		wg.Go(func() {
			for seed := range seeds {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					m := newModel(t, seed)
					m.play()
				})
			}
		})
	}
	for seed := first; seed < first+n; seed++ {
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
	// The runs read with several requests in flight (faults and kills land among them); a
	// model that never got there would test the importer of one request at a time.
	if n >= 20 && concurrentSeeds.Load() < n/4 {
		t.Errorf("only %d of %d seeds had 3 or more requests in flight at once", concurrentSeeds.Load(), n)
	}
	t.Logf("%d of %d seeds had 3 or more requests in flight at once", concurrentSeeds.Load(), n)
}

// concurrentSeeds counts the seeds whose runs had 3 or more requests in flight at once.
var concurrentSeeds atomic.Int64

// clock is the scenario's time, shared by the emulator and the importer: every reading moves
// it on by step, so runs cross midnights and daylight-saving changes deterministically.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func (c *clock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// plan is what happens during one run attempt.
type plan struct {
	mutate   float64 // chance that a request is preceded by changes to the account
	fault    float64 // chance that a request starts a burst of faults
	allow503 bool    // rate-limit faults slow the adaptive pacer down: only in some seeds
	killAt   int     // cut the run off at this request (0: never)
	slice    int     // clock steps until the run's time slice is over (0: no slicing)
	access   float64 // chance per request of a store-access or timezone change
}

const modelKey = "model-key"

// firstRequests are the requests a run starts with at once: the key check, the settings, and in
// a first run the read of the feed's last day and the count of the orders.
const firstRequests = 4

var modelZones = []string{"Europe/Moscow", "Europe/Berlin", "America/New_York", "Australia/Sydney",
	"Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "UTC", "Asia/Yekaterinburg"}

var modelMappings = []map[string]string{
	nil,
	{"order_id": "number"},
	{"session_id": "customFields." + crmemu.FieldSessionID, "comment": "managerComment"},
	{"order_id": "number", "revenue": "summ"},
}

type model struct {
	t     *testing.T
	seed  int64
	rng   *rand.Rand // decisions between runs
	chaos *rand.Rand // decisions during runs (inside the emulator hook)
	clock *clock
	emu   *crmemu.Emulator
	srv   *httptest.Server
	loc   store.Location
	kr    *secret.Keyring
	st    *store.Store
	im    *importer.Importer
	cfg   importer.Config
	task  store.Task
	ctz   string // counter timezone
	spec  map[string]string
	story []string

	mu     sync.Mutex // the hook's state
	cur    *plan
	cancel context.CancelFunc
	reqs   int
	killed bool
	// keyChecked: the attempt's preflight asked for the key's access (a slice that continues a
	// run in the same process asks nothing)
	keyChecked bool
	// accessSeen: a key check (a preflight, or the check after a successful run) answered after
	// the last change of the key's store access
	accessSeen bool
	// checkedNoStore: the attempt's key check saw a key that may read none of the task's
	// stores (an access change after it, among the run's later requests, does not undo that).
	checkedNoStore bool
	// throttled: the attempt was answered 503/429 and the pacer slowed down; the next
	// attempt gets a fresh one so that one seed does not crawl for the rest of its rounds
	throttled bool
	numbers   int
	cp        store.SyncState
	haveCP    bool
	epochs    int
	bad       []string
}

func newModel(t *testing.T, seed int64) *model {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d6f64656c))
	m := &model{t: t, seed: seed, rng: rng, chaos: rand.New(rand.NewPCG(uint64(seed), 0x6368616f73)), accessSeen: true}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("story of seed %d:\n  %s", seed, strings.Join(m.story, "\n  "))
			t.Logf("reproduce: go test ./internal/importer/ -run 'TestModel$' -seed=%d -v", seed)
		}
	})

	zone := modelZones[rng.IntN(len(modelZones))]
	tz, _ := time.LoadLocation(zone)
	base := time.Date(2026, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), 0, 0, time.UTC)
	switch rng.IntN(3) {
	case 0: // just before a daylight-saving change of the account's zone, if it has any
		if tr, ok := nextTransition(base, tz); ok {
			base = tr.Add(-time.Duration(rng.IntN(180)) * time.Minute)
		}
	case 1: // just before midnight in the account's zone
		l := base.In(tz)
		base = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, tz).Add(-time.Duration(1+rng.IntN(90)) * time.Minute)
	}
	steps := []time.Duration{time.Second, 10 * time.Second, time.Minute, 3 * time.Minute}
	m.clock = &clock{t: base, step: steps[rng.IntN(len(steps))]}
	days := 1 + rng.IntN(60)
	orders := []int{0, 3, 40, 150, 300}[rng.IntN(5)]
	keyCfg := crmemu.FullAccess()
	if rng.IntN(4) == 0 {
		keyCfg = selective(rng)
	}
	size := "small"
	if rng.IntN(5) == 0 {
		size = "rich"
	}
	// In half the seeds RetailCRM takes a few milliseconds to answer, so that the pace calls for
	// several requests in flight, and changes, faults and kills land among them (a stream of its
	// own, so that the rest of a seed's scenario is what it always was).
	var answer, perOrder time.Duration
	if lat := rand.New(rand.NewPCG(uint64(seed), 0x6c6174)); lat.IntN(2) == 0 {
		answer, perOrder = time.Duration(1+lat.IntN(4))*time.Millisecond, time.Duration(lat.IntN(40))*time.Microsecond
	}
	var currencies map[string]string
	if rng.IntN(3) == 0 {
		// A second store in another currency: orders without one of their own take their
		// store's, and the default profit mixes currencies.
		currencies = map[string]string{crmemu.SiteOpt: "KZT"}
	}
	m.emu = crmemu.New(crmemu.Options{Seed: seed, Orders: orders, Timezone: zone, Now: m.clock.Now,
		End: base.Add(-time.Minute), Start: base.Add(-time.Duration(days) * 24 * time.Hour), OrderSize: size,
		Keys: map[string]crmemu.KeyConfig{modelKey: keyCfg}, Currencies: currencies, Latency: answer, LatencyPerOrder: perOrder})
	m.emu.OnRequest(m.onRequest)
	m.srv = httptest.NewServer(m.emu)
	t.Cleanup(m.srv.Close)
	m.logf("account: %d %s orders over %d days, zone %s, clock %s step %s, key %s %v, currencies %v, answers %v + %v an order",
		orders, size, days, zone, base.Format(time.RFC3339), m.clock.step, keyCfg.SiteAccess, keyCfg.Sites, currencies, answer, perOrder)

	m.cfg = importer.Config{
		PageSize:          []int{20, 50, 100}[rng.IntN(3)],
		WindowTarget:      []int{10, 40, 100, 2000}[rng.IntN(4)],
		WindowMaxAttempts: 3,
		MaxAttempts:       3,
		RequestTimeout:    150 * time.Millisecond,
		RetryBaseDelay:    time.Millisecond,
		RetryMaxDelay:     5 * time.Millisecond,
	}
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	m.kr = secret.NewKeyring(key)
	m.loc = store.Location{Engine: store.SQLite, Path: filepath.Join(t.TempDir(), "model.db")}
	m.open()
	t.Cleanup(func() { m.st.Close() })
	ctx := context.Background()
	if _, err := m.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var acc int64
	if err := m.st.DB().QueryRowContext(ctx, `INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id`,
		"model", time.Now().UTC()).Scan(&acc); err != nil {
		t.Fatal(err)
	}
	m.ctz = modelZones[rng.IntN(len(modelZones))]
	c, err := m.st.CreateCounter(ctx, acc, "shop", m.ctz)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _, err := (&tasks.Keys{Keyring: m.kr}).Seal(acc, modelKey)
	if err != nil {
		t.Fatal(err)
	}
	m.spec = modelMappings[rng.IntN(len(modelMappings))]
	task := store.Task{AccountID: acc, CounterID: c.ID, Name: "model", Type: "retailcrm", FrequencyHours: 1,
		CRMURL: m.srv.URL, CRMKeySealed: sealed, CRMKeyHint: "-key", RateLimit: 5000, Mapping: m.spec}
	if rng.IntN(4) == 0 {
		task.BackfillFrom = base.Add(-time.Duration(rng.IntN(days+2)) * 24 * time.Hour).In(tz).Format("2006-01-02")
	}
	if m.task, err = m.st.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	m.logf("task: mapping %s, counter zone %s, backfill_from %q, page %d, window target %d",
		specJSON(task.Mapping), m.ctz, task.BackfillFrom, m.cfg.PageSize, m.cfg.WindowTarget)
	return m
}

// open (re)starts "the process": a fresh store on the same file and a fresh importer with its
// own connections and pacer.
func (m *model) open() {
	st, err := store.Open(context.Background(), m.loc)
	if err != nil {
		m.t.Fatal(err)
	}
	m.st = st
	m.im = &importer.Importer{Store: st, Keys: &tasks.Keys{Keyring: m.kr}, HTTPClient: &http.Client{Transport: &http.Transport{}},
		Limiters: retailcrm.NewLimiters(), Logger: slog.New(slog.DiscardHandler), Now: m.clock.Now, Config: m.cfg}
}

func (m *model) restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Close()
	m.open()
	m.logf("restart on the same database")
}

func (m *model) logf(format string, args ...any) {
	m.story = append(m.story, fmt.Sprintf(format, args...))
}

func selective(rng *rand.Rand) crmemu.KeyConfig {
	kc := crmemu.FullAccess()
	kc.SiteAccess = crmemu.AccessSelective
	kc.Sites = [][]string{{crmemu.SiteMain}, {crmemu.SiteOpt}, {crmemu.SiteMain, crmemu.SiteOpt}}[rng.IntN(3)]
	return kc
}

func specJSON(spec map[string]string) string {
	if spec == nil {
		return ""
	}
	var parts []string
	for k, v := range spec {
		parts = append(parts, fmt.Sprintf("%q:%q", k, v))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// nextTransition finds the next change of tz's UTC offset after t, within a year.
func nextTransition(t time.Time, tz *time.Location) (time.Time, bool) {
	_, off := t.In(tz).Zone()
	for h := 1; h < 366*24; h++ {
		u := t.Add(time.Duration(h) * time.Hour)
		if _, o := u.In(tz).Zone(); o != off {
			lo := u.Add(-time.Hour)
			for u.Sub(lo) > time.Second {
				mid := lo.Add(u.Sub(lo) / 2)
				if _, o := mid.In(tz).Zone(); o != off {
					u = mid
				} else {
					lo = mid
				}
			}
			return u.Round(time.Second), true
		}
	}
	return time.Time{}, false
}

// onRequest is the emulator hook: it runs before each request is answered, so what it does
// happens between two pages of whatever the importer is walking.
func (m *model) onRequest(r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watch("before " + r.URL.Path)
	p := m.cur
	if p == nil {
		return
	}
	m.reqs++
	if r.URL.Path == "/api/credentials" && m.reqs <= firstRequests && !m.keyChecked {
		// This attempt's preflight (the first slice of a run asks it, among the first
		// requests). Access changes come only after them: its answer shows the state the last
		// change left.
		m.keyChecked, m.accessSeen = true, true
		m.checkedNoStore = m.noTaskStore()
	}
	if p.killAt == m.reqs {
		m.logf("    kill at request %d (%s)", m.reqs, r.URL.Path)
		m.killed = true
		m.cancel()
		return
	}
	if m.chaos.Float64() < p.mutate {
		for range 1 + m.chaos.IntN(3) {
			m.mutate(m.chaos, "    during "+r.URL.Path+": ")
		}
	}
	if m.reqs > firstRequests && m.chaos.Float64() < p.access {
		m.changeAccess(m.chaos, "    during "+r.URL.Path+": ")
	}
	if m.chaos.Float64() < p.access {
		m.changeReference(m.chaos, "    during "+r.URL.Path+": ")
	}
	if m.chaos.Float64() < p.fault {
		kinds := []crmemu.Fault{crmemu.Fault500, crmemu.FaultHTMLError, crmemu.FaultTruncated, crmemu.FaultReset,
			crmemu.FaultGarbage, crmemu.FaultSlow}
		if p.allow503 && m.reqs >= 20 {
			// Only well into a run: the pacer then takes the run's recent pace as what
			// RetailCRM tolerates, instead of dropping to one request a second.
			kinds = append(kinds, crmemu.Fault503, crmemu.Fault429)
			m.throttled = true
		}
		k := kinds[m.chaos.IntN(len(kinds))]
		n := 1 + m.chaos.IntN(2)
		if k == crmemu.FaultReset {
			n++ // net/http retries a GET once by itself on a reused connection
		}
		m.emu.InjectFault(k, n, "")
		m.logf("    fault %s ×%d at request %d (%s)", k, n, m.reqs, r.URL.Path)
	}
}

// mutate changes the account once: RetailCRM's own kinds of change, plus those that move an
// order in the newest-first list or change its mapped id.
func (m *model) mutate(rng *rand.Rand, prefix string) {
	ids := m.emu.OrderIDs("")
	pick := func() int64 {
		if len(ids) == 0 {
			return 0
		}
		return ids[rng.IntN(len(ids))]
	}
	now := m.clock.peek()
	var what string
	var err error
	switch k := rng.IntN(13); {
	case k < 7:
		what = m.emu.RandomMutation(rng).String()
	case k == 7 && len(ids) > 0:
		id := pick()
		m.numbers++
		num := fmt.Sprintf("R%d-%d", m.seed, m.numbers)
		what, err = fmt.Sprintf("number of %d → %s", id, num), m.emu.UpdateOrder(id, crmemu.Change{Field: "number", Value: num})
	case k == 8 && len(ids) > 0:
		id := pick()
		at := now.Add(-time.Duration(rng.Int64N(int64(70 * 24 * time.Hour))))
		what, err = fmt.Sprintf("created_at of %d → %s", id, at.Format(time.RFC3339)), m.emu.UpdateOrder(id, crmemu.Change{Field: "created_at", Value: at})
	case k == 9 && len(ids) > 0:
		id := pick()
		site := []string{crmemu.SiteMain, crmemu.SiteOpt, ""}[rng.IntN(3)]
		what, err = fmt.Sprintf("site of %d → %q", id, site), m.emu.UpdateOrder(id, crmemu.Change{Field: "site", Value: site})
	case k == 10:
		// an order dated in the future, or at an instant a daylight-saving fold makes ambiguous
		at := now.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		if tr, ok := nextTransition(now.Add(-30*24*time.Hour), m.emu.Location()); ok && rng.IntN(2) == 0 {
			at = tr.Add(time.Duration(rng.IntN(120)-60) * time.Minute)
		}
		id := m.emu.CreateOrder(crmemu.OrderInput{CreatedAt: at})
		what = fmt.Sprintf("create %d dated %s", id, at.Format(time.RFC3339))
	case k == 11 && len(ids) > 0:
		// one order goes and another, dated in the past, comes: the list's total stays put
		// while everything between the two moves
		id := pick()
		at := now.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour))))
		err = m.emu.DeleteOrder(id)
		what = fmt.Sprintf("delete %d and create %d dated %s", id, m.emu.CreateOrder(crmemu.OrderInput{CreatedAt: at}), at.Format(time.RFC3339))
	default:
		if len(ids) >= 2 {
			a, b := pick(), pick()
			if a != b {
				what, err = fmt.Sprintf("merge %d into %d", a, b), m.emu.MergeOrders(a, b)
				break
			}
		}
		what = m.emu.RandomMutation(rng).String()
	}
	if err != nil {
		what += " (" + err.Error() + ")"
	}
	m.logf("%s%s", prefix, what)
}

// changeAccess changes what the key may see, or the account's timezone.
//
// A change of store access leaves no trace in RetailCRM but the key check itself, so the
// importer can only act on what a key check sees: each run's preflight and the check at the end
// of a run. A change undone before either looked (say, a store lost and given back while one run
// reads) is beyond what can be noticed; the model makes a new access change only once the last
// one has been looked at. Timezone changes carry their own time stamp and are free.
func (m *model) changeAccess(rng *rand.Rand, prefix string) {
	if rng.IntN(2) == 0 || !m.accessSeen {
		zone := modelZones[rng.IntN(len(modelZones))]
		if err := m.emu.SetTimezone(zone); err != nil {
			m.t.Fatal(err)
		}
		m.logf("%saccount timezone → %s", prefix, zone)
		return
	}
	kc := crmemu.FullAccess()
	if rng.IntN(3) > 0 {
		kc = selective(rng)
	}
	m.emu.SetKey(modelKey, kc)
	m.accessSeen = false
	m.logf("%skey access → %s %v", prefix, kc.SiteAccess, kc.Sites)
}

// changeReference changes RetailCRM's reference as an administrator does: a status moves to
// another group (what counts changes for every order of it, without an entry in the feed), or
// is renamed.
func (m *model) changeReference(rng *rand.Rand, prefix string) {
	groups := m.emu.StatusGroups()
	codes := slices.Sorted(maps.Keys(groups))
	code := codes[rng.IntN(len(codes))]
	if rng.IntN(4) == 0 {
		name := fmt.Sprintf("%s (%d)", code, rng.IntN(100))
		if err := m.emu.RenameStatus(code, name); err != nil {
			m.t.Fatal(err)
		}
		m.logf("%sstatus %s renamed %q", prefix, code, name)
		return
	}
	group := counting.StandardGroups[rng.IntN(len(counting.StandardGroups))]
	if err := m.emu.MoveStatus(code, group); err != nil {
		m.t.Fatal(err)
	}
	m.logf("%sstatus %s moved from %s to %s", prefix, code, groups[code], group)
}

// randomCounting is a task's choice of what counts: the default, some groups, some statuses
// excluded.
func randomCounting(rng *rand.Rand, emu *crmemu.Emulator) *store.Counting {
	if rng.IntN(3) == 0 {
		return nil
	}
	c := &store.Counting{StatusGroups: []string{}, ExcludeStatuses: []string{}}
	for _, g := range counting.StandardGroups {
		if rng.IntN(2) == 0 {
			c.StatusGroups = append(c.StatusGroups, g)
		}
	}
	codes := slices.Sorted(maps.Keys(emu.StatusGroups()))
	for range rng.IntN(3) {
		c.ExcludeStatuses = append(c.ExcludeStatuses, codes[rng.IntN(len(codes))])
	}
	return c
}

// watch checks that the checkpoint never goes backwards: the feed cursor never decreases, and
// within one backfill (same plan) the next day to read never decreases.
func (m *model) watch(where string) {
	st, err := m.st.SyncState(context.Background(), m.task.ID)
	if err != nil {
		return
	}
	prev := m.cp
	if m.haveCP {
		samePlan := st.Fingerprint == prev.Fingerprint && st.ResyncMark == prev.ResyncMark &&
			st.BackfillFrom == prev.BackfillFrom && st.BackfillTo == prev.BackfillTo
		switch {
		case st.HistorySinceID < prev.HistorySinceID:
			m.bad = append(m.bad, fmt.Sprintf("%s: feed cursor went back from %d to %d", where, prev.HistorySinceID, st.HistorySinceID))
		case samePlan && prev.Phase == importer.PhaseHistory && st.Phase == importer.PhaseBackfill:
			m.bad = append(m.bad, fmt.Sprintf("%s: back to the backfill without a new plan", where))
		case samePlan && prev.Phase == importer.PhaseBackfill && st.Phase == importer.PhaseBackfill && st.BackfillNext < prev.BackfillNext:
			m.bad = append(m.bad, fmt.Sprintf("%s: backfill went back from %s to %s", where, prev.BackfillNext, st.BackfillNext))
		case !samePlan:
			m.epochs++
		}
	}
	m.cp, m.haveCP = st, true
}

func (m *model) newRun() int64 {
	r, err := m.st.CreateRun(context.Background(), m.task.AccountID, m.task.ID, store.RunManual)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := m.st.StartRun(context.Background(), r.ID); err != nil {
		m.t.Fatal(err)
	}
	return r.ID
}

// attempt runs (or continues) a run under plan p; p == nil is a clean attempt.
func (m *model) attempt(runID int64, p *plan) (err error, killed bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deadline time.Time
	if p != nil && p.slice > 0 {
		deadline = m.clock.peek().Add(time.Duration(p.slice) * m.clock.step)
	}
	m.mu.Lock()
	m.cur, m.cancel, m.reqs, m.killed, m.keyChecked, m.checkedNoStore = p, cancel, 0, false, false, false
	m.mu.Unlock()
	err = m.im.Run(ctx, m.task, runID, deadline)
	m.mu.Lock()
	m.cur = nil
	killed = m.killed
	if err == nil {
		m.accessSeen = true // the run's last request was its key check
	}
	m.watch("after the run")
	if m.throttled {
		m.im.Limiters, m.throttled = retailcrm.NewLimiters(), false
	}
	m.mu.Unlock()
	return err, killed
}

func (m *model) randomPlan(allow503 bool) *plan {
	p := &plan{allow503: allow503}
	if m.rng.IntN(4) > 0 {
		p.mutate = []float64{0.02, 0.1, 0.3}[m.rng.IntN(3)]
	}
	if m.rng.IntN(3) > 0 {
		p.fault = []float64{0.02, 0.08, 0.2}[m.rng.IntN(3)]
	}
	if m.rng.IntN(3) == 0 {
		p.killAt = 1 + m.rng.IntN(40)
	}
	if m.rng.IntN(4) == 0 {
		p.slice = 1 + m.rng.IntN(60)
	}
	if m.rng.IntN(12) == 0 {
		p.access = 0.03
	}
	return p
}

func (m *model) play() {
	ctx := context.Background()
	allow503 := m.rng.IntN(8) == 0
	rounds := 1 + m.rng.IntN(5)
	for round := 1; round <= rounds; round++ {
		m.between(round)
		runID := m.newRun()
		if m.rng.IntN(10) == 0 {
			// POST /imports/{id}/resync: the worker marks the state, then runs.
			if err := m.im.Resync(ctx, m.task); err != nil {
				m.t.Fatal(err)
			}
			m.logf("re-sync requested (run %d)", runID)
		}
		for try := 1; try <= 6; try++ {
			p := m.randomPlan(allow503)
			m.logf("  run %d attempt %d: %+v", runID, try, *p)
			err, killed := m.attempt(runID, p)
			switch {
			case err == nil:
				m.finish(runID, store.RunSucceeded, locale.Message{})
				m.logf("  run %d succeeded", runID)
				try = 99
			case errors.Is(err, importer.ErrSliceDone):
				m.logf("  slice over")
			case killed:
				if m.rng.IntN(2) == 0 {
					m.restart()
				}
				if m.rng.IntN(2) == 0 {
					m.finish(runID, store.RunInterrupted, locale.M("run_interrupted"))
					runID = m.newRun()
				}
			default:
				m.logf("  run %d failed: %v", runID, err)
				var f *importer.Failure
				if errors.As(err, &f) && f.Msg.IsZero() {
					m.t.Errorf("a failure without words: %v", err)
				}
				if errors.As(err, &f) && f.Permanent && !(f.Msg.Code == "crm_no_task_store" && (m.noTaskStore() || m.checkedNoStore)) {
					// The key keeps its permission to read orders throughout: nothing here
					// needs a person, so nothing may park the task (but a key that lost every
					// store the task imports, now or when the run checked it).
					m.t.Errorf("a run failed as if the task needed a person: %v", err)
				}
				m.finish(runID, store.RunFailed, importer.FailureMessage(err))
				runID = m.newRun()
			}
		}
		m.clock.advance(time.Duration(m.rng.IntN(180)) * time.Minute)
	}

	// The dust settles: no more changes or faults, one clean run. Requests get all the time
	// they need: a retried request would spoil the idle run's count on a loaded machine.
	m.drainFaults()
	if m.emu.Stats().MaxInFlight >= 3 {
		concurrentSeeds.Add(1)
	}
	if m.noTaskStore() {
		m.task.Sites = nil
		m.updateTask("stores → all (the key reads none of the task's)")
	}
	m.cfg.RequestTimeout = time.Minute
	m.im.Config.RequestTimeout = time.Minute
	m.logf("clean run")
	runID := m.newRun()
	if err, _ := m.attempt(runID, nil); err != nil {
		m.t.Fatalf("the clean run failed: %v", err)
	}
	m.verify("after the clean run")
	for _, b := range m.bad {
		m.t.Errorf("checkpoint: %s", b)
	}

	// Idempotence: nothing changed, so nothing is written and only the idle requests are made.
	m.emu.ResetStats()
	runID = m.newRun()
	if err, _ := m.attempt(runID, nil); err != nil {
		m.t.Fatalf("the idle run failed: %v", err)
	}
	r, err := m.st.RunForWorker(ctx, runID)
	if err != nil {
		m.t.Fatal(err)
	}
	if c := r.Counts; c.Created+c.Updated+c.Deleted != 0 {
		m.t.Errorf("idle run wrote: %+v", c)
	}
	want := map[string]int{"/api/credentials": 1, "/api/v5/settings": 1, "/api/v5/orders/history": 1,
		"/api/v5/reference/statuses": 1, "/api/v5/reference/status-groups": 1, "/api/v5/reference/sites": 1}
	if got := m.emu.Stats().ByEndpoint; !mapsEqual(got, want) {
		m.t.Errorf("idle run requests %v, want %v", got, want)
	}
	m.verify("after the idle run")
	if *flagStory {
		m.t.Logf("story:\n  %s", strings.Join(m.story, "\n  "))
	}
}

// between changes the account (and the task) between two runs.
func (m *model) between(round int) {
	n := m.rng.IntN(25)
	m.logf("round %d: %d changes", round, n)
	for range n {
		m.mutate(m.rng, "  ")
	}
	if m.rng.IntN(10) == 0 {
		m.changeAccess(m.rng, "  ")
	}
	if m.rng.IntN(10) == 0 {
		m.spec = modelMappings[m.rng.IntN(len(modelMappings))]
		m.task.Mapping = m.spec
		m.updateTask("mapping → " + specJSON(m.spec))
	}
	if m.rng.IntN(12) == 0 {
		m.task.BackfillFrom, m.task.BackfillTo = "", ""
		if m.rng.IntN(2) == 0 {
			m.task.BackfillFrom = m.clock.peek().Add(-time.Duration(m.rng.IntN(40)) * 24 * time.Hour).In(m.emu.Location()).Format("2006-01-02")
		}
		if m.rng.IntN(3) == 0 {
			m.task.BackfillTo = m.clock.peek().Add(-time.Duration(m.rng.IntN(30)) * 24 * time.Hour).In(m.emu.Location()).Format("2006-01-02")
			if m.task.BackfillTo < m.task.BackfillFrom {
				m.task.BackfillFrom, m.task.BackfillTo = m.task.BackfillTo, m.task.BackfillFrom
			}
		}
		m.updateTask(fmt.Sprintf("backfill_from → %q, backfill_to → %q", m.task.BackfillFrom, m.task.BackfillTo))
	}
	if m.rng.IntN(8) == 0 {
		m.changeReference(m.rng, "  ")
	}
	if m.rng.IntN(8) == 0 {
		m.task.Counting = randomCounting(m.rng, m.emu)
		m.updateTask(fmt.Sprintf("counting → %+v", m.task.Counting))
	}
	if m.rng.IntN(10) == 0 {
		m.task.Sites = [][]string{nil, {crmemu.SiteMain}, {crmemu.SiteOpt}, {crmemu.SiteMain, crmemu.SiteOpt}}[m.rng.IntN(4)]
		m.updateTask(fmt.Sprintf("stores → %v", m.task.Sites))
	}
}

// noTaskStore tells whether the key may read none of the stores the task imports.
func (m *model) noTaskStore() bool {
	_, err := importer.TaskSites(m.task.Sites, m.keySites())
	return err != nil
}

// keySites are the stores the key may read (nil: all).
func (m *model) keySites() []string {
	kc := m.emu.KeyConfig(modelKey)
	if kc.SiteAccess != crmemu.AccessSelective {
		return nil
	}
	return append([]string{}, kc.Sites...)
}

func (m *model) updateTask(what string) {
	t, err := m.st.UpdateTask(context.Background(), m.task)
	if err != nil {
		m.t.Fatal(err)
	}
	m.task = t
	m.logf("  task: %s", what)
}

func (m *model) finish(runID int64, status string, msg locale.Message) {
	if _, err := m.st.FinishRun(context.Background(), runID, status, msg); err != nil {
		m.t.Fatal(err)
	}
}

// drainFaults serves the scripted faults still queued to throw-away requests.
func (m *model) drainFaults() {
	c := &http.Client{Timeout: 2 * time.Second}
	for range 50 {
		before := m.emu.Stats().Faults
		resp, err := c.Get(m.srv.URL + "/api/api-versions")
		if err == nil {
			resp.Body.Close()
		}
		if m.emu.Stats().Faults == before {
			return
		}
	}
	m.t.Fatal("faults did not drain")
}

// verify compares the stored orders with the emulator's, mapped as the task maps them.
func (m *model) verify(when string) {
	t := m.t
	want := expectedRows(t, m.emu, modelKey, m.task, m.ctz)
	got := map[int64]store.OrderRow{}
	err := m.st.TaskOrders(context.Background(), m.task.ID, false, func(o *store.OrderRow) error {
		if prev, dup := got[o.CRMID]; dup {
			t.Errorf("%s: RetailCRM order %d is stored twice (order ids %q and %q)", when, o.CRMID, prev.OrderID, o.OrderID)
		}
		got[o.CRMID] = *o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	diffs := 0
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s: order %d (%s, created %s) is missing", when, id, w.OrderID, w.OrderDate)
			diffs++
		} else if d := rowDiff(g, w); d != "" {
			t.Errorf("%s: order %d differs: %s", when, id, d)
			diffs++
		}
		if diffs > 10 {
			return
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: order %d (%s) is stored but RetailCRM does not have it for this task", when, id, g.OrderID)
			diffs++
			if diffs > 10 {
				return
			}
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
