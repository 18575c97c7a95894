package netguard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"orderimport/internal/locale"
)

// ErrPrivateAddress is wrapped by the errors of connections the policy
// refused (a *locale.Error with the code address_private), so callers can
// tell the user that the address points to a private network rather than
// that the CRM is down.
var ErrPrivateAddress = errors.New("netguard: private or reserved address")

// RedirectError is returned when RetailCRM answers with a redirect, which the
// client never follows: a redirect could lead to a private address, and an
// account that moved should be entered by its new address. It comes wrapped
// in a *locale.Error carrying its Message, inside a *url.Error.
type RedirectError struct {
	StatusCode int
	// Location is the redirect target reduced to scheme and host: its path
	// and query could echo request details.
	Location string
}

// Message says what happened in words for the user: code address_redirect, with the
// location.
func (e *RedirectError) Message() locale.Message {
	return locale.M("address_redirect", "location", e.Location)
}

func (e *RedirectError) Error() string { return e.Message().String() }

// Timeouts of the client from NewHTTPClient.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	requestTimeout        = 60 * time.Second
)

// NewHTTPClient returns a client for calls to CRM addresses. Its dialer checks
// every address it is about to connect to, after DNS resolution, so a name
// that resolves (or rebinds) to a private address fails with an error
// wrapping ErrPrivateAddress, whatever CheckURL said about the name.
//
// It never follows redirects: Do returns a *url.Error wrapping a
// *RedirectError (in a *locale.Error) instead of the 3xx response. It ignores proxy settings from the
// environment (a proxy would connect on its behalf, past the check), speaks
// HTTP/2 where the server offers it, and times out: dial 10s, TLS handshake
// 10s, response header 30s, whole request 60s.
func (p Policy) NewHTTPClient() *http.Client {
	return p.newHTTPClient(p.Resolver)
}

// newHTTPClient lets tests resolve names through their own resolver.
func (p Policy) newHTTPClient(resolver *net.Resolver) *http.Client {
	dialer := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: 30 * time.Second,
		Resolver:  resolver,
		Control:   p.control,
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  responseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    32, // a run keeps up to 32 requests to one account in flight
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &http.Client{
		Transport: noRedirects{transport},
		Timeout:   requestTimeout,
		// Only reached if Transport is replaced: noRedirects already turns
		// every redirect into an error.
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			status := 0
			if req.Response != nil {
				status = req.Response.StatusCode
			}
			return redirectError(status, req.URL)
		},
	}
}

// noRedirects turns redirect responses into a *RedirectError inside the
// round trip. Refusing them in Client.CheckRedirect alone would work too, but
// the client then reports the error with the redirect target's full URL,
// which the server chose and which may echo the request's query.
type noRedirects struct{ *http.Transport }

func (t noRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		loc, err := resp.Location()
		if err != nil {
			// Without a usable Location the client would not follow either.
			return resp, nil
		}
		resp.Body.Close()
		return nil, redirectError(resp.StatusCode, loc)
	}
	return resp, nil
}

// control runs after the socket is created and before it connects, with the
// resolved address: the only point that sees where a connection really goes.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialer hands over an ip:port it resolved; anything else is refused too.
		return locale.Wrap(locale.M("address_unexpected"), fmt.Errorf("netguard: connect to %q: %w", address, err))
	}
	ip := ap.Addr()
	if p.AllowPrivate && reachableWhenPrivate(ip) || IsPublic(ip) {
		return nil
	}
	if p.Webhooks {
		return p.webhookIP(ip)
	}
	return locale.Wrap(locale.M("address_private", "ip", ip.WithZone("").String()), ErrPrivateAddress)
}

// redirectError is the error a redirect to loc becomes: a *RedirectError in a *locale.Error
// with its message.
func redirectError(status int, loc *url.URL) error {
	re := &RedirectError{StatusCode: status, Location: (&url.URL{Scheme: loc.Scheme, Host: loc.Host}).String()}
	return locale.Wrap(re.Message(), re)
}
