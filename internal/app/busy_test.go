package app_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"orderimport/internal/app"
	"orderimport/internal/config"
	"orderimport/internal/pgtest"
	"orderimport/internal/store"
)

// A request that cannot get a database connection within the store's wait answers 503 with
// Retry-After and the code database_busy, never 500: here every connection of a process with
// ORDERIMPORT_DB_MAX_CONNS=3 is in use. (TestPostgresRestartMidImport sees the same answer
// while PostgreSQL restarts.)
func TestAPIDatabaseBusy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.Schema(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg := config.Config{
		DB:        store.Location{Engine: store.Postgres, URL: url, MaxConns: store.MinMaxConns, ConnWait: 300 * time.Millisecond},
		SecretKey: base64.StdEncoding.EncodeToString(key),
	}
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	u, _, err := a.Store.AddUser(ctx, "busy@example.com", "correct horse battery", "Shop", false)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := a.Store.CreateToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	spec := loadSpec(t)
	get := func() (int, string, string) {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/counters", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if err := spec.validate(req, nil, resp.StatusCode, resp.Header, body); err != nil {
			t.Errorf("the answer does not match docs/openapi.yaml: %v", err)
		}
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
	}
	if st, _, body := get(); st != 200 {
		t.Fatalf("with connections free: %d %s", st, body)
	}

	// The pool less River's LISTEN session: every connection requests could use.
	var held []*sql.Conn
	for range store.MinMaxConns - 1 {
		c, err := a.Store.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	st, retryAfter, body := get()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	if st != http.StatusServiceUnavailable || retryAfter == "" || e.Error.Code != "database_busy" {
		t.Errorf("with every connection in use: %d Retry-After %q %s; want 503 database_busy with Retry-After", st, retryAfter, body)
	}
	for _, c := range held {
		c.Close()
	}
	if st, _, body := get(); st != 200 {
		t.Fatalf("with connections free again: %d %s", st, body)
	}
}
