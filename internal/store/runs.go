package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"orderimport/internal/locale"
)

// Run statuses, as the API and the UI name them.
const (
	RunQueued                = "queued"
	RunRunning               = "running"
	RunSucceeded             = "succeeded"
	RunSucceededWithWarnings = "succeeded_with_warnings"
	RunFailed                = "failed"
	RunInterrupted           = "interrupted"
)

// Run kinds.
const (
	RunScheduled = "scheduled"
	RunManual    = "manual"
	RunResync    = "resync"
	RunTrigger   = "trigger" // RetailCRM's trigger called the task's URL
	RunRemap     = "remap"   // the mapping changed: the stored orders are re-mapped from their kept copies
)

// MaxRunIssues caps the issues kept per run; IssuesTotal still counts all of them.
const MaxRunIssues = 200

// Issue is a problem with one order's value. OrderID is the order's tracker order_id exactly as
// exported ("" only when the id itself could not be derived); OrderNumber is RetailCRM's number.
type Issue struct {
	OrderID     string
	OrderNumber string
	Field       string
	Value       string
	Msg         locale.Message
}

// storedIssue is an issue as the runs table keeps it: the message as its code and arguments,
// never rendered words, so it reads in whichever language it is shown.
type storedIssue struct {
	OrderID     string         `json:"order_id"`
	OrderNumber string         `json:"order_number,omitempty"`
	Field       string         `json:"field"`
	Value       string         `json:"value"`
	Code        string         `json:"code"`
	Args        map[string]any `json:"args,omitempty"`
	Detail      string         `json:"detail,omitempty"`
	// Message is the rendered English of rows written before issues had codes; the schema
	// migration that introduced codes converted them, so only a copy restored from an old
	// backup after that still has it.
	Message string `json:"message,omitempty"`
}

// MarshalJSON writes the stored form.
func (is Issue) MarshalJSON() ([]byte, error) {
	return json.Marshal(storedIssue{OrderID: is.OrderID, OrderNumber: is.OrderNumber, Field: is.Field, Value: is.Value,
		Code: is.Msg.Code, Args: is.Msg.Args, Detail: is.Msg.Detail})
}

// UnmarshalJSON reads the stored form.
func (is *Issue) UnmarshalJSON(b []byte) error {
	var st storedIssue
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	*is = Issue{OrderID: st.OrderID, OrderNumber: st.OrderNumber, Field: st.Field, Value: st.Value,
		Msg: locale.Message{Code: st.Code, Args: st.Args, Detail: st.Detail}}
	if st.Code == "" {
		is.Msg = LegacyMessage(st.Message)
	}
	return nil
}

// Counts are what a run did.
type Counts struct {
	Fetched  int64
	Created  int64
	Updated  int64
	Deleted  int64
	Invalid  int64
	Requests int64
	Pages    int64
}

// Add accumulates c2 into c.
func (c *Counts) Add(c2 Counts) {
	c.Fetched += c2.Fetched
	c.Created += c2.Created
	c.Updated += c2.Updated
	c.Deleted += c2.Deleted
	c.Invalid += c2.Invalid
	c.Requests += c2.Requests
	c.Pages += c2.Pages
}

// Run is one execution of an import task.
type Run struct {
	ID            int64
	AccountID     int64
	TaskID        int64
	Kind          string
	Status        string
	Phase         string
	QueuedAt      time.Time
	StartedAt     *time.Time
	FinishedAt    *time.Time
	HeartbeatAt   *time.Time
	Counts        Counts
	ProgressDone  int64
	ProgressTotal int64
	Cursor        string
	Error         locale.Message // why the run failed; zero unless it failed or was interrupted
	Issues        []Issue
	IssuesTotal   int64
}

// Finished reports whether the run reached a final status.
func (r Run) Finished() bool {
	switch r.Status {
	case RunQueued, RunRunning:
		return false
	}
	return true
}

const runColumns = `id, account_id, task_id, kind, status, phase, queued_at, started_at, finished_at, heartbeat_at,
	fetched, created, updated, deleted, invalid, requests, pages, progress_done, progress_total, cursor, error, issues, issues_total`

func scanRun(row scanner) (Run, error) {
	var r Run
	var started, finished, hb sql.NullTime
	var issues, errMsg string
	err := row.Scan(&r.ID, &r.AccountID, &r.TaskID, &r.Kind, &r.Status, &r.Phase, &r.QueuedAt, &started, &finished, &hb,
		&r.Counts.Fetched, &r.Counts.Created, &r.Counts.Updated, &r.Counts.Deleted, &r.Counts.Invalid, &r.Counts.Requests,
		&r.Counts.Pages, &r.ProgressDone, &r.ProgressTotal, &r.Cursor, &errMsg, &issues, &r.IssuesTotal)
	if err != nil {
		return Run{}, err
	}
	r.StartedAt, r.FinishedAt, r.HeartbeatAt = nullTime(started), nullTime(finished), nullTime(hb)
	r.Error = locale.Decode(errMsg)
	if r.Error.Code == "legacy_text" {
		r.Error = LegacyMessage(r.Error.Detail)
	}
	if issues != "" {
		if err := json.Unmarshal([]byte(issues), &r.Issues); err != nil {
			return Run{}, fmt.Errorf("decode issues of run %d: %w", r.ID, err)
		}
	}
	return r, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// CreateRunTx adds a queued run inside the caller's transaction (the same one that enqueues
// its job), so a run row exists exactly when its job does.
func (s *Store) CreateRunTx(ctx context.Context, tx *sql.Tx, accountID, taskID int64, kind string) (Run, error) {
	r := Run{AccountID: accountID, TaskID: taskID, Kind: kind, Status: RunQueued, QueuedAt: s.nowUTC()}
	err := tx.QueryRowContext(ctx, `INSERT INTO runs (account_id, task_id, kind, status, phase, queued_at, fetched, created, updated, deleted,
		invalid, requests, pages, progress_done, progress_total, cursor, error, issues, issues_total)
		VALUES ($1, $2, $3, $4, '', $5, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', '', '', 0) RETURNING id`,
		accountID, taskID, kind, RunQueued, r.QueuedAt).Scan(&r.ID)
	if err != nil {
		return Run{}, fmt.Errorf("store: create run for task %d: %w", taskID, err)
	}
	return r, nil
}

// Run loads one of the account's runs.
func (s *Store) Run(ctx context.Context, accountID, id int64) (Run, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1 AND account_id = $2`, id, accountID))
	if err != nil {
		return Run{}, fmt.Errorf("store: run %d: %w", id, notFound(err))
	}
	return r, nil
}

// RunForWorker loads a run for the worker (system access).
func (s *Store) RunForWorker(ctx context.Context, id int64) (Run, error) {
	var r Run
	err := s.patiently(ctx, func() (err error) {
		r, err = scanRun(s.w.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("store: run %d: %w", id, notFound(err))
	}
	return r, nil
}

// Runs lists a task's runs, newest first.
func (s *Store) Runs(ctx context.Context, accountID, taskID int64, limit int) ([]Run, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE account_id = $1 AND task_id = $2 ORDER BY id DESC LIMIT $3`,
		accountID, taskID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LastRun is the task's newest run, or nil.
func (s *Store) LastRun(ctx context.Context, accountID, taskID int64) (*Run, error) {
	runs, err := s.Runs(ctx, accountID, taskID, 1)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	return &runs[0], nil
}

// ActiveRun is the task's queued or running run, or nil.
func (s *Store) ActiveRun(ctx context.Context, accountID, taskID int64) (*Run, error) {
	var r Run
	err := s.patiently(ctx, func() (err error) {
		r, err = scanRun(s.w.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE account_id = $1 AND task_id = $2 AND status IN ($3, $4)
			ORDER BY id DESC LIMIT 1`, accountID, taskID, RunQueued, RunRunning))
		return err
	})
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: active run of task %d: %w", taskID, err)
	}
	return &r, nil
}

// StartRun marks a run running (again, when a job resumes it after a snooze or a crash).
func (s *Store) StartRun(ctx context.Context, id int64) error {
	err := s.patiently(ctx, func() error {
		_, err := s.w.ExecContext(ctx, `UPDATE runs SET status = $1, started_at = COALESCE(started_at, $2), heartbeat_at = $2 WHERE id = $3`,
			RunRunning, s.nowUTC(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: start run %d: %w", id, err)
	}
	return nil
}

// RunProgress is what a running run reports between pages.
type RunProgress struct {
	Phase         string
	Counts        Counts
	ProgressDone  int64
	ProgressTotal int64
	Cursor        string
	NewIssues     []Issue
	NewIssueCount int64
}

// UpdateRunTx records progress inside the transaction that commits the page it describes, so
// the run's counts never disagree with the data.
func (s *Store) UpdateRunTx(ctx context.Context, tx *sql.Tx, id int64, p RunProgress) error {
	issuesJSON := ""
	if len(p.NewIssues) > 0 {
		// The list keeps a run's first MaxRunIssues issues; once the run has that many, a page's
		// new ones only count, and the kept list is neither read nor rewritten (decoding and
		// encoding it on every page of a backfill with bad data was 5% of the import's CPU).
		var cur string
		var total int64
		if err := tx.QueryRowContext(ctx, `SELECT CASE WHEN issues_total >= $1 THEN '' ELSE issues END, issues_total FROM runs WHERE id = $2`,
			MaxRunIssues, id).Scan(&cur, &total); err != nil {
			return fmt.Errorf("store: read issues of run %d: %w", id, err)
		}
		if total >= MaxRunIssues {
			p.NewIssues = nil
		}
		var list []Issue
		if cur != "" {
			if err := json.Unmarshal([]byte(cur), &list); err != nil {
				return fmt.Errorf("store: decode issues of run %d: %w", id, err)
			}
		}
		for _, is := range p.NewIssues {
			if len(list) >= MaxRunIssues {
				break
			}
			list = append(list, is)
		}
		if len(p.NewIssues) > 0 {
			b, err := json.Marshal(list)
			if err != nil {
				return err
			}
			issuesJSON = string(b)
		}
	}
	now := s.nowUTC()
	_, err := tx.ExecContext(ctx, `UPDATE runs SET phase = $1, fetched = $2, created = $3, updated = $4, deleted = $5, invalid = $6,
		requests = $7, pages = $8, progress_done = $9, progress_total = $10, cursor = $11, heartbeat_at = $12,
		issues = CASE WHEN $13 = '' THEN issues ELSE $13 END, issues_total = issues_total + $14 WHERE id = $15`,
		p.Phase, p.Counts.Fetched, p.Counts.Created, p.Counts.Updated, p.Counts.Deleted, p.Counts.Invalid, p.Counts.Requests,
		p.Counts.Pages, p.ProgressDone, p.ProgressTotal, p.Cursor, now, issuesJSON, p.NewIssueCount, id)
	if err != nil {
		return fmt.Errorf("store: update run %d: %w", id, err)
	}
	return nil
}

// UpdateRun records progress outside a page transaction (requests made, phase changes).
func (s *Store) UpdateRun(ctx context.Context, id int64, p RunProgress) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.UpdateRunTx(ctx, tx, id, p) })
}

// FinishRun sets a run's final status; succeeded becomes succeeded_with_warnings when the run
// recorded any issue.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, msg locale.Message) (Run, error) {
	var r Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.FinishRunTx(ctx, tx, id, status, msg)
		return err
	})
	return r, err
}

// FinishRunTx is FinishRun inside the caller's transaction (the one that also completes the
// run's job, so "run finished" and "job finished" are one fact).
func (s *Store) FinishRunTx(ctx context.Context, tx *sql.Tx, id int64, status string, msg locale.Message) (Run, error) {
	now := s.nowUTC()
	_, err := tx.ExecContext(ctx, `UPDATE runs SET status = CASE WHEN $1 = $2 AND issues_total > 0 THEN $3 ELSE $1 END,
		error = $4, finished_at = $5, heartbeat_at = $5 WHERE id = $6`,
		status, RunSucceeded, RunSucceededWithWarnings, locale.Encode(msg), now, id)
	if err != nil {
		return Run{}, fmt.Errorf("store: finish run %d: %w", id, err)
	}
	r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if err != nil {
		return Run{}, fmt.Errorf("store: finish run %d: %w", id, notFound(err))
	}
	return r, nil
}

// InterruptStaleRuns marks runs that were left running or queued by a process that is gone.
// On SQLite there is only one process, so at start every unfinished run is stale; on
// PostgreSQL only runs whose heartbeat stopped before `staleBefore` are.
func (s *Store) InterruptStaleRuns(ctx context.Context, staleBefore time.Time) (int64, error) {
	now := s.nowUTC()
	res, err := s.w.ExecContext(ctx, `UPDATE runs SET status = $1, finished_at = $2,
		error = CASE WHEN error = '' THEN $3 ELSE error END
		WHERE status = $4 AND (heartbeat_at IS NULL OR heartbeat_at < $5)`,
		RunInterrupted, now, locale.Encode(locale.M("run_interrupted")),
		RunRunning, staleBefore.UTC())
	if err != nil {
		return 0, fmt.Errorf("store: interrupt stale runs: %w", err)
	}
	return res.RowsAffected()
}

// DeleteRunTx removes a queued run whose job turned out to be a duplicate, inside the
// transaction that created it.
func (s *Store) DeleteRunTx(ctx context.Context, tx *sql.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = $1 AND status = $2`, id, RunQueued); err != nil {
		return fmt.Errorf("store: delete duplicate run %d: %w", id, err)
	}
	return nil
}

// CreateRun adds a run outside the enqueue transaction: a job continuing a run that a restart
// marked interrupted records its remaining work as a new run.
func (s *Store) CreateRun(ctx context.Context, accountID, taskID int64, kind string) (Run, error) {
	var r Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = s.CreateRunTx(ctx, tx, accountID, taskID, kind)
		return err
	})
	return r, err
}

// pruneBatch bounds one DELETE of PruneRuns, so that a first prune of a large history does not
// hold the writer (SQLite's only one) for long.
const pruneBatch = 1000

// PruneRuns deletes the runs that finished before `before`, except each task's newest `keep`
// runs, whatever their age: the history of a task stays readable however rarely it runs, while
// an hourly task stops adding 8,760 rows (each with up to MaxRunIssues issues) a year. Runs
// still queued or running have no finish time and are never touched. It reports how many went.
func (s *Store) PruneRuns(ctx context.Context, before time.Time, keep int) (int64, error) {
	keep = max(keep, 1) // the newest run is what the task page shows
	var total int64
	for {
		// The keep-th newer run of the same task is found by the (task_id, id) index; a task
		// with no more than keep runs yields no row, and the comparison with NULL keeps them all.
		var res sql.Result
		err := s.patiently(ctx, func() (err error) {
			res, err = s.w.ExecContext(ctx, `DELETE FROM runs WHERE id IN (
				SELECT r.id FROM runs r
				WHERE r.finished_at IS NOT NULL AND r.finished_at < $1
				AND r.id < (SELECT n.id FROM runs n WHERE n.task_id = r.task_id ORDER BY n.id DESC LIMIT 1 OFFSET $2)
				ORDER BY r.id LIMIT $3)`, before.UTC(), keep-1, pruneBatch)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: prune runs finished before %s: %w", before.UTC().Format(time.DateOnly), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: prune runs: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
