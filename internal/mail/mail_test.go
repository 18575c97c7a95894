package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCA makes a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func testCA(t *testing.T) (tls.Certificate, *x509.CertPool) {
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
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// received is what the test SMTP server was sent.
type received struct {
	mu       sync.Mutex
	from     string
	to       []string
	data     string
	authUser string
	tls      bool
}

type backend struct {
	r        *received
	user     string
	password string
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	b.r.mu.Lock()
	b.r.tls = isTLS
	b.r.mu.Unlock()
	return &session{b: b}, nil
}

type session struct{ b *backend }

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.user || pass != s.b.password {
			return errors.New("invalid credentials")
		}
		s.b.r.mu.Lock()
		s.b.r.authUser = user
		s.b.r.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.b.r.mu.Lock()
	defer s.b.r.mu.Unlock()
	s.b.r.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.r.mu.Lock()
	defer s.b.r.mu.Unlock()
	s.b.r.to = append(s.b.r.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.r.mu.Lock()
	defer s.b.r.mu.Unlock()
	s.b.r.data = string(b)
	return err
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// startServer runs go-smtp on loopback: STARTTLS on a plain listener, or implicit TLS.
func startServer(t *testing.T, implicit bool, cert tls.Certificate) (addr string, r *received) {
	t.Helper()
	r = &received{}
	srv := smtp.NewServer(&backend{r: r, user: "mailer", password: "s3cret-p4ss"})
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), r
}

func TestSendOverSTARTTLSAndImplicitTLS(t *testing.T) {
	cert, pool := testCA(t)
	for _, implicit := range []bool{false, true} {
		scheme := "smtp"
		if implicit {
			scheme = "smtps"
		}
		t.Run(scheme, func(t *testing.T) {
			addr, got := startServer(t, implicit, cert)
			m, err := New(Config{URL: scheme + "://mailer:s3cret-p4ss@" + addr, From: "Импорт заказов <noreply@example.com>",
				TLS: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Send(context.Background(), Message{To: []string{"new@example.com"}, Subject: "Приглашение",
				Text: "Откройте ссылку: https://oi.example/invite/x", HTML: "<p>Откройте <a href=\"https://oi.example/invite/x\">ссылку</a></p>"})
			if err != nil {
				t.Fatal(err)
			}
			got.mu.Lock()
			defer got.mu.Unlock()
			if !got.tls || got.authUser != "mailer" || got.from != "noreply@example.com" || len(got.to) != 1 || got.to[0] != "new@example.com" {
				t.Fatalf("server saw tls=%v auth=%q from=%q to=%v", got.tls, got.authUser, got.from, got.to)
			}
			for _, want := range []string{"Subject:", "=?UTF-8?q?", "text/plain", "text/html", "multipart/alternative"} {
				if !strings.Contains(got.data, want) {
					t.Errorf("the message has no %q:\n%s", want, got.data)
				}
			}
		})
	}
}

// A server whose certificate is not trusted, a wrong password and a server that never answers
// each fail with words that say so, in bounded time, and never with the password.
func TestSendFailures(t *testing.T) {
	cert, pool := testCA(t)
	addr, _ := startServer(t, false, cert)

	untrusted, _ := New(Config{URL: "smtp://mailer:s3cret-p4ss@" + addr, From: "noreply@example.com", Timeout: 5 * time.Second})
	err := untrusted.Send(context.Background(), Message{To: []string{"a@example.com"}, Subject: "x", Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v", err)
	}

	wrong, _ := New(Config{URL: "smtp://mailer:wrong-pass-9@" + addr, From: "noreply@example.com", TLS: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second})
	err = wrong.Send(context.Background(), Message{To: []string{"a@example.com"}, Subject: "x", Text: "x"})
	if err == nil || strings.Contains(err.Error(), "wrong-pass-9") {
		t.Errorf("a wrong password: %v", err)
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	slow, _ := New(Config{URL: "smtp://" + silent.Addr().String(), From: "noreply@example.com", Timeout: 300 * time.Millisecond})
	start := time.Now()
	err = slow.Send(context.Background(), Message{To: []string{"a@example.com"}, Subject: "x", Text: "x"})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("a silent server: %v after %v", err, time.Since(start))
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		url, from, want string
	}{
		{"smtp://u:p@mail.example.com", "a@example.com", ""},
		{"smtps://mail.example.com:2465", "Shop <a@example.com>", ""},
		{"http://mail.example.com", "a@example.com", "smtp://"},
		{"smtp://:587", "a@example.com", "host"},
		{"smtp://u:hunter2@mail.example.com:99999", "a@example.com", "port"},
		{"smtp://mail.example.com/path?x=1", "a@example.com", "path"},
		{"smtp://mail.example.com", "not an address", "sender"},
	} {
		_, err := New(Config{URL: c.url, From: c.from})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error about %q", c.url, err, c.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: the error repeats the password: %v", c.url, err)
		}
	}
	m, _ := New(Config{URL: "smtps://mail.example.com", From: "a@example.com"})
	if m.port != 465 || !m.implicit {
		t.Errorf("smtps defaults: port %d implicit %v", m.port, m.implicit)
	}
	if m.from.Address != "a@example.com" {
		t.Errorf("from %q", m.from)
	}
}
