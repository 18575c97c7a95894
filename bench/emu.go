package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"orderimport/internal/crmemu"
)

// The emulator always runs in a child process of its own (this binary started with the role
// "emulator"), so that its CPU shows up separately and its memory is never counted as the
// importer's. The child serves the RetailCRM API on one or more loopback addresses and a small
// control API (statistics, rate limit, mutations) on another port.

const emuKey = "bench-key-0123456789"

// emulatorMain is the child's entry point: bench emulator -orders N -rps R [-listen a,b,…]
// [-answer D] [-per-order D].
func emulatorMain(args []string) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	orders := fs.Int("orders", 1000, "seeded orders")
	rps := fs.Int("rps", 0, "requests per second per key (0 = unlimited)")
	seed := fs.Int64("seed", 1, "data seed")
	size := fs.String("size", "rich", "order size: rich or small")
	listen := fs.String("listen", "127.0.0.1:0", "comma-separated listen addresses of the API")
	answer := fs.Duration("answer", 0, "answer time of every request (RetailCRM takes hundreds of milliseconds)")
	perOrder := fs.Duration("per-order", 0, "answer time added per order or feed entry in an answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Orders are spread over the 180 days before today: no seeded order falls into the hour
	// of change feed a first run replays, so every run of a size reads the same pages.
	end := time.Now().UTC().Truncate(24 * time.Hour)
	emu := crmemu.New(crmemu.Options{Seed: *seed, Orders: *orders, RateLimit: *rps, OrderSize: *size,
		Start: end.AddDate(0, 0, -180), End: end, Latency: *answer, LatencyPerOrder: *perOrder,
		Keys: map[string]crmemu.KeyConfig{emuKey: crmemu.FullAccess()}})
	var urls []string
	for _, addr := range strings.Split(*listen, ",") {
		u, err := emu.Serve(ctx, addr)
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rec := &recorder{}
	emu.OnRequest(rec.hook)
	go func() { _ = http.Serve(ctl, controlHandler(emu, rec)) }()
	fmt.Printf("ready %s %s\n", "http://"+ctl.Addr().String(), strings.Join(urls, ","))
	// The parent closes our stdin to stop us (and we stop if it dies).
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

type emuStats struct {
	Requests    int            `json:"requests"`
	ByEndpoint  map[string]int `json:"by_endpoint"`
	RateLimited int            `json:"rate_limited"`
	MaxInWindow int            `json:"max_in_window"`
	MaxInFlight int            `json:"max_in_flight"`
	LastID      int64          `json:"history_last_id"`
}

// recorder keeps the request URIs the emulator answers while it is on, so that the floor of
// the own-cost benchmark can replay exactly the requests an import made.
type recorder struct {
	mu   sync.Mutex
	on   bool
	uris []string
}

func (r *recorder) hook(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on {
		r.uris = append(r.uris, req.URL.RequestURI())
	}
}

func controlHandler(emu *crmemu.Emulator, rec *recorder) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /record", func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.on, rec.uris = r.URL.Query().Get("on") == "1", nil
	})
	mux.HandleFunc("GET /recorded", func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		_ = json.NewEncoder(w).Encode(rec.uris)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st := emu.Stats()
		out := emuStats{Requests: st.Requests, ByEndpoint: st.ByEndpoint, RateLimited: st.RateLimited,
			MaxInWindow: st.MaxInWindow[emuKey], MaxInFlight: st.MaxInFlight, LastID: emu.HistoryLastID()}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) { emu.ResetStats() })
	// POST /answer?fixed=D&per=D sets the answer time (crmemu.Emulator.SetAnswerTime).
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		fixed, err := time.ParseDuration(r.URL.Query().Get("fixed"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		per, err := time.ParseDuration(r.URL.Query().Get("per"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		emu.SetAnswerTime(fixed, per)
	})
	mux.HandleFunc("POST /rps", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		emu.SetRateLimit(n)
	})
	// POST /change?k=K&first=F changes the customer comment of orders F, F+s, F+2s, … (k of
	// them, spread over the account), one history entry each.
	mux.HandleFunc("POST /change", func(w http.ResponseWriter, r *http.Request) {
		k, _ := strconv.Atoi(r.URL.Query().Get("k"))
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		tag := r.URL.Query().Get("tag")
		if k <= 0 || n < k {
			http.Error(w, "want 0 < k ≤ n", 400)
			return
		}
		step := n / k
		for i := 0; i < k; i++ {
			id := int64(1 + i*step)
			if err := emu.UpdateOrder(id, crmemu.Change{Field: "customer_comment", Value: "bench " + tag + " " + strconv.Itoa(i)}); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
	})
	return mux
}

// emuProc is the parent's handle on an emulator child.
type emuProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ctl   string   // control API base URL
	URLs  []string // RetailCRM API base URLs
}

type emuOpts struct {
	orders   int
	rps      int
	size     string
	listen   []string
	priority bool // run at nice -5 (where the system allows it), every thread of it
}

func startEmulator(o emuOpts) (*emuProc, error) {
	if flag.Lookup("test.v") != nil {
		// A test binary does not know the emulator role: it would run its tests again.
		return nil, errors.New("the emulator child runs from the bench binary only (go run ./bench), not from go test")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"emulator", "-orders", strconv.Itoa(o.orders), "-rps", strconv.Itoa(o.rps)}
	if o.size != "" {
		args = append(args, "-size", o.size)
	}
	if len(o.listen) > 0 {
		args = append(args, "-listen", strings.Join(o.listen, ","))
	}
	cmd := exec.Command(exe, args...)
	if _, err := exec.LookPath("nice"); err == nil && o.priority {
		// nice(1) sets the priority before the child starts, so every thread inherits it;
		// without the permission it runs the child at the usual priority.
		cmd = exec.Command("nice", append([]string{"-n", "-5", exe}, args...)...)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("emulator did not start: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("emulator said %q", line)
	}
	return &emuProc{cmd: cmd, stdin: stdin, ctl: f[1], URLs: strings.Split(f[2], ",")}, nil
}

func (e *emuProc) URL() string { return e.URLs[0] }

func (e *emuProc) Pid() int { return e.cmd.Process.Pid }

// Stop ends the child and waits for it.
func (e *emuProc) Stop() {
	_ = e.stdin.Close()
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
}

func (e *emuProc) post(path string) error {
	resp, err := http.Post(e.ctl+path, "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("emulator %s: %s", path, b)
	}
	return nil
}

func (e *emuProc) Reset() error       { return e.post("/reset") }
func (e *emuProc) SetRPS(n int) error { return e.post("/rps?n=" + strconv.Itoa(n)) }
func (e *emuProc) SetAnswerTime(fixed, perOrder time.Duration) error {
	return e.post("/answer?fixed=" + fixed.String() + "&per=" + perOrder.String())
}
func (e *emuProc) Change(k, n int, tag string) error {
	return e.post(fmt.Sprintf("/change?k=%d&n=%d&tag=%s", k, n, tag))
}

// Record starts (on) or stops recording request URIs; Recorded returns them.
func (e *emuProc) Record(on bool) error {
	if on {
		return e.post("/record?on=1")
	}
	return e.post("/record?on=0")
}

func (e *emuProc) Recorded() ([]string, error) {
	var uris []string
	resp, err := http.Get(e.ctl + "/recorded")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return uris, json.NewDecoder(resp.Body).Decode(&uris)
}

func (e *emuProc) Stats() (emuStats, error) {
	var st emuStats
	resp, err := http.Get(e.ctl + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, errors.New("emulator stats: " + resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
