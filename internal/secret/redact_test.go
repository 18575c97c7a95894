package secret

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestHint(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "…"},
		{"abcdefg", "…"},
		{"abcdefgh", "…efgh"},
		{"X2EDxRxKvYS3gUlRvFXEUqXKsnPI1hAK", "…1hAK"},
		{"ключ-доступа-1234", "…1234"},
		{"ключдост", "…дост"},
	}
	for _, tt := range tests {
		if got := Hint(tt.in); got != tt.want {
			t.Errorf("Hint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       string
		secrets []string
		want    string
	}{
		{"none", "nothing here", []string{"key1"}, "nothing here"},
		{"no secrets", "key1", nil, "key1"},
		{"empty secret ignored", "abc", []string{""}, "abc"},
		{"every occurrence", "key1 and key1", []string{"key1"}, "[redacted] and [redacted]"},
		{"several secrets", "a=key1 b=key2", []string{"key1", "key2"}, "a=[redacted] b=[redacted]"},
		{"overlapping secrets", "xxabcdefghxx", []string{"abcdef", "defgh"}, "xx[redacted]xx"},
		{"overlapping occurrences", "aaaa", []string{"aaa"}, "[redacted]"},
		{"adjacent", "key1key1", []string{"key1"}, "[redacted]"},
		{"secret inside the marker", "token", []string{"redacted", "token"}, "[redacted]"},
		{"query-escaped form", `Get "https://x/api?apiKey=a%2Bb%2Fc%3D": EOF`, []string{"a+b/c="}, `Get "https://x/api?apiKey=[redacted]": EOF`},
		{"utf-8", "ключ=секрет.", []string{"секрет"}, "ключ=[redacted]."},
	}
	for _, tt := range tests {
		if got := Redact(tt.s, tt.secrets...); got != tt.want {
			t.Errorf("%s: Redact(%q, %q) = %q, want %q", tt.name, tt.s, tt.secrets, got, tt.want)
		}
	}
}

const apiKey = "X2EDxRxKvYS3gUlRvFXEUqXKsnPI1hAK"

type keyValuer struct{}

func (keyValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("api_key", apiKey), slog.Int("n", 1))
}

type credentials struct {
	URL    string
	APIKey string
}

func TestRedactingHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	secrets := []string{"other-secret"}
	current := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return secrets
	}
	logger := slog.New(NewRedactingHandler(slog.NewJSONHandler(&buf, nil), current))

	// With is called before the key is known: it must still be redacted
	// when the record is written.
	scoped := logger.With("task_key", apiKey).WithGroup("run").With("note", "key is "+apiKey)
	mu.Lock()
	secrets = []string{"other-secret", apiKey}
	mu.Unlock()

	wrapped := fmt.Errorf("retailcrm: check credentials: %w", errors.New("403 for key "+apiKey))
	scoped.Info("checking "+apiKey,
		"plain", apiKey,
		"err", wrapped,
		slog.Group("crm", slog.String("url", "https://shop.retailcrm.ru"), slog.Group("auth", slog.String("header", "X-API-KEY: "+apiKey))),
		"valuer", keyValuer{},
		"struct", credentials{URL: "https://shop.retailcrm.ru", APIKey: apiKey},
		"bytes", []byte(apiKey),
		apiKey, "as a key",
		"count", 3,
		"clean_err", errors.New("timeout"),
	)
	out := buf.String()
	if strings.Contains(out, apiKey) {
		t.Fatalf("key in log line: %s", out)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "checking [redacted]" || rec["task_key"] != "[redacted]" {
		t.Errorf("message or With attr not redacted: %s", out)
	}
	run, _ := rec["run"].(map[string]any)
	if run == nil {
		t.Fatalf("group lost: %s", out)
	}
	want := map[string]any{
		"note":       "key is [redacted]",
		"plain":      "[redacted]",
		"err":        "retailcrm: check credentials: 403 for key [redacted]",
		"crm":        map[string]any{"url": "https://shop.retailcrm.ru", "auth": map[string]any{"header": "X-API-KEY: [redacted]"}},
		"valuer":     map[string]any{"api_key": "[redacted]", "n": float64(1)},
		"struct":     "{URL:https://shop.retailcrm.ru APIKey:[redacted]}",
		"bytes":      "[redacted]",
		"[redacted]": "as a key",
		"count":      float64(3),
		"clean_err":  "timeout",
	}
	for k, w := range want {
		if got := run[k]; fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("run.%s = %v, want %v", k, got, w)
		}
	}
}

// recordingHandler keeps records and With calls, to check what reaches the
// wrapped handler untouched.
type recordingHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
	withs   *int
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r)
	return nil
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.withs++
	return h
}
func (h recordingHandler) WithGroup(string) slog.Handler { return h }

func TestRedactingHandlerLeavesCleanValuesAlone(t *testing.T) {
	t.Parallel()
	var records []slog.Record
	withs := 0
	inner := recordingHandler{mu: new(sync.Mutex), records: &records, withs: &withs}
	errTimeout := errors.New("timeout")
	logger := slog.New(NewRedactingHandler(inner, func() []string { return []string{apiKey} })).With("task", 1)
	logger.Info("one", "err", errTimeout)
	logger.Info("two")

	if len(records) != 2 {
		t.Fatalf("%d records", len(records))
	}
	records[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && a.Value.Any() != errTimeout {
			t.Errorf("clean error replaced by %#v: handlers further down lose its type", a.Value.Any())
		}
		return true
	})
	if withs != 1 {
		t.Errorf("With replayed %d times for one set of secrets, want once", withs)
	}
}

func TestRedactingHandlerWithoutSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	slog.New(NewRedactingHandler(slog.NewTextHandler(&buf, nil), nil)).Info("hello", "k", "v")
	if !strings.Contains(buf.String(), "msg=hello k=v") {
		t.Errorf("nil secrets func: %q", buf.String())
	}
	buf.Reset()
	h := NewRedactingHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}), nil)
	if h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled does not follow the wrapped handler")
	}
}
