package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"orderimport/internal/crmemu"
)

// emulatorPage returns one 100-order page of a rich emulated account, as served.
func emulatorPage(tb testing.TB) []byte {
	tb.Helper()
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	emu := crmemu.New(crmemu.Options{Seed: 1, Orders: 20_000, Start: end.AddDate(0, 0, -180), End: end})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v5/orders?limit=100&page=37", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-API-KEY", crmemu.DemoKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("page: %v %s", err, resp.Status)
	}
	return body
}

func TestDecodeGenericAgreesWithEncodingJSON(t *testing.T) {
	body := emulatorPage(t)
	got, err := decodeGeneric(body)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeStd(body)
	if err != nil {
		t.Fatal(err)
	}
	orders := func(v any) []any { return v.(map[string]any)["orders"].([]any) }
	if len(orders(got)) != 100 || len(orders(want)) != 100 {
		t.Fatalf("orders: %d and %d", len(orders(got)), len(orders(want)))
	}
	for i := range 100 {
		g, w := orders(got)[i].(map[string]any), orders(want)[i].(map[string]any)
		if len(g) != len(w) || g["number"] != w["number"] || g["customerComment"] != w["customerComment"] {
			t.Fatalf("order %d differs: %v vs %v", i, g["number"], w["number"])
		}
	}
	for _, bad := range []string{`{"a":`, `[1,]`, `{"a" 1}`, `"\x01"`, `tru`, `-`, `{"a":1}x`} {
		if _, err := decodeGeneric([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}

// BenchmarkFloorDecode is the floor's decoding of one page (generic tree with decimals).
func BenchmarkFloorDecode(b *testing.B) {
	body := emulatorPage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeGeneric(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStdDecode is encoding/json into any on the same page, for reference.
func BenchmarkStdDecode(b *testing.B) {
	body := emulatorPage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStd(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport is one first run of 2,000 rich orders into a fresh SQLite database, the
// emulator in-process (the harness runs it in a child process; this is for profiling:
// go test -run '^$' -bench Import -cpuprofile cpu.out -memprofile mem.out ./bench).
func BenchmarkImport(b *testing.B) {
	const n = 2000
	end := time.Now().UTC().Truncate(24 * time.Hour)
	emu := crmemu.New(crmemu.Options{Seed: 1, Orders: n, Start: end.AddDate(0, 0, -180), End: end,
		Keys: map[string]crmemu.KeyConfig{emuKey: crmemu.FullAccess()}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	ctx := b.Context()
	b.ReportAllocs()
	var orders int64
	for b.Loop() {
		b.StopTimer()
		svc, err := newService(ctx, b.TempDir(), "", 0)
		if err != nil {
			b.Fatal(err)
		}
		task, err := svc.addTask(ctx, srv.URL, unpaced, false)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		run, err := svc.runOnce(ctx, task)
		if err != nil || run.Counts.Fetched < n {
			b.Fatal(run.Counts, err)
		}
		orders += run.Counts.Fetched
		b.StopTimer()
		svc.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(orders)/b.Elapsed().Seconds(), "orders/s")
}
