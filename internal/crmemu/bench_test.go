package crmemu

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchPage serves one request repeatedly against a million-order account;
// MB/s is the rate at which the emulator produces answer bytes.
func benchPage(b *testing.B, target string) {
	e := newTestEmu(b, Options{Seed: 1, Orders: 1_000_000})
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-API-KEY", DemoKey)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%s: %d", target, rec.Code)
	}
	b.SetBytes(int64(rec.Body.Len()))
	b.ReportAllocs()
	w := &discardWriter{h: http.Header{}}
	for b.Loop() {
		e.ServeHTTP(w, req)
	}
}

func BenchmarkOrdersPage(b *testing.B) {
	benchPage(b, "/api/v5/orders?limit=100&page=5000")
}

func BenchmarkHistoryPage(b *testing.B) {
	benchPage(b, "/api/v5/orders/history?limit=100&filter[sinceId]=500000")
}

func BenchmarkOrdersPageByIDs(b *testing.B) {
	q := "/api/v5/orders?limit=100"
	for i := 0; i < 100; i++ {
		q += "&filter[ids][]=" + jsonInt(400_000+i*37)
	}
	benchPage(b, q)
}
