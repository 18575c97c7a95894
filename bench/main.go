// Command bench is the benchmark harness of orderimport: it measures the import against the
// built-in RetailCRM emulator on loopback and writes docs/BENCHMARKS.md.
//
//	go run ./bench              # everything, about an hour on 2 cores; writes docs/BENCHMARKS.md
//	go run ./bench -quick       # small sizes, a couple of minutes, writes to a temp file unless -out
//	go run ./bench -only owncost,memory -runs 5
//
// The emulator always runs in a child process (this binary with the role "emulator"), and the
// memory benchmark runs each import in a child process of its own (role "memchild"), so the
// peak RSS it reports is the import's alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"
)

type settings struct {
	quick      bool
	runs       int
	out        string
	only       map[string]bool
	tmp        string
	profileDir string
	postgres   string
	peerDir    string
	keptDB     string // directory of the largest memory benchmark's database, reused for reading
	maxLoad    float64

	ceilingOrders  []int
	ceilingAnswers []time.Duration
	ownCostOrders  int
	memOrders      []int
	incrOrders     int
	incrK          []int
	peerOrders     int
	schedTasks     int
	readOrders     int
	readRates      []int
	readDuration   time.Duration
	readConcurrent int
	recountOrders  int
	remapOrders    int
	feedOrders     int
	hookOrders     int
	trials         int
}

var sections = []string{"ceiling", "owncost", "memory", "incremental", "peer", "scheduler", "reading", "recount", "flow", "remap"}

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "emulator":
			err = emulatorMain(os.Args[2:])
		case "memchild":
			err = memChildMain(os.Args[2:])
		default:
			err = benchMain(os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := benchMain(nil); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func benchMain(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := &settings{}
	fs.BoolVar(&cfg.quick, "quick", false, "small sizes and 2 runs: a check that everything works, not numbers to publish")
	fs.IntVar(&cfg.runs, "runs", 0, "repetitions for medians (default 3, -quick 2)")
	fs.StringVar(&cfg.out, "out", "", "where to write the report (default docs/BENCHMARKS.md; -quick: a temp file)")
	only := fs.String("only", "", "comma-separated sections to run: "+strings.Join(sections, ","))
	fs.StringVar(&cfg.profileDir, "profile", "", "directory for CPU profiles of the own-cost import (default: a temp directory)")
	fs.StringVar(&cfg.postgres, "postgres", os.Getenv("ORDERIMPORT_TEST_POSTGRES"), "PostgreSQL admin URL for the reading benchmark (default $ORDERIMPORT_TEST_POSTGRES); a database of its own is created and dropped")
	fs.Float64Var(&cfg.maxLoad, "max-load", 0, "wait until the 1-minute load average is below this before every section and every ceiling run (0 = do not wait)")
	ceilingOrders := fs.String("ceiling-orders", "", "comma-separated account sizes of the ceiling section (default 20000,100000; -quick 3000)")
	ceilingAnswers := fs.String("ceiling-answers", "", "comma-separated answer times of the ceiling section (default 0s,300ms,800ms; -quick 0s,300ms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.runs == 0 {
		cfg.runs = 3
		if cfg.quick {
			cfg.runs = 2
		}
	}
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(sections, s) {
				return fmt.Errorf("unknown section %q; the sections are %s", s, strings.Join(sections, ","))
			}
			cfg.only[s] = true
		}
	}
	cfg.sizes()
	if *ceilingOrders != "" {
		cfg.ceilingOrders = nil
		for _, f := range strings.Split(*ceilingOrders, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("-ceiling-orders: %q is not an account size", f)
			}
			cfg.ceilingOrders = append(cfg.ceilingOrders, n)
		}
	}
	if *ceilingAnswers != "" {
		cfg.ceilingAnswers = nil
		for _, f := range strings.Split(*ceilingAnswers, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil || d < 0 {
				return fmt.Errorf("-ceiling-answers: %q is not an answer time", f)
			}
			cfg.ceilingAnswers = append(cfg.ceilingAnswers, d)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	cfg.peerDir = "bench/peer"
	if cfg.tmp, err = os.MkdirTemp("", "orderimport-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(cfg.tmp)
	if cfg.profileDir == "" {
		cfg.profileDir = cfg.tmp + "/profiles"
	}
	if cfg.out == "" {
		cfg.out = "docs/BENCHMARKS.md"
		if cfg.quick {
			cfg.out = cfg.tmp + "/../orderimport-bench-quick.md"
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg.quiet(ctx)
	rep := &report{cfg: cfg, machine: describeMachine()}
	rep.loadStart[0], rep.loadStart[1] = loadAvg()
	start := sampleCPU(0)
	for _, s := range sections {
		if cfg.only != nil && !cfg.only[s] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		cfg.quiet(ctx)
		progress("== %s", s)
		before := sampleCPU(0)
		load, _ := loadAvg()
		if err := rep.run(ctx, s); err != nil {
			rep.errs = append(rep.errs, fmt.Sprintf("%s: %v", s, err))
			progress("%s failed: %v", s, err)
		}
		rep.durations = append(rep.durations, sectionTime{name: s, use: before.until(sampleCPU(0)), load: load})
	}
	rep.total = start.until(sampleCPU(0))
	rep.loadEnd[0], rep.loadEnd[1] = loadAvg()
	if err := rep.write(cfg.out); err != nil {
		return err
	}
	progress("report written to %s", cfg.out)
	if len(rep.errs) > 0 {
		return errors.New(strings.Join(rep.errs, "; "))
	}
	return nil
}

// sizes picks the problem sizes: the published ones, or small ones for -quick.
func (c *settings) sizes() {
	if c.quick {
		c.ceilingOrders = []int{3_000}
		c.ceilingAnswers = []time.Duration{0, 300 * time.Millisecond}
		c.ownCostOrders = 20_000
		c.memOrders = []int{10_000, 50_000}
		c.incrOrders = 10_000
		c.incrK = []int{1, 100, 1_000}
		c.peerOrders = 10_000
		c.schedTasks = 500
		c.readOrders = 50_000
		c.readRates = []int{100}
		c.readDuration = 5 * time.Second
		c.readConcurrent = 8
		c.recountOrders = 100_000
		c.remapOrders = 20_000
		c.feedOrders = 20_000
		c.hookOrders = 10_000
		c.trials = 3
		return
	}
	c.ceilingOrders = []int{20_000, 100_000}
	c.ceilingAnswers = []time.Duration{0, 300 * time.Millisecond, 800 * time.Millisecond}
	c.ownCostOrders = 200_000
	c.memOrders = []int{100_000, 1_000_000}
	c.incrOrders = 100_000
	c.incrK = []int{1, 100, 1_000}
	c.peerOrders = 50_000
	c.schedTasks = 10_000
	c.readOrders = 1_000_000
	c.readRates = []int{50, 100, 200}
	c.readDuration = 15 * time.Second
	c.readConcurrent = 16
	c.recountOrders = 1_000_000
	c.remapOrders = 1_000_000
	c.feedOrders = 200_000
	c.hookOrders = 100_000
	c.trials = 20
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness from inside the orderimport module (go run ./bench)")
	}
	return strings.TrimSuffix(mod, "/go.mod"), nil
}

// quiet waits for a quiet machine when -max-load asks for it.
func (c *settings) quiet(ctx context.Context) {
	if c.maxLoad > 0 {
		waitForQuiet(ctx, c.maxLoad)
	}
}

// waitForQuiet polls the load average until it drops below max (others' tests distort every
// number taken beside them).
func waitForQuiet(ctx context.Context, max float64) {
	for {
		one, _ := loadAvg()
		if one < max {
			return
		}
		progress("1-minute load is %.2f, waiting until it is below %.2f", one, max)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}
