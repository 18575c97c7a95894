package webhook_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/netguard"
	"orderimport/internal/webhook"
)

// The Standard Webhooks specification's own example: its secret, message id, timestamp and
// payload give this signature.
func TestSignMatchesTheSpecification(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	sig, err := webhook.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,bm9ldmVu v1a,whatever "+sig)
	if err := webhook.Verify(secret, h, body, ts.Add(time.Minute)); err != nil {
		t.Errorf("a valid signature among others: %v", err)
	}
	for name, mutate := range map[string]func(h http.Header, b []byte) []byte{
		"another body":      func(h http.Header, b []byte) []byte { return []byte(`{"test": 1}`) },
		"another id":        func(h http.Header, b []byte) []byte { h.Set("webhook-id", "msg_other"); return b },
		"another timestamp": func(h http.Header, b []byte) []byte { h.Set("webhook-timestamp", "1614265331"); return b },
		"no signature":      func(h http.Header, b []byte) []byte { h.Del("webhook-signature"); return b },
	} {
		hh := h.Clone()
		b := mutate(hh, body)
		if err := webhook.Verify(secret, hh, b, ts); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if err := webhook.Verify(secret, h, body, ts.Add(time.Hour)); err == nil {
		t.Error("a message an hour old verified")
	}
}

func TestSecretsAndIDs(t *testing.T) {
	a, _ := webhook.NewSecret()
	b, _ := webhook.NewSecret()
	if !strings.HasPrefix(a, "whsec_") || len(a) != len("whsec_")+44 || a == b {
		t.Errorf("secrets %q %q", a, b)
	}
	id, _ := webhook.NewMessageID()
	if !strings.HasPrefix(id, "msg_") || len(id) != 4+26 {
		t.Errorf("message id %q", id)
	}
}

func sender(timeout time.Duration) *webhook.Sender {
	s := webhook.NewSender(netguard.Policy{AllowPrivate: true})
	s.Timeout = timeout
	return s
}

// A receiver that is slow, redirects, answers a huge body or never answers costs a bounded
// time and memory, and each is a failed attempt that says why.
func TestSendIsBounded(t *testing.T) {
	secret, _ := webhook.NewSecret()
	msg := webhook.Message{ID: "msg_test", Body: []byte(`{"type":"webhook.test"}`)}
	ctx := context.Background()

	var written atomic.Int64
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for range 32 << 10 { // 1 GiB, if anyone read it
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	res := sender(2*time.Second).Send(ctx, huge.URL, secret, msg)
	if !res.OK || res.HTTPStatus != 200 {
		t.Errorf("a huge answer: %+v", res)
	}
	if written.Load() > 64<<20 {
		t.Errorf("the receiver got %d bytes out before the connection closed", written.Load())
	}

	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer redirect.Close()
	if res := sender(2*time.Second).Send(ctx, redirect.URL, secret, msg); res.OK || res.Error.Code != "webhook_redirect" {
		t.Errorf("a redirect: %+v", res)
	}

	stop := make(chan struct{})
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer never.Close()
	defer close(stop)
	start := time.Now()
	res = sender(300*time.Millisecond).Send(ctx, never.URL, secret, msg)
	if res.OK || res.Error.Code != "webhook_timeout" || time.Since(start) > 5*time.Second {
		t.Errorf("a receiver that never answers: %+v after %s", res, time.Since(start))
	}

	slowBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer slowBody.Close()
	start = time.Now()
	res = sender(300*time.Millisecond).Send(ctx, slowBody.URL, secret, msg)
	if res.OK || res.Error.Code != "webhook_timeout" || time.Since(start) > 5*time.Second {
		t.Errorf("an answer that never ends: %+v after %s", res, time.Since(start))
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	if res := sender(time.Second).Send(ctx, failing.URL, secret, msg); res.OK || res.HTTPStatus != 500 || res.Error.Code != "webhook_status" {
		t.Errorf("a 500: %+v", res)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if res := sender(time.Second).Send(ctx, "http://"+addr+"/x", secret, msg); res.OK || res.Error.Code != "webhook_connect_failed" {
		t.Errorf("nobody listening: %+v", res)
	}
}

// The message is signed as a receiver checks it, and carries the headers the specification names.
func TestSendSigns(t *testing.T) {
	secret, _ := webhook.NewSecret()
	var verr error
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Header.Clone()
		verr = webhook.Verify(secret, r.Header, b, time.Now())
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	res := sender(time.Second).Send(context.Background(), srv.URL, secret, webhook.Message{ID: "msg_1", Body: []byte(`{"a":1}`)})
	if !res.OK || verr != nil || got.Get("webhook-id") != "msg_1" || got.Get("Content-Type") != "application/json" {
		t.Errorf("result %+v, verification %v, headers %v", res, verr, got)
	}
}

// Unless private addresses are allowed, the sender refuses loopback when it connects, whatever
// the URL said.
func TestSendRefusesPrivateAddresses(t *testing.T) {
	secret, _ := webhook.NewSecret()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := webhook.NewSender(netguard.Policy{})
	res := s.Send(context.Background(), srv.URL, secret, webhook.Message{ID: "msg_1", Body: []byte(`{}`)})
	if res.OK || res.Error.Code != "webhook_address_private" {
		t.Errorf("loopback: %+v", res)
	}
}
