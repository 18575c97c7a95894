package netguard

import (
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/netguard/netguardtest"
)

// countingServer is a loopback test server that counts the connections it
// accepts, to show that a refused request never reached it.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })

func get(t *testing.T, c *http.Client, u string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, okHandler)

	_, err := get(t, Policy{}.NewHTTPClient(), srv.URL)
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("request to %s: %v; want ErrPrivateAddress", srv.URL, err)
	}
	if msg, ok := locale.MessageOf(err); !ok || msg.Code != "address_private" || msg.Arg("ip") != "127.0.0.1" {
		t.Errorf("error does not say what was refused: %v (message %+v)", err, msg)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("server saw %d connections, want none", n)
	}

	body, err := get(t, Policy{AllowPrivate: true}.NewHTTPClient(), srv.URL)
	if err != nil || body != "ok" {
		t.Fatalf("with AllowPrivate: %q, %v", body, err)
	}
}

// localhost resolves through /etc/hosts, as a wildcard DNS name such as
// 127.0.0.1.nip.io resolves through DNS: only the connect-time check sees it.
func TestClientRefusesNameResolvingToLoopback(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, okHandler)
	u := "http://localhost:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	_, err := get(t, Policy{}.NewHTTPClient(), u)
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("request to %s: %v; want ErrPrivateAddress", u, err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("server saw %d connections, want none", n)
	}
}

func TestClientChecksResolvedAddresses(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, okHandler)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	dns := fakeDNS{
		"127.0.0.1.nip.io":        {netip.MustParseAddr("127.0.0.1")},
		"metadata.example.com":    {netip.MustParseAddr("169.254.169.254")},
		"intranet.example.com":    {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
		"mapped.example.com":      {netip.MustParseAddr("::ffff:127.0.0.1")},
		"nat64.example.com":       {netip.MustParseAddr("64:ff9b::a9fe:a9fe")},
		"v6loopback.example.com":  {netip.MustParseAddr("::1")},
		"unspecified.example.com": {netip.MustParseAddr("0.0.0.0")},
	}
	refused := Policy{}.newHTTPClient(dns.Resolver())
	for name := range dns {
		_, err := get(t, refused, "http://"+name+":"+port)
		if !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("%s: %v; want ErrPrivateAddress", name, err)
		}
	}

	allowed := Policy{AllowPrivate: true}.newHTTPClient(dns.Resolver())
	body, err := get(t, allowed, "http://127.0.0.1.nip.io:"+port)
	if err != nil || body != "ok" {
		t.Fatalf("with AllowPrivate, a name resolving to the server: %q, %v", body, err)
	}
	// Metadata and unspecified addresses stay refused even then.
	for _, name := range []string{"metadata.example.com", "nat64.example.com", "unspecified.example.com"} {
		if _, err := get(t, allowed, "http://"+name+":"+port); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("with AllowPrivate, %s: %v; want ErrPrivateAddress", name, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want only the allowed one", n)
	}
}

// The check runs on the address of each connection, not on an earlier
// lookup, so a name that rebinds between lookups is caught too.
func TestControlChecksEveryConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		address      string
		strict, open bool // allowed under Policy{} and Policy{AllowPrivate: true}
	}{
		{"8.8.8.8:443", true, true},
		{"[2a00:1450:4010:c05::64]:443", true, true},
		{"127.0.0.1:443", false, true},
		{"10.0.0.1:443", false, true},
		{"[::1]:443", false, true},
		{"[fd00::1]:443", false, true},
		{"169.254.169.254:80", false, false},
		{"[fe80::1%eth0]:443", false, false},
		{"[::ffff:169.254.169.254]:80", false, false},
		{"0.0.0.0:443", false, false},
		{"[::]:443", false, false},
		{"[::%eth0]:443", false, false}, // the zone must not hide the unspecified address
		{"[::ffff:0.0.0.0%1]:443", false, false},
		{"224.0.0.1:443", false, false},
		{"255.255.255.255:443", false, false},
		{"localhost:443", false, false}, // not an address: never expected here
	}
	for _, tt := range tests {
		if err := (Policy{}).control("tcp", tt.address, nil); (err == nil) != tt.strict {
			t.Errorf("Policy{}: %s: %v", tt.address, err)
		}
		if err := (Policy{AllowPrivate: true}).control("tcp", tt.address, nil); (err == nil) != tt.open {
			t.Errorf("AllowPrivate: %s: %v", tt.address, err)
		}
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target, targetConns := countingServer(t, okHandler)
	for _, status := range []int{301, 302, 303, 307, 308} {
		redirector, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/api/v5/orders?apiKey=leaked", status)
		}))
		_, err := get(t, Policy{AllowPrivate: true}.NewHTTPClient(), redirector.URL+"/api/v5/orders")
		var redirect *RedirectError
		if !errors.As(err, &redirect) {
			t.Fatalf("%d: %v; want a *RedirectError", status, err)
		}
		if redirect.StatusCode != status || redirect.Location != target.URL {
			t.Errorf("%d: RedirectError = %+v; want location %s", status, redirect, target.URL)
		}
		if msg, ok := locale.MessageOf(err); !ok || msg.Code != "address_redirect" || msg.Arg("location") != target.URL || redirect.Message().Code != msg.Code {
			t.Errorf("%d: message %+v, want address_redirect to %s", status, msg, target.URL)
		}
		if !strings.Contains(redirect.Error(), target.URL) {
			t.Errorf("%d: %q does not name the target", status, redirect.Error())
		}
		if strings.Contains(err.Error(), "leaked") {
			t.Errorf("%d: error repeats the redirect's query: %v", status, err)
		}
	}
	if n := targetConns.Load(); n != 0 {
		t.Errorf("redirect target saw %d connections, want none", n)
	}
}

// A 3xx that is not a redirect the client would follow reaches the caller
// as a response.
func TestClientPassesOtherThreeHundreds(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusMultipleChoices) // no Location
	}))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Policy{AllowPrivate: true}.NewHTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultipleChoices {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// CheckRedirect still refuses when a test or a wrapper replaces Transport.
func TestClientRefusesRedirectsWithReplacedTransport(t *testing.T) {
	t.Parallel()
	target, targetConns := countingServer(t, okHandler)
	redirector, _ := countingServer(t, http.RedirectHandler(target.URL, http.StatusFound))
	c := Policy{AllowPrivate: true}.NewHTTPClient()
	c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	var redirect *RedirectError
	if _, err := get(t, c, redirector.URL); !errors.As(err, &redirect) || redirect.Location != target.URL {
		t.Errorf("%v; want a *RedirectError to %s", err, target.URL)
	}
	if n := targetConns.Load(); n != 0 {
		t.Errorf("redirect target saw %d connections, want none", n)
	}
}

func TestClientSettings(t *testing.T) {
	t.Parallel()
	c := Policy{}.NewHTTPClient()
	tr := c.Transport.(noRedirects).Transport
	if tr.Proxy != nil {
		t.Error("proxy from the environment is used: a proxy would connect past the dial check")
	}
	if c.Timeout != 60*time.Second || tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 30*time.Second {
		t.Errorf("timeouts: overall %v, TLS %v, response header %v", c.Timeout, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
	if !tr.ForceAttemptHTTP2 {
		t.Error("HTTP/2 not attempted: a custom TLS config turns it off unless forced")
	}
}

func TestClientSpeaksHTTP2OverTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c := Policy{AllowPrivate: true}.NewHTTPClient()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c.Transport.(noRedirects).TLSClientConfig.RootCAs = roots

	proto, err := get(t, c, srv.URL)
	if err != nil || proto != "HTTP/2.0" {
		t.Errorf("got %q, %v; want HTTP/2.0", proto, err)
	}
	if _, err := get(t, Policy{}.NewHTTPClient(), srv.URL); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("TLS to loopback without AllowPrivate: %v", err)
	}
}

// fakeDNS makes names resolve anywhere without a network.
type fakeDNS = netguardtest.DNS
