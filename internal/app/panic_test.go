package app

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"orderimport/internal/secret"
	"orderimport/internal/web"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// A handler that panics with a CRM key in the panic value (a bug that must never happen):
// the client gets a 500 that says nothing about it, the log line goes through the redacting
// logger, and the alarm counts it.
func TestPanicIsAnsweredAndLoggedWithoutTheKey(t *testing.T) {
	t.Parallel()
	const crmKey = "PanicKey0123456789abcdefABCDEF01"
	k, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr := secret.NewKeyring(k)
	kr.Remember(crmKey)
	var logs lockedBuffer
	a := &App{}
	a.Log = slog.New(secret.NewAlarmedRedactingHandler(slog.NewTextHandler(&logs, nil), kr.Recent, func() { a.redactions.Add(1) }))
	if a.Web, err = web.New(nil, nil, nil, a.Log); err != nil {
		t.Fatal(err)
	}
	h := securityHeaders(a.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("cannot use key " + crmKey)
	})))
	// The UI answers with its error page, the API with its error envelope.
	for path, want := range map[string]string{"/api/v1/boom": `"code":"internal"`, "/boom": "Что-то пошло не так"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "cannot use") || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("%s: answer %d %q: want a 500 that says nothing about the panic", path, w.Code, w.Body)
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: the 500 lacks the security headers", path)
		}
	}
	out := logs.b.String()
	if !strings.Contains(out, "panic serving a request") || !strings.Contains(out, "path=/boom") {
		t.Fatalf("the panic was not logged: %s", out)
	}
	if strings.Contains(out, crmKey) {
		t.Fatalf("the key reached the log: %s", out)
	}
	if a.SecretsRedactedFromLogs() != 2 {
		t.Errorf("alarm counted %d redactions, want 2 (one per panic)", a.SecretsRedactedFromLogs())
	}
}
