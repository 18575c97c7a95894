package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"orderimport/internal/config"
	"orderimport/internal/crmemu"
	"orderimport/internal/servicetest"
	"orderimport/internal/store"
)

// smtpServer is a real SMTP server (emersion/go-smtp) on loopback, with STARTTLS under a
// certificate authority of the test's own: it keeps every message, and refuses them while
// told to.
type smtpServer struct {
	addr string
	pool *x509.CertPool

	mu       sync.Mutex
	msgs     []*mail.Message
	refusing bool
	refused  int
}

func newSMTPServer(t *testing.T) *smtpServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s := &smtpServer{pool: x509.NewCertPool()}
	s.pool.AddCert(cert)
	srv := smtp.NewServer(smtpBackend{s})
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

type smtpBackend struct{ s *smtpServer }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: b.s}, nil }

type smtpSession struct{ s *smtpServer }

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "alerts" || pass != "mail-p4ss" {
			return fmt.Errorf("invalid credentials")
		}
		return nil
	}), nil
}

func (ss *smtpSession) Mail(string, *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.refusing {
		ss.s.refused++
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

func (ss *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (ss *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.msgs = append(ss.s.msgs, m)
	return nil
}

func (ss *smtpSession) Reset()        {}
func (ss *smtpSession) Logout() error { return nil }

func (s *smtpServer) set(refusing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusing = refusing
}

// mail is the received messages' subjects and bodies.
type gotMail struct{ Subject, To, Body string }

func (s *smtpServer) received(t *testing.T) []gotMail {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gotMail
	dec := new(mime.WordDecoder)
	for _, m := range s.msgs {
		subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, gotMail{Subject: subj, To: m.Header.Get("To"), Body: decodeQP(string(body))})
	}
	return out
}

// waitMail waits until n messages arrived, and fails on more.
func (s *smtpServer) waitMail(t *testing.T, n int) []gotMail {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := s.received(t)
		if len(got) > n {
			t.Fatalf("%d emails, want %d: %+v", len(got), n, got)
		}
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails after two minutes, want %d: %+v", len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decodeQP undoes quoted-printable soft line breaks and escapes well enough to search the text.
func decodeQP(s string) string {
	r := strings.NewReader(s)
	b, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		return s
	}
	return string(b)
}

// Alerts by email through a real SMTP server: a test message; a task whose key is revoked
// needs attention — one email, however many runs fail after it, also while the mail server
// refuses for a while (the alert goes out later, the runs are not held up); once the task runs
// again, one more email says it is over. Russian by default, with a link to the task's page.
func TestAlertsByEmail(t *testing.T) {
	bothEngines(t, func(t *testing.T, engine store.Engine) {
		ms := newSMTPServer(t)
		// The alert is tried again within milliseconds, not River's seconds to minutes: how
		// long the refusals last on a loaded machine decides nothing.
		jc := jobsConfigForTests()
		jc.AlertRetryBase = 10 * time.Millisecond // 10 ms, 160 ms, 0.8 s, 2.6 s, 6 s, 13 s, 24 s…
		f := newFlowEnv(t, engine, crmemu.Options{Seed: 4, Orders: 30}, jc, func(o *servicetest.Options) {
			o.Configure = func(cfg *config.Config, _ string) {
				cfg.SMTP = config.SMTP{URL: "smtp://alerts:mail-p4ss@" + ms.addr, From: "Импорт заказов <noreply@example.com>"}
			}
			o.MailTLS = &tls.Config{RootCAs: ms.pool}
		})
		var ch struct {
			ID       int64
			Language string
		}
		if st := f.do("POST", "/api/v1/alerts/channels", map[string]any{"type": "email", "address": "Ops@Example.com"}, &ch); st != 201 || ch.Language != "ru" {
			t.Fatalf("email channel: %d %+v", st, ch)
		}
		var test struct {
			OK    bool
			Error string
		}
		if st := f.do("POST", fmt.Sprintf("/api/v1/alerts/channels/%d/test", ch.ID), nil, &test); st != 200 || !test.OK {
			t.Fatalf("test alert: %d %+v", st, test)
		}
		got := ms.waitMail(t, 1)
		if got[0].Subject != "Проверка оповещений" || got[0].To != "<ops@example.com>" {
			t.Errorf("test email: %+v", got[0])
		}

		f.addTask()
		f.waitIdle()
		// The key is revoked in RetailCRM; the mail server refuses for now.
		ms.set(true)
		f.emu.RemoveKey(crmemu.DemoKey)
		for range 12 {
			var r runOut
			if st := f.do("POST", fmt.Sprintf("/api/v1/imports/%d/runs", f.task), nil, &r); st != 202 {
				t.Fatalf("run now: %d", st)
			}
			if r = f.waitRun(r.ID); r.Status != store.RunFailed {
				t.Fatalf("a run with the key revoked: %+v", r)
			}
		}
		ms.mu.Lock()
		refused := ms.refused
		ms.mu.Unlock()
		if refused == 0 {
			t.Error("the alert was never tried while the mail server refused")
		}
		ms.set(false)
		got = ms.waitMail(t, 2)
		start := got[1]
		if !strings.HasPrefix(start.Subject, "Проблема: Задача «Заказы» требует внимания") ||
			!strings.Contains(start.Body, fmt.Sprintf("%s/imports/%d", f.base, f.task)) || !strings.Contains(start.Body, "Началось:") {
			t.Errorf("incident email: %+v", start)
		}

		// Fixed: the key works again, the user edits the task and runs it.
		f.emu.SetKey(crmemu.DemoKey, crmemu.FullAccess())
		if st := f.do("PATCH", fmt.Sprintf("/api/v1/imports/%d", f.task), map[string]any{"name": "Заказы"}, nil); st != 200 {
			t.Fatalf("edit: %d", st)
		}
		f.runNow()
		got = ms.waitMail(t, 3)
		if !strings.HasPrefix(got[2].Subject, "Решено: Задача «Заказы» требует внимания") || !strings.Contains(got[2].Body, "Закончилось:") {
			t.Errorf("the end email: %+v", got[2])
		}
		var incs struct {
			Incidents []struct {
				Kind    string
				EndedAt *time.Time `json:"ended_at"`
			}
		}
		if st := f.do("GET", "/api/v1/alerts/incidents", nil, &incs); st != 200 || len(incs.Incidents) != 1 ||
			incs.Incidents[0].Kind != "task_needs_attention" || incs.Incidents[0].EndedAt == nil {
			t.Errorf("incidents: %d %+v", st, incs)
		}
		// Nothing else comes.
		f.runNow()
		if n := len(ms.received(t)); n != 3 {
			t.Errorf("%d emails in the end, want 3", n)
		}
	})
}
