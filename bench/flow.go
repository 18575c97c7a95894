package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"orderimport/internal/access"
	"orderimport/internal/export"
	"orderimport/internal/store"
	"orderimport/internal/tasks"
	"orderimport/internal/webhook"
)

// The orders' way out: how fast a consumer reads the changes feed, how many changes a second
// a webhook delivers to a receiver on loopback, and how long a change takes from RetailCRM's
// trigger call to the export.

type flowResult struct {
	FeedOrders   int
	FeedAPI      []time.Duration // reading the whole feed through the API, 1000 a page, taking seq, next and more of each page
	FeedDecoded  []time.Duration // the same, decoding every order object in this process too
	FeedStore    []time.Duration // the same through the store, without HTTP and JSON
	HookOrders   int
	HookRuns     []time.Duration // from the first change committed to the receiver holding the last
	HookMessages int
	Trials       []time.Duration // trigger call → the change in the export, sorted
	TrialOrders  int
	TrialLoad    float64 // 1-minute load average when the trials started
}

// fillFeed writes n synthetic orders into the service's counter in pages of 100, as imports
// do (each page one transaction, one feed position).
func fillFeed(ctx context.Context, s *service, n int) error {
	task, err := s.addTask(ctx, "https://bench.retailcrm.ru", unpaced, false)
	if err != nil {
		return err
	}
	for first := 0; first < n; first += 100 {
		b := store.Batch{AccountID: s.account, CounterID: s.counter, TaskID: task.ID}
		for i := first; i < min(first+100, n); i++ {
			id := strconv.Itoa(i + 1)
			b.Upserts = append(b.Upserts, store.OrderRow{CRMID: int64(i + 1), OrderID: id, OrderDate: "2026-06-14 09:05:00",
				OrderLocal: "2026-06-14 12:05:00", SessionID: "s" + id, ItemCount: "2", Profit: "394.66", Revenue: "1395.16",
				Comment: "Позвонить после 18:00", ContactName: "Иванов Иван", ContactPhone: "79123456789",
				ContactEmail: "ivan" + id + "@example.com", Tags: []string{"VIP"}, Status: "new", Site: "shop", Hash: "h" + id})
		}
		if _, err := s.app.Store.ApplyBatch(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func runFlow(ctx context.Context, cfg *settings) (*flowResult, error) {
	res := &flowResult{FeedOrders: cfg.feedOrders, HookOrders: cfg.hookOrders, TrialOrders: 1000}
	if err := flowFeed(ctx, cfg, res); err != nil {
		return res, fmt.Errorf("feed: %w", err)
	}
	if err := flowWebhook(ctx, cfg, res); err != nil {
		return res, fmt.Errorf("webhook: %w", err)
	}
	if err := flowTrigger(ctx, cfg, res); err != nil {
		return res, fmt.Errorf("trigger: %w", err)
	}
	return res, nil
}

// flowFeed reads a counter's whole feed, as a consumer starting from scratch does.
func flowFeed(ctx context.Context, cfg *settings, res *flowResult) error {
	dir, err := os.MkdirTemp(cfg.tmp, "feed-")
	if err != nil {
		return err
	}
	s, err := newService(ctx, dir, "", 0)
	if err != nil {
		return err
	}
	defer s.Close()
	progress("feed: writing %d orders", cfg.feedOrders)
	if err := fillFeed(ctx, s, cfg.feedOrders); err != nil {
		return err
	}
	srv := httptest.NewServer(s.app.Handler())
	defer srv.Close()
	client := &http.Client{Timeout: time.Minute}
	for range cfg.runs {
		for _, full := range []bool{false, true} {
			start := time.Now()
			n, err := readFeed(ctx, client, srv.URL, s, full)
			if err != nil {
				return err
			}
			if n != cfg.feedOrders {
				return fmt.Errorf("read %d changes of %d", n, cfg.feedOrders)
			}
			if full {
				res.FeedDecoded = append(res.FeedDecoded, time.Since(start))
			} else {
				res.FeedAPI = append(res.FeedAPI, time.Since(start))
			}
		}
		start := time.Now()
		var cur store.FeedCursor
		for {
			rows, err := s.app.Store.Feed(ctx, s.account, s.counter, cur, 1000)
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				break
			}
			cur = rows[len(rows)-1].Cursor()
		}
		res.FeedStore = append(res.FeedStore, time.Since(start))
	}
	return nil
}

// readFeed reads the counter's whole feed through the API as a consumer does, and counts the
// changes: full decodes every order object; otherwise each page is read whole and only `next`
// and `more` are taken from its end, so that the figure is the service's, not this process's
// JSON decoder's (which the full reading measures).
func readFeed(ctx context.Context, client *http.Client, base string, s *service, full bool) (int, error) {
	after, n := "", 0
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/counters/%d/orders/changes?limit=1000&after=%s",
			base, s.counter, after), nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := client.Do(req)
		if err != nil {
			return n, err
		}
		var next string
		var more bool
		if full {
			var page struct {
				Changes []export.Change `json:"changes"`
				Next    string          `json:"next"`
				More    bool            `json:"more"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			n, next, more = n+len(page.Changes), page.Next, page.More
		} else {
			var body []byte
			if body, err = io.ReadAll(resp.Body); err == nil {
				// The answer's members are in name order: changes, more, next.
				var tail struct {
					Next string `json:"next"`
					More bool   `json:"more"`
				}
				i := bytes.LastIndex(body, []byte(`],"more":`))
				if i < 0 {
					err = fmt.Errorf("a page without more: %.200s", body)
				} else if err = json.Unmarshal(append([]byte("{"), body[i+2:]...), &tail); err == nil {
					n, next, more = n+bytes.Count(body[:i], []byte(`{"seq":`)), tail.Next, tail.More
				}
			}
		}
		resp.Body.Close()
		if err != nil {
			return n, err
		}
		after = next
		if !more {
			return n, nil
		}
	}
}

// countingReceiver verifies every message's signature and counts the changes it holds.
type countingReceiver struct {
	secret   string
	mu       sync.Mutex
	changes  int
	messages int
	bad      error
	done     chan struct{}
	want     int
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = webhook.Verify(c.secret, r.Header, body, time.Now())
	}
	var ev webhook.Event
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad = err
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.changes += len(ev.Data.Changes)
	c.messages++
	if c.changes >= c.want && c.done != nil {
		close(c.done)
		c.done = nil
	}
	w.WriteHeader(http.StatusNoContent)
}

// flowWebhook measures a webhook delivering hookOrders changes, from the moment they are
// committed to the moment the receiver holds the last one.
func flowWebhook(ctx context.Context, cfg *settings, res *flowResult) error {
	for range cfg.runs {
		d, msgs, err := flowWebhookOnce(ctx, cfg)
		if err != nil {
			return err
		}
		res.HookRuns = append(res.HookRuns, d)
		res.HookMessages = msgs
	}
	return nil
}

func flowWebhookOnce(ctx context.Context, cfg *settings) (time.Duration, int, error) {
	dir, err := os.MkdirTemp(cfg.tmp, "hook-")
	if err != nil {
		return 0, 0, err
	}
	s, err := newService(ctx, dir, "", 1)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	rc := &countingReceiver{done: make(chan struct{}), want: cfg.hookOrders}
	done := rc.done
	srv := httptest.NewServer(rc)
	defer srv.Close()
	u := srv.URL + "/orders"
	w, secret, err := s.app.Tasks.CreateWebhook(access.System(ctx), s.account, s.counter, tasks.WebhookInput{URL: &u})
	if err != nil {
		return 0, 0, err
	}
	rc.secret = secret
	progress("webhook %d: writing %d orders", w.ID, cfg.hookOrders)
	if err := fillFeed(ctx, s, cfg.hookOrders); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := s.app.Jobs.Start(ctx); err != nil {
		return 0, 0, err
	}
	defer s.app.Jobs.Stop(context.Background())
	if err := s.app.Jobs.StartDeliveries(ctx, w); err != nil {
		return 0, 0, err
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		return 0, 0, errors.New("the receiver did not get every change in 10 minutes")
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	d := time.Since(start)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != nil {
		return 0, 0, rc.bad
	}
	return d, rc.messages, nil
}

// flowTrigger measures trials of: change an order in the emulator (RetailCRM's pace, 10
// requests a second), call the task's trigger URL, poll the JSON export until the change is
// there. The trials are 10 s apart, so each starts a run of its own under the default pacing
// of triggered runs.
func flowTrigger(ctx context.Context, cfg *settings, res *flowResult) error {
	emu, err := startEmulator(emuOpts{orders: res.TrialOrders, rps: 10})
	if err != nil {
		return err
	}
	defer emu.Stop()
	dir, err := os.MkdirTemp(cfg.tmp, "trigger-")
	if err != nil {
		return err
	}
	s, err := newService(ctx, dir, "", 2)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.app.Jobs.Start(ctx); err != nil {
		return err
	}
	defer s.app.Jobs.Stop(context.Background())
	srv := httptest.NewServer(s.app.Handler())
	defer srv.Close()
	task, err := s.addTask(ctx, emu.URL(), 0, true)
	if err != nil {
		return err
	}
	// The first run (the backfill) is the scheduler's: enqueued like a new task's.
	if _, err := s.app.Jobs.Enqueue(ctx, task, store.RunScheduled); err != nil {
		return err
	}
	if err := waitIdle(ctx, s, task.ID); err != nil {
		return err
	}
	url, err := s.app.Tasks.TriggerURL(ctx, &task, srv.URL)
	if err != nil {
		return err
	}
	// Latency is what load distorts most: the trials wait for a quiet machine (the sections
	// before leave the load average high for a minute or two).
	waitForQuiet(ctx, 2)
	res.TrialLoad, _ = loadAvg()
	for i := range cfg.trials {
		tag := strconv.Itoa(i)
		if err := emu.Change(1, res.TrialOrders, tag); err != nil {
			return err
		}
		start := time.Now()
		resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("trigger: %s", resp.Status)
		}
		for {
			ok, err := exportedComment(ctx, srv.URL, s, "bench "+tag+" 0")
			if err != nil {
				return err
			}
			if ok {
				break
			}
			if time.Since(start) > time.Minute {
				return fmt.Errorf("trial %d: not in the export after a minute", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		res.Trials = append(res.Trials, time.Since(start))
		if err := waitIdle(ctx, s, task.ID); err != nil {
			return err
		}
		// The next trial after the pacing of triggered runs (10 s) has passed.
		if wait := 10*time.Second - time.Since(start); wait > 0 {
			select {
			case <-time.After(wait + 100*time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	sort.Slice(res.Trials, func(a, b int) bool { return res.Trials[a] < res.Trials[b] })
	return nil
}

func exportedComment(ctx context.Context, base string, s *service, comment string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/counters/%d/orders?q=1", base, s.counter), nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var page struct{ Orders []export.Order }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return false, err
	}
	return len(page.Orders) == 1 && page.Orders[0].Comment == comment, nil
}

// waitIdle waits until the task has no run queued or running.
func waitIdle(ctx context.Context, s *service, taskID int64) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		active, err := s.app.Store.ActiveRun(ctx, s.account, taskID)
		if err != nil {
			return err
		}
		last, err := s.app.Store.LastRun(ctx, s.account, taskID)
		if err != nil {
			return err
		}
		if active == nil && last != nil {
			if last.Status == store.RunFailed {
				return fmt.Errorf("run %d failed: %s", last.ID, last.Error.String())
			}
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the task's run did not finish in 5 minutes")
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *report) writeFlow(w func(string, ...any), f *flowResult) {
	w("## 9. Orders flow on: the changes feed, webhooks, the RetailCRM trigger\n\n")
	api, st := median(f.FeedAPI), median(f.FeedStore)
	apiRate := float64(f.FeedOrders) / api.Seconds()
	dec := median(f.FeedDecoded)
	w("**Feed read rate.** A counter of %d orders (written as imports write them, 100 a transaction) read from the\n", f.FeedOrders)
	w("beginning to the end by a consumer passing `next` on, 1,000 changes a page, SQLite, the consumer in this process. Through\n")
	w("the API (the service reads the rows and writes the JSON of every order; the consumer reads each page whole and takes\n")
	w("`next` and `more` from its end): %s (%s), **%.0f changes/s** — target ≥ 50,000: %s. The same with the consumer decoding every\n",
		secs(api), list(f.FeedAPI, secs), apiRate, verdict(apiRate >= 50000))
	w("order object too (`encoding/json` into the export's structs, on the same two cores): %s (%.0f changes/s). Through the\n",
		secs(dec), float64(f.FeedOrders)/dec.Seconds())
	w("store alone, without HTTP and JSON: %s (%.0f changes/s).\n\n", secs(st), float64(f.FeedOrders)/st.Seconds())
	hook := median(f.HookRuns)
	hookRate := float64(f.HookOrders) / hook.Seconds()
	w("**Webhook throughput.** %d changes committed, then one webhook's deliveries to a receiver on loopback that checks\n", f.HookOrders)
	w("every signature and answers 204: %d messages of at most 100 changes, one at a time, each frozen in the database\n", f.HookMessages)
	w("before it is sent and its cursor moved after; SQLite. %s (%s): **%.0f changes/s** — target ≥ 5,000: %s.\n\n",
		secs(hook), list(f.HookRuns, secs), hookRate, verdict(hookRate >= 5000))
	if len(f.Trials) > 0 {
		w("**Trigger to visible.** An order changed in the emulator (%d orders, RetailCRM's 10 requests a second), the task's\n", f.TrialOrders)
		w("trigger URL called, the JSON export polled every 10 ms until it shows the change; %d trials 10 s apart (the default\n", len(f.Trials))
		w("pacing of triggered runs), SQLite, 1-minute load %.2f at the start. p50 **%s**, p95 **%s**, max %s — target p95 ≤ 10 s: %s.\n\n",
			f.TrialLoad, secs(percentile(f.Trials, 50)), secs(percentile(f.Trials, 95)), secs(last(f.Trials)), verdict(percentile(f.Trials, 95) <= 10*time.Second))
	}
}
