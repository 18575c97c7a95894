package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"orderimport/internal/store"
)

// peerResult is benchmark 5: the same backfill by orderimport and by a script on the official
// Go client (bench/peer, a module of its own), side by side in the same invocation.
type peerResult struct {
	Orders   int
	Blocked  string // why the peer could not be built, if it could not
	Ours     []time.Duration
	Peer     []time.Duration
	OursCPU  []time.Duration
	PeerCPU  []time.Duration
	Ratios   []float64 // peer wall ÷ ours wall
	Sample   *peerSample
	PeerPage int
}

// peerSample is one order as RetailCRM sent it, as orderimport stored it and as the peer did.
type peerSample struct {
	ID              int64
	RawTotal        string
	RawPurchase     string
	RawNetCost      string
	RawCustomFields string
	OursRevenue     string
	OursProfit      string
	PeerTotal       float64
	PeerPurchase    float64
	PeerProfit      float64
	PeerCustom      map[string]string
	Lost            []string // custom field codes the peer's map lacks
}

type peerOut struct {
	Orders int   `json:"orders"`
	Pages  int   `json:"pages"`
	WallNs int64 `json:"wall_ns"`
	Sample *struct {
		ID           int64             `json:"id"`
		TotalSumm    float64           `json:"total_summ"`
		PurchaseSumm float64           `json:"purchase_summ"`
		Profit       float64           `json:"profit"`
		CustomFields map[string]string `json:"custom_fields"`
	} `json:"sample"`
	Error string `json:"error"`
}

func runPeer(ctx context.Context, cfg *settings) (*peerResult, error) {
	n := cfg.peerOrders
	res := &peerResult{Orders: n}
	bin := filepath.Join(cfg.tmp, "peer")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = cfg.peerDir
	if out, err := build.CombinedOutput(); err != nil {
		res.Blocked = fmt.Sprintf("`go build` of %s failed (is github.com/retailcrm/api-client-go v1.3.0 obtainable?): %s", cfg.peerDir, strings.TrimSpace(string(out)))
		return res, nil
	}
	emu, err := startEmulator(emuOpts{orders: n})
	if err != nil {
		return nil, err
	}
	defer emu.Stop()
	sample, err := pickSample(ctx, emu)
	if err != nil {
		return nil, err
	}
	res.Sample = sample

	ours := func(last bool) (time.Duration, time.Duration, error) {
		dir, err := os.MkdirTemp(cfg.tmp, "peer-ours-")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(dir)
		svc, err := newService(ctx, dir, "", 0)
		if err != nil {
			return 0, 0, err
		}
		defer svc.Close()
		task, err := svc.addTask(ctx, emu.URL(), unpaced, false)
		if err != nil {
			return 0, 0, err
		}
		a := sampleCPU(0)
		run, err := svc.runOnce(ctx, task)
		b := sampleCPU(0)
		if err != nil {
			return 0, 0, err
		}
		if run.Counts.Fetched < int64(n) {
			return 0, 0, fmt.Errorf("peer side by side: orderimport fetched %d of %d", run.Counts.Fetched, n)
		}
		if last {
			err := svc.app.Store.TaskOrders(ctx, task.ID, true, func(o *store.OrderRow) error {
				if o.CRMID == sample.ID {
					sample.OursRevenue, sample.OursProfit = o.Revenue, o.Profit
				}
				return nil
			})
			if err != nil {
				return 0, 0, err
			}
		}
		u := a.until(b)
		return u.Wall, u.Self, nil
	}
	peer := func() (time.Duration, time.Duration, error) {
		dir, err := os.MkdirTemp(cfg.tmp, "peer-")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(dir)
		cmd := exec.CommandContext(ctx, bin, "-url", emu.URL(), "-key", emuKey, "-db", filepath.Join(dir, "peer.db"),
			"-sample", strconv.FormatInt(sample.ID, 10))
		cmd.Stderr = os.Stderr
		a := sampleCPU(0)
		out, err := cmd.Output()
		b := sampleCPU(0)
		var po peerOut
		if jerr := json.Unmarshal(out, &po); jerr != nil {
			return 0, 0, fmt.Errorf("peer: %v: %s", err, out)
		}
		if err != nil || po.Error != "" {
			return 0, 0, fmt.Errorf("peer: %v %s", err, po.Error)
		}
		if po.Orders < n {
			return 0, 0, fmt.Errorf("peer stored %d of %d orders", po.Orders, n)
		}
		res.PeerPage = po.Pages
		if s := po.Sample; s != nil {
			sample.PeerTotal, sample.PeerPurchase, sample.PeerProfit, sample.PeerCustom = s.TotalSumm, s.PurchaseSumm, s.Profit, s.CustomFields
		}
		return time.Duration(po.WallNs), b.children - a.children, nil
	}
	for i := 0; i < cfg.runs; i++ {
		var ow, pw, oc, pc time.Duration
		legs := []func() error{
			func() (err error) { ow, oc, err = ours(i == cfg.runs-1); return err },
			func() (err error) { pw, pc, err = peer(); return err },
		}
		if i%2 == 1 {
			legs[0], legs[1] = legs[1], legs[0]
		}
		for _, leg := range legs {
			if err := leg(); err != nil {
				return nil, err
			}
		}
		res.Ours, res.Peer = append(res.Ours, ow), append(res.Peer, pw)
		res.OursCPU, res.PeerCPU = append(res.OursCPU, oc), append(res.PeerCPU, pc)
		res.Ratios = append(res.Ratios, pw.Seconds()/ow.Seconds())
		progress("peer run %d: orderimport %v, api-client-go script %v (ratio %.2f)", i+1, ow.Round(time.Millisecond), pw.Round(time.Millisecond), pw.Seconds()/ow.Seconds())
	}
	for code, raw := range sample.rawCustom() {
		got, ok := sample.PeerCustom[code]
		var want string
		if json.Unmarshal(raw, &want) != nil {
			want = string(raw) // a number, boolean, list or object: its JSON text is the least to keep
		}
		if !ok || got != want {
			sample.Lost = append(sample.Lost, fmt.Sprintf("`%s` (%s → %q)", code, raw, got))
		}
	}
	return res, nil
}

func (s *peerSample) rawCustom() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(s.RawCustomFields), &m)
	return m
}

// pickSample finds, on the first page, an order whose money is not exact in float32 and that
// has a custom field that is not a string: what the official client's types lose.
func pickSample(ctx context.Context, emu *emuProc) (*peerSample, error) {
	c := newFloorClient()
	body, err := c.fetch(ctx, emu.URL(), "/api/v5/orders?limit=100&page=1")
	if err != nil {
		return nil, err
	}
	var page struct {
		Orders []map[string]json.RawMessage `json:"orders"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, err
	}
	for _, o := range page.Orders {
		var custom map[string]json.RawMessage
		if json.Unmarshal(o["customFields"], &custom) != nil {
			continue
		}
		nonString := false
		for _, v := range custom {
			if len(v) > 0 && v[0] != '"' {
				nonString = true
			}
		}
		total := string(o["totalSumm"])
		d, err := decimal.NewFromString(total)
		if !nonString || err != nil || float32Exact(d) {
			continue
		}
		var id int64
		if err := json.Unmarshal(o["id"], &id); err != nil {
			continue
		}
		s := &peerSample{ID: id, RawTotal: total, RawPurchase: string(o["purchaseSumm"]), RawCustomFields: string(o["customFields"])}
		var delivery struct {
			NetCost json.RawMessage `json:"netCost"`
		}
		if json.Unmarshal(o["delivery"], &delivery) == nil {
			s.RawNetCost = string(delivery.NetCost)
		}
		return s, nil
	}
	return nil, errors.New("peer: no order on the first page has inexact float32 money and a non-string custom field")
}

// float32Exact reports whether d survives float32 and back to float64 unchanged.
func float32Exact(d decimal.Decimal) bool {
	f, _ := d.Float64()
	return float64(float32(f)) == f && !math.IsInf(f, 0)
}
