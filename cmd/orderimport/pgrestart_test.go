package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"orderimport/internal/store"
)

// pgProcesses is a serve and two workers of the real binary on one PostgreSQL database, with an
// API user and one inactive import task per emulated RetailCRM account.
type pgProcesses struct {
	serve, w1, w2 *proc
	api           *apiClient
	ops           map[string]string // process name → base URL of its /readyz
	tasks         []pgTask
}

type pgTask struct {
	id, counter int64
	crm         *crmAccount
}

func startPGProcesses(t *testing.T, bin, dir, dbURL string, extraEnv []string, workerArgs []string, crms []*crmAccount, tasksPerAccount, taskRate int) *pgProcesses {
	t.Helper()
	keyBytes := make([]byte, 32)
	_, _ = rand.Read(keyBytes)
	env := append(os.Environ(),
		"ORDERIMPORT_DB="+dbURL,
		"ORDERIMPORT_SECRET_KEY="+base64.StdEncoding.EncodeToString(keyBytes),
		"ORDERIMPORT_ALLOW_PRIVATE_CRM=true",
		"ORDERIMPORT_LOG_LEVEL=info",
	)
	env = append(env, extraEnv...)
	p := &pgProcesses{ops: map[string]string{}}
	p.serve = startProc(t, bin, dir, "serve", env, append([]string{"serve", "-addr", "127.0.0.1:0"}, workerArgs...)...)
	p.w1 = startProc(t, bin, dir, "worker1", env, append([]string{"worker", "-metrics-addr", "127.0.0.1:0"}, workerArgs...)...)
	p.w2 = startProc(t, bin, dir, "worker2", env, append([]string{"worker", "-metrics-addr", "127.0.0.1:0"}, workerArgs...)...)
	base := p.serve.waitFor(t, regexp.MustCompile(`msg=serving url=(http://[^ ]+?)/? `), 3*time.Minute)
	p.ops["serve"] = base
	opsRe := regexp.MustCompile(`msg="operations endpoints" url=(http://[^ ]+)/metrics`)
	p.ops["worker1"] = p.w1.waitFor(t, opsRe, 3*time.Minute)
	p.ops["worker2"] = p.w2.waitFor(t, opsRe, 3*time.Minute)
	for _, w := range []*proc{p.w1, p.w2} {
		w.waitFor(t, regexp.MustCompile(`msg="worker started"`), 3*time.Minute)
	}

	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "user", "add", "-email", "ops@example.com", "-password-stdin")
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, strings.NewReader("correct horse battery staple\n"), &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("user add: %v\n%s", err, errOut.String())
	}
	out.Reset()
	cmd = exec.Command(bin, "token", "create", "-email", "ops@example.com")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut.String())
	}
	p.api = &apiClient{t: t, base: base, token: strings.TrimSpace(out.String())}
	for i := range len(crms) * tasksPerAccount {
		crm := crms[i%len(crms)]
		var counter struct{ ID int64 }
		p.api.do("POST", "/api/v1/counters", map[string]any{"name": fmt.Sprintf("Shop %d", i), "timezone": "Europe/Moscow"}, &counter, 201)
		var task struct{ ID int64 }
		p.api.do("POST", fmt.Sprintf("/api/v1/counters/%d/imports", counter.ID), map[string]any{
			"name": fmt.Sprintf("RetailCRM %d", i), "active": false, "type": "retailcrm", "frequency_hours": 1,
			"retailcrm": map[string]any{"url": crm.url, "api_key": crm.key, "rate_limit": taskRate},
		}, &task, 201)
		p.tasks = append(p.tasks, pgTask{id: task.ID, counter: counter.ID, crm: crm})
	}
	return p
}

func (p *pgProcesses) procs() []*proc { return []*proc{p.serve, p.w1, p.w2} }

// checkExact checks that every task has exactly one run, which succeeded, and that its
// orders are exactly RetailCRM's.
func (p *pgProcesses) checkExact(t *testing.T, db *sql.DB) int {
	t.Helper()
	rows, err := db.Query(`SELECT task_id, id, status, error FROM runs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	runsOf := map[int64]int{}
	for rows.Next() {
		var taskID, runID int64
		var status, errText string
		if err := rows.Scan(&taskID, &runID, &status, &errText); err != nil {
			t.Fatal(err)
		}
		runsOf[taskID]++
		if status != store.RunSucceeded && status != store.RunSucceededWithWarnings {
			t.Errorf("run %d of task %d: %s %s", runID, taskID, status, errText)
		}
	}
	rows.Close()
	total := 0
	for _, task := range p.tasks {
		if runsOf[task.id] != 1 {
			t.Errorf("task %d has %d runs, want exactly 1", task.id, runsOf[task.id])
		}
		got := p.api.csv(task.counter)
		total += len(got)
		compareRows(t, task.id, got, task.crm.expected(t, "Europe/Moscow"))
	}
	return total
}

// waitAllFinished waits until every task has a finished run.
func waitAllFinished(t *testing.T, db *sql.DB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var open int
		err := db.QueryRow(`SELECT count(*) FROM import_tasks t WHERE NOT EXISTS (
			SELECT 1 FROM runs r WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running'))`).Scan(&open)
		if err == nil && open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks have no finished run after %s (%v)", open, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// errorLines are the log lines at error level a process wrote at or after `since`.
func (p *proc) errorLines(since time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if !strings.Contains(l, "level=ERROR") {
			continue
		}
		m := logTime.FindStringSubmatch(l)
		if m == nil {
			out = append(out, l)
			continue
		}
		if at, err := time.Parse(time.RFC3339Nano, m[1]); err != nil || !at.Before(since) {
			out = append(out, l)
		}
	}
	return out
}

var logTime = regexp.MustCompile(`^time=(\S+)`)

// status GETs a URL and returns the status code, the Retry-After header and the body.
func status(url, token string) (int, string, string) {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestPostgresRestartMidImport restarts the PostgreSQL server (pg_ctl -m fast, then start)
// in the middle of six first imports run by a serve and two workers. While it is away every
// process says it is not ready and the API answers 503 database_busy with Retry-After; once
// it is back every run that was under way continues by itself within 5 s, reads again at most
// the pages it had in flight, and ends exact; no process keeps logging errors.
func TestPostgresRestartMidImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and restarts a PostgreSQL server")
	}
	const (
		accounts  = 6
		orders    = 2500
		rateLimit = 10
		taskRate  = 8
		// Longer than the 10 s a request waits for a connection, so that the API's answer
		// while the database is away is seen.
		outage   = 12 * time.Second
		resumeBy = 5 * time.Second
	)
	pg := newPGCluster(t, 100)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	crms := make([]*crmAccount, accounts)
	for i := range crms {
		crms[i] = newCRMAccount(t, i, orders, rateLimit)
	}
	p := startPGProcesses(t, bin, dir, pg.URL, nil, []string{"-workers", "2"}, crms, 1, taskRate)
	defer func() {
		if t.Failed() {
			for _, pr := range p.procs() {
				pr.dumpTail(t, 60)
			}
		}
	}()
	for _, task := range p.tasks {
		p.api.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", task.id), map[string]any{"active": true}, nil, 200)
	}

	// Every run has committed a few pages: the import is in full swing.
	type inFlight struct {
		run, pages int64
	}
	var running []inFlight
	deadline := time.Now().Add(3 * time.Minute)
	for {
		running = running[:0]
		rows, err := db.Query(`SELECT id, pages FROM runs WHERE status = 'running' AND pages >= 2`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var f inFlight
			if err := rows.Scan(&f.run, &f.pages); err != nil {
				t.Fatal(err)
			}
			running = append(running, f)
		}
		rows.Close()
		if len(running) == accounts {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d runs got under way", len(running), accounts)
		}
		time.Sleep(20 * time.Millisecond)
	}

	pg.stopFast(t)
	stoppedAt := time.Now()
	t.Logf("PostgreSQL stopped with %d runs under way (pages committed: %v)", len(running), running)

	// While it is away: the API answers 503 database_busy with Retry-After, never 500; no
	// process is ready.
	type answer struct {
		code       int
		retryAfter string
		body       string
		after      time.Duration
	}
	apiAnswer := make(chan answer, 1)
	go func() {
		start := time.Now()
		code, ra, body := status(p.api.base+"/api/v1/counters", p.api.token)
		apiAnswer <- answer{code, ra, body, time.Since(start)}
	}()
	notReady := map[string]int{}
	for time.Since(stoppedAt) < outage {
		for name, base := range p.ops {
			if code, _, _ := status(base+"/readyz", ""); code == http.StatusServiceUnavailable {
				notReady[name]++
			} else {
				t.Errorf("%s /readyz answered %d while the database was away", name, code)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	a := <-apiAnswer
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.body), &body)
	if a.code != http.StatusServiceUnavailable || a.retryAfter == "" || body.Error.Code != "database_busy" {
		t.Errorf("the API while the database was away: %d Retry-After %q %s; want 503 database_busy with Retry-After", a.code, a.retryAfter, a.body)
	}
	for name := range p.ops {
		if notReady[name] == 0 {
			t.Errorf("%s never said it was not ready", name)
		}
	}

	back := pg.start(t)
	t.Logf("PostgreSQL back after %s; the API had answered %d after waiting %s", back.Sub(stoppedAt).Round(time.Millisecond), a.code, a.after.Round(time.Millisecond))

	// Every run under way continues by itself: its next page commits (heartbeat) soon after;
	// every process is ready again.
	resumed := map[int64]time.Duration{}
	readyAgain := map[string]time.Duration{}
	deadline = time.Now().Add(2 * time.Minute)
	for len(resumed) < len(running) || len(readyAgain) < len(p.ops) {
		for _, f := range running {
			if _, ok := resumed[f.run]; ok {
				continue
			}
			var hb time.Time
			if err := db.QueryRow(`SELECT heartbeat_at FROM runs WHERE id = $1`, f.run).Scan(&hb); err != nil {
				continue // the test's own connection reconnects too
			}
			if hb.After(back) {
				resumed[f.run] = hb.Sub(back)
			}
		}
		for name, base := range p.ops {
			if _, ok := readyAgain[name]; !ok {
				if code, _, _ := status(base+"/readyz", ""); code == 200 {
					readyAgain[name] = time.Since(back)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: runs continued %v of %v, processes ready %v", resumed, running, readyAgain)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var slowest time.Duration
	for run, d := range resumed {
		slowest = max(slowest, d)
		if d > resumeBy {
			t.Errorf("run %d continued %s after the database was back; want within %s", run, d.Round(time.Millisecond), resumeBy)
		}
	}

	waitAllFinished(t, db, 5*time.Minute)
	total := p.checkExact(t, db)

	// Pages read again: at most the ones in flight (each run holds one being committed and one
	// fetched ahead).
	again := 0
	for _, crm := range crms {
		again += crm.pagesReadAgain()
	}
	if again > 2*len(running) {
		t.Errorf("%d pages of orders were read twice; at most %d were in flight", again, 2*len(running))
	}

	// Errors were logged while the database was away, with backoff; none once it was back.
	quietFrom := back.Add(resumeBy)
	during := 0
	for _, pr := range p.procs() {
		during += len(pr.errorLines(stoppedAt)) - len(pr.errorLines(quietFrom))
		if late := pr.errorLines(quietFrom); len(late) > 0 {
			t.Errorf("%s logged errors after the database was back:\n%s", pr.name, strings.Join(late, "\n"))
		}
	}
	for _, pr := range p.procs() {
		if err := pr.stop(time.Minute); err != nil {
			t.Errorf("%s: graceful stop: %v", pr.name, err)
		}
	}
	t.Logf("restart mid-import: database away %s; runs continued %s at the latest after it was back (%v); ready again after %v; %d pages read twice; %d error lines while it was away; %d orders exact",
		back.Sub(stoppedAt).Round(time.Millisecond), slowest.Round(time.Millisecond), resumed, readyAgain, again, during, total)
}

// TestPostgresFiftyRunsSmallPools starts 50 runs at once on a serve and two workers whose pools
// hold 5 connections each, against a PostgreSQL that takes 20: every request is accepted, no
// process ever holds more than its 5 connections, and every run finishes exact.
func TestPostgresFiftyRunsSmallPools(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a PostgreSQL server of its own")
	}
	const (
		accounts        = 10
		tasksPerAccount = 5
		maxConns        = 5
	)
	pg := newPGCluster(t, 20)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	db, err := sql.Open("pgx", pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	crms := make([]*crmAccount, accounts)
	for i := range crms {
		crms[i] = newCRMAccount(t, i, 60+40*i, 10)
	}
	p := startPGProcesses(t, bin, dir, pg.URL, []string{fmt.Sprintf("ORDERIMPORT_DB_MAX_CONNS=%d", maxConns)}, nil, crms, tasksPerAccount, 8)
	defer func() {
		if t.Failed() {
			for _, pr := range p.procs() {
				pr.dumpTail(t, 60)
			}
		}
	}()

	// The sessions of each process, sampled while the runs go.
	ctx, stopSampling := context.WithCancel(context.Background())
	most := map[string]int{} // written by the sampler only, read after it ended
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			rows, err := db.QueryContext(ctx, `SELECT application_name, count(*) FROM pg_stat_activity
				WHERE backend_type = 'client backend' AND application_name LIKE 'orderimport[%' GROUP BY application_name`)
			if err == nil {
				for rows.Next() {
					var name string
					var n int
					if rows.Scan(&name, &n) == nil {
						most[name] = max(most[name], n)
					}
				}
				rows.Close()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	codes := make([]int, len(p.tasks))
	started := time.Now()
	for i, task := range p.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/imports/%d/runs", p.api.base, task.id), nil)
			req.Header.Set("Authorization", "Bearer "+p.api.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	accepted := time.Since(started)
	for i, c := range codes {
		if c != http.StatusAccepted {
			t.Errorf("run of task %d: %d, want 202", p.tasks[i].id, c)
		}
	}
	waitAllFinished(t, db, 10*time.Minute)
	wall := time.Since(started)
	stopSampling()
	<-sampled
	total := p.checkExact(t, db)
	for name, n := range most {
		if n > maxConns {
			t.Errorf("process %s held %d sessions at once; ORDERIMPORT_DB_MAX_CONNS is %d", name, n, maxConns)
		}
	}
	for _, pr := range p.procs() {
		if errs := pr.errorLines(time.Time{}); len(errs) > 0 {
			t.Errorf("%s logged errors:\n%s", pr.name, strings.Join(errs, "\n"))
		}
		if err := pr.stop(time.Minute); err != nil {
			t.Errorf("%s: graceful stop: %v", pr.name, err)
		}
	}
	t.Logf("50 runs at once on 3 processes of %d connections each (PostgreSQL max_connections=20): all accepted in %s, finished in %s, sessions at most %v, %d orders exact",
		maxConns, accepted.Round(time.Millisecond), wall.Round(time.Millisecond), most, total)
}

// TestPostgresRefusedSessionsAreWaitedOut fills a PostgreSQL server's session slots: a
// process that needs another connection is refused ("too many clients") and tries again
// within its bounded wait, so an operation succeeds once a slot frees, and fails with ErrBusy
// (the API's 503 database_busy) only if none frees within the wait.
func TestPostgresRefusedSessionsAreWaitedOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a PostgreSQL server of its own")
	}
	const slots = 5
	pg := newPGCluster(t, slots)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Location{Engine: store.Postgres, URL: pg.URL, MaxConns: 10, ConnWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The store's sessions (the migration opened two) are kept busy; the test takes the rest.
	for range 2 {
		held, err := st.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
	}
	var hog []*sql.DB
	for {
		h, err := sql.Open("pgx", pg.URL)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.PingContext(ctx); err != nil {
			h.Close()
			break
		}
		hog = append(hog, h)
	}
	if len(hog) == 0 || len(hog) > slots {
		t.Fatalf("the test took %d of the server's %d sessions", len(hog), slots)
	}

	start := time.Now()
	_, err = st.Counters(ctx, 1)
	if !errors.Is(err, store.ErrBusy) || !strings.Contains(err.Error(), "53300") {
		t.Fatalf("with the server full for longer than the wait: %v; want ErrBusy naming the refusal", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("gave up after %s; the wait is 2s", took)
	}

	// A slot frees while the operation waits: it goes through.
	start = time.Now()
	go func() {
		time.Sleep(500 * time.Millisecond) // the refusal lasts half a second
		hog[0].Close()
	}()
	if _, err := st.Counters(ctx, 1); err != nil {
		t.Fatalf("a slot freed within the wait: %v", err)
	}
	t.Logf("refused for %s, then served", time.Since(start).Round(time.Millisecond))
	for _, h := range hog[1:] {
		h.Close()
	}
}
