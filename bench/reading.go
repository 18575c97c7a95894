package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"orderimport/internal/store"
)

// readResult is benchmark 7, per engine: the CSV export of every stored order and the JSON
// list endpoint under a steady request rate, both through the real HTTP API.
type readResult struct {
	Engines []readEngine
}

type readEngine struct {
	Engine   string
	Orders   int
	Fill     time.Duration // PostgreSQL: copying the rows in
	CSV      []csvRun
	Duration time.Duration
	Loads    []latency // one per request rate, lowest first
}

type csvRun struct {
	Rows     int64
	Bytes    int64
	Wall     time.Duration
	RSSStart int64
	RSSMax   int64
	HeapMax  uint64
}

type latency struct {
	Rate         int // requests/s sent
	Sent, Errors int
	Sorted       []time.Duration
	ByKind       map[string][]time.Duration // sorted, per kind of request
	Achieved     float64
}

// The kinds of list requests the load mixes, in equal shares.
var loadKinds = []string{"newest page (limit=100)", "one random day (from=to, limit=100)", "a random 30 days (from, to, limit=100)", "search by an order id (q=)"}

// readingDB is the SQLite database of readOrders imported orders: the one the memory benchmark
// left behind, or a fresh import.
func readingDB(ctx context.Context, cfg *settings) (string, error) {
	if cfg.keptDB != "" {
		return cfg.keptDB, nil
	}
	dir := filepath.Join(cfg.tmp, "reading")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	emu, err := startEmulator(emuOpts{orders: cfg.readOrders})
	if err != nil {
		return "", err
	}
	defer emu.Stop()
	svc, err := newService(ctx, dir, "", 0)
	if err != nil {
		return "", err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, emu.URL(), unpaced, false)
	if err != nil {
		return "", err
	}
	progress("reading: importing %d orders to read", cfg.readOrders)
	if _, err := svc.runOnce(ctx, task); err != nil {
		return "", err
	}
	return dir, nil
}

func runReading(ctx context.Context, cfg *settings) (*readResult, error) {
	dir, err := readingDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	svc, err := openService(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	res := &readResult{}
	e, err := readEngineBench(ctx, cfg, svc, "SQLite")
	if err != nil {
		return nil, err
	}
	res.Engines = append(res.Engines, e)
	if cfg.postgres != "" {
		e, err := readPostgres(ctx, cfg, svc)
		if err != nil {
			return res, fmt.Errorf("PostgreSQL: %w", err)
		}
		res.Engines = append(res.Engines, e)
	}
	return res, nil
}

// openService opens a service on the SQLite database an earlier step filled.
func openService(ctx context.Context, dir string) (*service, error) {
	return newServiceOn(ctx, dir, "", 0, false)
}

func readEngineBench(ctx context.Context, cfg *settings, svc *service, engine string) (readEngine, error) {
	re := readEngine{Engine: engine, Duration: cfg.readDuration}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return re, err
	}
	srv := &http.Server{Handler: svc.app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := fmt.Sprintf("http://%s/api/v1/counters/%d/orders", ln.Addr(), svc.counter)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func(ctx context.Context, u string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+svc.token)
		return client.Do(req)
	}
	for i := 0; i < cfg.runs; i++ {
		r, err := csvExport(ctx, get, base+"?format=csv")
		if err != nil {
			return re, err
		}
		re.CSV = append(re.CSV, r)
		re.Orders = int(r.Rows)
		progress("reading %s: CSV of %d rows in %v (%.0f rows/s), RSS %s → max %s", engine, r.Rows, r.Wall.Round(time.Millisecond),
			float64(r.Rows)/r.Wall.Seconds(), mib(r.RSSStart), mib(r.RSSMax))
	}
	// Sample some order ids for searches.
	var ids []string
	err = svc.app.Store.EachOrder(ctx, svc.account, svc.counter, store.OrderFilter{}, func(o *store.OrderRow) error {
		if o.ID%97 == 0 {
			ids = append(ids, o.OrderID)
		}
		return nil
	})
	if err != nil {
		return re, err
	}
	stopProfile, err := startProfile(cfg.profileDir, "reading-"+strings.ToLower(engine)+".cpu.pprof")
	if err != nil {
		return re, err
	}
	defer stopProfile()
	for _, rate := range cfg.readRates {
		l, err := loadTest(ctx, get, base, ids, rate, cfg.readDuration)
		if err != nil {
			return re, err
		}
		re.Loads = append(re.Loads, l)
		progress("reading %s: %d requests at %d/s: p50 %v p95 %v p99 %v, %d errors", engine, l.Sent, rate,
			percentile(l.Sorted, 50), percentile(l.Sorted, 95), percentile(l.Sorted, 99), l.Errors)
	}
	return re, nil
}

// csvExport streams the export, counting records with encoding/csv, while this process's RSS
// is sampled (the server runs in this process).
func csvExport(ctx context.Context, get func(context.Context, string) (*http.Response, error), u string) (csvRun, error) {
	var r csvRun
	runtime.GC()
	r.RSSStart = procField("/proc/self/status", "VmRSS") * 1024
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.RSSMax = max(r.RSSMax, procField("/proc/self/status", "VmRSS")*1024)
				runtime.ReadMemStats(&ms)
				r.HeapMax = max(r.HeapMax, ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	resp, err := get(ctx, u)
	if err != nil {
		close(stop)
		<-sampled
		return r, err
	}
	defer resp.Body.Close()
	cr := &countingReader{r: resp.Body}
	rd := csv.NewReader(cr)
	rd.ReuseRecord = true
	rd.FieldsPerRecord = -1
	for {
		_, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			close(stop)
			<-sampled
			return r, fmt.Errorf("csv export: %w", err)
		}
		r.Rows++
	}
	r.Wall = time.Since(start)
	close(stop)
	<-sampled
	r.Rows-- // the header
	r.Bytes = cr.n
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("csv export: %s", resp.Status)
	}
	return r, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// loadTest sends GETs of the order list at a fixed rate (open loop: a slow answer does not
// delay the next request, and latency is measured from when a request was due) for d.
func loadTest(ctx context.Context, get func(context.Context, string) (*http.Response, error), base string, ids []string, rate int, d time.Duration) (latency, error) {
	l := latency{Rate: rate, ByKind: map[string][]time.Duration{}}
	rng := mrand.New(mrand.NewPCG(1, 2))
	today := time.Now().UTC()
	target := func() (string, string) {
		k := rng.IntN(len(loadKinds))
		switch k {
		case 0:
			return loadKinds[k], base + "?limit=100"
		case 1:
			day := today.AddDate(0, 0, -1-rng.IntN(180)).Format("2006-01-02")
			return loadKinds[k], base + "?limit=100&from=" + day + "&to=" + day
		case 2:
			to := today.AddDate(0, 0, -1-rng.IntN(150))
			return loadKinds[k], base + "?limit=100&from=" + to.AddDate(0, 0, -29).Format("2006-01-02") + "&to=" + to.Format("2006-01-02")
		}
		if len(ids) == 0 {
			return loadKinds[0], base + "?limit=100"
		}
		return loadKinds[k], base + "?q=" + url.QueryEscape(ids[rng.IntN(len(ids))])
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			select {
			case <-ctx.Done():
				return l, ctx.Err()
			case <-time.After(w):
			}
		}
		kind, u := target()
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := get(ctx, u)
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			l.Sent++
			if !ok {
				l.Errors++
				return
			}
			l.Sorted = append(l.Sorted, lat)
			l.ByKind[kind] = append(l.ByKind[kind], lat)
		}()
	}
	wg.Wait()
	l.Achieved = float64(l.Sent) / time.Since(start).Seconds()
	slices.Sort(l.Sorted)
	for _, v := range l.ByKind {
		slices.Sort(v)
	}
	return l, nil
}

// readPostgres copies the SQLite rows into a database of its own on the server and runs the
// same reads against it.
func readPostgres(ctx context.Context, cfg *settings, from *service) (readEngine, error) {
	admin, err := sql.Open("pgx", cfg.postgres)
	if err != nil {
		return readEngine{}, err
	}
	defer admin.Close()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "orderimport_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return readEngine{}, fmt.Errorf("create database: %w", err)
	}
	defer func() {
		if _, err := admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			progress("could not drop %s: %v", name, err)
		}
	}()
	u, err := url.Parse(cfg.postgres)
	if err != nil {
		return readEngine{}, err
	}
	u.Path = "/" + name
	svc, err := newService(ctx, cfg.tmp, u.String(), 0)
	if err != nil {
		return readEngine{}, err
	}
	defer svc.Close()
	task, err := svc.addTask(ctx, "http://127.0.0.1:1", 0, false)
	if err != nil {
		return readEngine{}, err
	}
	start := time.Now()
	if err := copyOrders(ctx, from, svc, task); err != nil {
		return readEngine{}, err
	}
	fill := time.Since(start)
	progress("reading PostgreSQL: rows copied in %v", fill.Round(time.Millisecond))
	e, err := readEngineBench(ctx, cfg, svc, "PostgreSQL")
	e.Fill = fill
	return e, err
}

// copyOrders writes every stored row of one service into another, 1,000 per batch, four
// batches at a time.
func copyOrders(ctx context.Context, from, to *service, task store.Task) error {
	batches := make(chan []store.OrderRow, 4)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rows := range batches {
				_, err := to.app.Store.ApplyBatch(ctx, store.Batch{AccountID: to.account, CounterID: to.counter, TaskID: task.ID, Upserts: rows})
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var batch []store.OrderRow
	err := from.app.Store.EachOrder(ctx, from.account, from.counter, store.OrderFilter{IncludeDeleted: true}, func(o *store.OrderRow) error {
		batch = append(batch, *o)
		if len(batch) == 1000 {
			select {
			case batches <- batch:
			case err := <-errc:
				return err
			}
			batch = nil
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	select {
	case werr := <-errc:
		return errors.Join(err, werr)
	default:
	}
	return err
}
