// Package jobs runs import tasks on River: a periodic scheduler tick that enqueues due tasks,
// and the import worker that executes runs in time slices.
//
// The schedule lives in the database (import_tasks.next_run_at), not in River's in-memory
// periodic jobs, so it survives restarts and scales to thousands of tasks; one River periodic
// "tick" enqueues a unique import job per due task in the same transaction that advances
// next_run_at.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"orderimport/internal/alert"
	"orderimport/internal/export"
	"orderimport/internal/importer"
	"orderimport/internal/store"
	"orderimport/internal/webhook"
)

// ImportArgs is one run of one task. Uniqueness is by task only, across every non-final
// state: while a run of a task is queued or running, no second one can be enqueued.
type ImportArgs struct {
	TaskID int64 `json:"task_id" river:"unique"`
	RunID  int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (ImportArgs) Kind() string { return "import_run" }

// InsertOpts keeps attempts low: the client already retries each request, and the next
// scheduled run catches up anyway.
func (ImportArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "imports",
		MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
				rivertype.JobStateRunning, rivertype.JobStateScheduled},
		},
	}
}

// TickArgs is the scheduler's periodic job.
type TickArgs struct{}

// Kind implements river.JobArgs.
func (TickArgs) Kind() string { return "schedule_tick" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (TickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       "schedule",
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
			rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled}},
	}
}

// Config tunes the job system; zero values take the defaults.
type Config struct {
	// Workers is how many runs execute at once in this process; 0 = this process only
	// enqueues (serve without workers).
	Workers int
	// RescueAfter is how long a run left running by a dead process waits before River hands
	// its job to another worker, which resumes it from the checkpoint. Every healthy attempt
	// ends before it: the slice and the job timeout are derived from it. Default 2 minutes
	// (or twice Slice when only Slice is set).
	RescueAfter time.Duration
	// Slice is how long one job attempt works before it commits and hands the run back to
	// the queue (snooze 0). Long backfills are many slices, so no job runs long enough to be
	// mistaken for a stuck one. Default RescueAfter/2.
	Slice time.Duration
	// TickInterval is how often due tasks are enqueued.
	TickInterval time.Duration
	// FailuresBeforeAttention is how many failed runs in a row park a task.
	FailuresBeforeAttention int
	// SchedulerBatch bounds the tasks one tick enqueues (the next tick takes the rest).
	SchedulerBatch int
	// AccountWait is how long a job waits in place for a RetailCRM account that another
	// worker is talking to (PostgreSQL) before it goes to the back of the queue.
	AccountWait time.Duration
	// RunRetention is how long finished runs are kept (default 90 days); RunsKept is how many
	// of each task's newest runs are kept whatever their age (default 100). The scheduler
	// prunes at most every PruneEvery (default an hour).
	RunRetention time.Duration
	RunsKept     int
	PruneEvery   time.Duration
	// WebhookWorkers is how many webhooks are delivered to at once (default 4);
	// WebhookSlice how long one delivery job sends before it hands the webhook back to the
	// queue (default 20 s); WebhookRetryBase scales the waits between failed attempts (default
	// 5 s: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h…); WebhookGiveUp is how long a delivery is tried
	// before the webhook is disabled (default 24 h).
	WebhookWorkers   int
	WebhookSlice     time.Duration
	WebhookRetryBase time.Duration
	WebhookGiveUp    time.Duration
	// TriggerEvery is the least time between two runs a task's RetailCRM trigger starts
	// (default 10 s).
	TriggerEvery time.Duration
	// AlertEvery is how often the scheduler looks for incidents no run reports — a task that
	// went too long without a success, one a user fixed (default a minute).
	AlertEvery time.Duration
	// AlertRetryBase scales the waits between failed attempts to send an alert: base ×
	// attempt⁴ (default a second: 1 s, 16 s, 81 s, 4 min… about 7 hours over its 10 attempts),
	// so a mail server that refuses for a while gets the alert later, and a dead one is not
	// hammered.
	AlertRetryBase time.Duration
	// AttemptRetention is how long the webhooks' deliveries log is kept (default 30 days).
	AttemptRetention time.Duration
	// EventRetention is how long an order's timeline events are kept (default
	// store.EventRetention, 400 days); the daily order-memory job deletes older ones.
	EventRetention time.Duration
}

func (c *Config) defaults() {
	if c.RescueAfter == 0 {
		c.RescueAfter = max(2*time.Minute, 2*c.Slice)
	}
	if c.Slice == 0 {
		c.Slice = c.RescueAfter / 2
	}
	if c.TickInterval == 0 {
		c.TickInterval = 30 * time.Second
	}
	if c.FailuresBeforeAttention == 0 {
		c.FailuresBeforeAttention = 5
	}
	if c.SchedulerBatch == 0 {
		c.SchedulerBatch = 1000
	}
	if c.AccountWait == 0 {
		c.AccountWait = time.Second
	}
	if c.RunRetention == 0 {
		c.RunRetention = 90 * 24 * time.Hour
	}
	if c.RunsKept == 0 {
		c.RunsKept = 100
	}
	if c.PruneEvery == 0 {
		c.PruneEvery = time.Hour
	}
	if c.WebhookWorkers == 0 {
		c.WebhookWorkers = 4
	}
	if c.WebhookSlice == 0 {
		c.WebhookSlice = 20 * time.Second
	}
	if c.WebhookRetryBase == 0 {
		c.WebhookRetryBase = 5 * time.Second
	}
	if c.WebhookGiveUp == 0 {
		c.WebhookGiveUp = 24 * time.Hour
	}
	if c.TriggerEvery == 0 {
		c.TriggerEvery = 10 * time.Second
	}
	if c.AlertRetryBase == 0 {
		c.AlertRetryBase = time.Second
	}
	if c.AlertEvery == 0 {
		c.AlertEvery = time.Minute
	}
	if c.AttemptRetention == 0 {
		c.AttemptRetention = 30 * 24 * time.Hour
	}
	if c.EventRetention == 0 {
		c.EventRetention = store.EventRetention
	}
}

// jobTimeout is when River cancels an attempt: the slice plus room to finish the page in
// flight, and still before RescueAfter, so that a job is rescued only when its process is
// gone. Leases taken by an attempt last as long, so a rescued job finds them expired.
func (c *Config) jobTimeout() time.Duration {
	return c.Slice + (c.RescueAfter-c.Slice)/2
}

// Jobs owns the River client.
type Jobs struct {
	store    *store.Store
	importer *importer.Importer
	client   *river.Client[*sql.Tx]
	driver   riverdriver.Driver[*sql.Tx]
	log      *slog.Logger
	cfg      Config
	now      func() time.Time
	// OnRunFinished, when set, is told about every run that reached a final status (metrics).
	OnRunFinished func(store.Run)
	// OnDelivered, when set, is told about every webhook delivery that got through (metrics).
	OnDelivered func(webhookID int64, changes int)

	// What webhook deliveries and alerts send with; set before Start.
	Sender  *webhook.Sender
	Secrets SecretOpener
	Alerts  *alert.Notifier
	// PublicURL is the service's address for the links of alerts ("" : the address each alert
	// channel was added from).
	PublicURL string
	// Names names the RetailCRM codes of a counter's orders in the webhooks' deliveries (nil:
	// not named).
	Names func(ctx context.Context, accountID, counterID int64) (export.Namer, error)

	pruneMu   sync.Mutex
	nextPrune time.Time
	nextAlert time.Time

	feed     *coalescer // counters whose feed grew
	triggers *coalescer // tasks whose RetailCRM trigger was called
	bgStop   context.CancelFunc
	bgDone   sync.WaitGroup
}

// New builds the job system over the store's database.
func New(st *store.Store, im *importer.Importer, log *slog.Logger, cfg Config) (*Jobs, error) {
	cfg.defaults()
	if cfg.Slice >= cfg.RescueAfter {
		return nil, fmt.Errorf("jobs: the slice (%s) must be shorter than RescueAfter (%s)", cfg.Slice, cfg.RescueAfter)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &Jobs{store: st, importer: im, log: log, cfg: cfg, now: time.Now}
	j.feed = newCoalescer(200*time.Millisecond, j.feedGrew)
	j.triggers = newCoalescer(100*time.Millisecond, j.insertTriggers)
	driver, err := newDriver(st)
	if err != nil {
		return nil, err
	}
	j.driver = driver
	rc := &river.Config{
		ID:                   clientID(),
		Logger:               slog.New(newQuietHandler(log.Handler(), repeatWindow, time.Now)).With("component", "river"),
		JobTimeout:           cfg.jobTimeout(),
		RescueStuckJobsAfter: cfg.RescueAfter,
		// Keep finished jobs briefly: runs are recorded in our own table.
		CompletedJobRetentionPeriod: time.Hour,
	}
	if cfg.Workers > 0 {
		workers := river.NewWorkers()
		river.AddWorker(workers, &importWorker{j: j})
		river.AddWorker(workers, &tickWorker{j: j})
		river.AddWorker(workers, &deliverWorker{j: j})
		river.AddWorker(workers, &triggerWorker{j: j})
		river.AddWorker(workers, &alertWorker{j: j})
		river.AddWorker(workers, &memoryWorker{j: j})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{
			"imports":  {MaxWorkers: cfg.Workers},
			"schedule": {MaxWorkers: 1},
			"webhooks": {MaxWorkers: cfg.WebhookWorkers},
			"triggers": {MaxWorkers: 2},
			"alerts":   {MaxWorkers: 2},
		}
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.TickInterval), func() (river.JobArgs, *river.InsertOpts) {
				return TickArgs{}, nil
			}, &river.PeriodicJobOpts{RunOnStart: true}),
			memoryJob(),
		}
		if st.Engine() == store.SQLite {
			// SQLite has no LISTEN/NOTIFY: poll often so "run now" starts promptly.
			rc.FetchPollInterval = 200 * time.Millisecond
			rc.FetchCooldown = 50 * time.Millisecond
		}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: create river client: %w", err)
	}
	j.client = client
	st.OnFeed(func(ids []int64) { j.feed.add(ids...) })
	return j, nil
}

func newDriver(st *store.Store) (riverdriver.Driver[*sql.Tx], error) {
	switch st.Engine() {
	case store.SQLite:
		return riversqlite.New(st.DB()), nil
	case store.Postgres:
		return newPostgresDriver(st), nil
	}
	return nil, fmt.Errorf("jobs: unsupported engine %s", st.Engine())
}

// clientID names this process among the River clients of one database: the host and the
// process id (operators and tests can tell from a lease owner which process holds it) and
// the start time (a restarted process with a reused pid is still a new client).
func clientID() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer(".", "_", "-", "_", "/", "_").Replace(host)
	if len(host) > 60 {
		host = host[:60]
	}
	if host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s_p%d_%s", host, os.Getpid(), strings.Replace(time.Now().UTC().Format("20060102T150405.000000"), ".", "_", 1))
}

// Migrate applies River's own schema migrations, under the store's migration lock: River's
// migrator does not serialise concurrent starters by itself.
func Migrate(ctx context.Context, st *store.Store) error {
	driver, err := newDriver(st)
	if err != nil {
		return err
	}
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("jobs: river migrator: %w", err)
	}
	return st.WithMigrationLock(ctx, func() error {
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: river migrations: %w", err)
		}
		return nil
	})
}

// Start starts working (when configured with workers) and the scheduler. On SQLite, which is
// single-process by design, anything left running at start belongs to a dead process: the
// runs are marked interrupted and their jobs made available again so the tasks resume from
// their checkpoints right away.
func (j *Jobs) Start(ctx context.Context) error {
	if j.cfg.Workers > 0 && j.store.Engine() == store.SQLite {
		n, err := j.store.InterruptStaleRuns(ctx, j.now().Add(time.Hour))
		if err != nil {
			return err
		}
		if n > 0 {
			j.log.Warn("runs left running by a stopped process were marked interrupted; their tasks resume from the last checkpoint", "runs", n)
		}
		if _, err := j.store.RequeueOrphanedJobs(ctx); err != nil {
			return err
		}
		if _, err := j.store.ReleaseAllLeases(ctx); err != nil {
			return err
		}
	}
	// The feed's and the triggers' coalescers insert jobs from every process, also one that
	// works none itself (serve without workers answers the triggers).
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	j.bgStop = stop
	for _, c := range []*coalescer{j.feed, j.triggers} {
		j.bgDone.Add(1)
		go func() {
			defer j.bgDone.Done()
			c.run(bg)
		}()
	}
	if j.cfg.Workers == 0 {
		return nil
	}
	if err := j.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start river: %w", err)
	}
	return nil
}

// Stop stops taking work and waits for the current pages to commit; running runs hand
// themselves back to the queue (snooze) and resume at the next start.
func (j *Jobs) Stop(ctx context.Context) error {
	if j.bgStop != nil {
		j.bgStop()
		j.bgDone.Wait()
	}
	if j.cfg.Workers == 0 {
		return nil
	}
	if err := j.client.StopAndCancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("jobs: stop river: %w", err)
	}
	return nil
}

// Enqueue queues a run of the task unless one is already queued or running, in which case
// that one is returned. It is how "run now", a newly saved active task and the scheduler start
// runs.
func (j *Jobs) Enqueue(ctx context.Context, task store.Task, kind string) (store.Run, error) {
	var out store.Run
	err := j.store.InTx(ctx, func(tx *sql.Tx) error {
		r, err := j.enqueueTx(ctx, tx, task, kind)
		out = r
		return err
	})
	if err != nil {
		return store.Run{}, err
	}
	if out.ID == 0 {
		active, err := j.store.ActiveRun(ctx, task.AccountID, task.ID)
		if err != nil {
			return store.Run{}, err
		}
		if active != nil {
			return *active, nil
		}
		return store.Run{}, fmt.Errorf("jobs: task %d has a job queued but no active run", task.ID)
	}
	return out, nil
}

// enqueueTx returns a zero Run when the task already has a run queued or running.
func (j *Jobs) enqueueTx(ctx context.Context, tx *sql.Tx, task store.Task, kind string) (store.Run, error) {
	r, err := j.store.CreateRunTx(ctx, tx, task.AccountID, task.ID, kind)
	if err != nil {
		return store.Run{}, err
	}
	res, err := j.client.InsertTx(ctx, tx, ImportArgs{TaskID: task.ID, RunID: r.ID}, nil)
	if err != nil {
		return store.Run{}, fmt.Errorf("jobs: enqueue run of task %d: %w", task.ID, err)
	}
	if res.UniqueSkippedAsDuplicate {
		if err := j.store.DeleteRunTx(ctx, tx, r.ID); err != nil {
			return store.Run{}, err
		}
		return store.Run{}, nil
	}
	return r, nil
}

// Tick enqueues every due task and moves its next run one period on, all in one transaction,
// so a task is never enqueued twice for the same period even with several schedulers: ticks
// of different processes take the schedule lock in turn, and the later one finds the tasks
// no longer due. (River runs the periodic tick on the elected leader only; the lock makes
// Tick safe on its own.)
func (j *Jobs) Tick(ctx context.Context) (int, error) {
	now := j.now().UTC()
	var n int
	err := j.store.InTx(ctx, func(tx *sql.Tx) error {
		n = 0 // a transaction the store repeats counts afresh
		if err := j.store.LockSchedule(ctx, tx); err != nil {
			return err
		}
		due, err := j.store.DueTasks(ctx, tx, now, j.cfg.SchedulerBatch)
		if err != nil {
			return err
		}
		for _, t := range due {
			if _, err := j.enqueueTx(ctx, tx, t, store.RunScheduled); err != nil {
				return err
			}
			if err := j.store.SetNextRun(ctx, tx, t.ID, now.Add(time.Duration(t.FrequencyHours)*time.Hour)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("jobs: scheduler tick: %w", err)
	}
	return n, nil
}

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	j *Jobs
}

func (w *tickWorker) Work(ctx context.Context, job *river.Job[TickArgs]) error {
	n, err := w.j.Tick(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.j.log.Info("scheduler enqueued due tasks", "tasks", n)
	}
	if err := w.j.startBehindWebhooks(ctx); err != nil {
		w.j.log.Warn("webhook deliveries not started; the next tick tries again", "error", err)
	}
	w.j.alertsIfDue(ctx)
	w.j.pruneIfDue(ctx)
	return nil
}

// alertsIfDue looks for incidents no run reports when AlertEvery has passed since this process
// last did.
func (j *Jobs) alertsIfDue(ctx context.Context) {
	now := j.now()
	j.pruneMu.Lock()
	due := !now.Before(j.nextAlert)
	if due {
		j.nextAlert = now.Add(j.cfg.AlertEvery)
	}
	j.pruneMu.Unlock()
	if !due {
		return
	}
	if err := j.reconsiderAll(ctx); err != nil {
		j.log.Warn("incidents not looked at; the next tick tries again", "error", err)
	}
}

// pruneIfDue prunes the run history when PruneEvery has passed since this process last did.
// A failure is logged, not returned: the tick's work is done, and the next prune tries again.
func (j *Jobs) pruneIfDue(ctx context.Context) {
	now := j.now()
	j.pruneMu.Lock()
	due := !now.Before(j.nextPrune)
	if due {
		j.nextPrune = now.Add(j.cfg.PruneEvery)
	}
	j.pruneMu.Unlock()
	if !due {
		return
	}
	if _, err := j.PruneRuns(ctx); err != nil {
		j.log.Warn("pruning the run history failed; the next tick after "+j.cfg.PruneEvery.String()+" tries again", "err", err)
	}
	if _, err := j.store.PruneAttempts(ctx, j.now().Add(-j.cfg.AttemptRetention)); err != nil {
		j.log.Warn("pruning the webhooks' deliveries log failed; the next tick after "+j.cfg.PruneEvery.String()+" tries again", "err", err)
	}
}

// PruneRuns deletes the runs that finished more than RunRetention ago, keeping each task's
// newest RunsKept runs (store.PruneRuns).
func (j *Jobs) PruneRuns(ctx context.Context) (int64, error) {
	before := j.now().Add(-j.cfg.RunRetention)
	n, err := j.store.PruneRuns(ctx, before, j.cfg.RunsKept)
	if err != nil {
		return n, fmt.Errorf("jobs: prune runs: %w", err)
	}
	if n > 0 {
		j.log.Info("old runs pruned", "runs", n, "finished_before", before.UTC().Format(time.RFC3339), "kept_per_task", j.cfg.RunsKept)
	}
	return n, nil
}
