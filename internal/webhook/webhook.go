// Package webhook sends messages to the URLs users give the service — the changes of a
// counter's orders, alerts — the way the Standard Webhooks specification
// (standardwebhooks.com) says: a JSON body posted with the headers webhook-id, webhook-timestamp
// and webhook-signature, the signature being "v1," and the base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}" keyed with the secret's bytes (the base64 after "whsec_"). No
// maintained Go library of the specification is available here; the HMAC is a few lines, and
// Verify checks them the way a receiver does.
//
// A send is bounded: 10 seconds for everything (connecting, the answer, its body), at most
// 64 KiB of the answer read, no redirect followed, every address checked by the SSRF guard when
// it is connected to.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/locale"
	"orderimport/internal/netguard"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// NewSecret makes a signing secret: "whsec_" and the base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: make a secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// NewMessageID makes a message id (the webhook-id header): "msg_" and 128 random bits.
func NewMessageID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: make a message id: %w", err)
	}
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook: the secret is not whsec_ and base64")
	}
	return key, nil
}

// Sign is the webhook-signature header of a message: "v1," and the base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)), nil
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// Tolerance is how far a message's timestamp may be from the receiver's clock (the
// specification's default).
const Tolerance = 5 * time.Minute

// ErrBadSignature is what Verify returns for a message that does not carry a valid signature.
var ErrBadSignature = errors.New("webhook: no valid signature")

// Verify checks a message as a receiver does: the headers are present, the timestamp is within
// Tolerance of now, and one of the space-separated signatures is the v1 HMAC of the message.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if id == "" || err != nil || sigs == "" {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w: the timestamp is %s off", ErrBadSignature, d.Round(time.Second))
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// Limits of one send.
const (
	Timeout      = 10 * time.Second
	MaxReadBytes = 64 << 10
)

// Sender posts messages through a client behind the SSRF guard.
type Sender struct {
	Client  *http.Client
	Timeout time.Duration // 0: Timeout
	Now     func() time.Time
}

// NewSender makes a sender whose client applies the policy to every connection.
func NewSender(p netguard.Policy) *Sender {
	p.Webhooks = true
	return &Sender{Client: p.NewHTTPClient()}
}

// Message is one message to a receiver; every attempt sends the same id and body.
type Message struct {
	ID   string
	Body []byte
}

// Result is how one attempt went: OK for a 2xx answer; otherwise Error says why (the answer's
// status, a timeout, a connection that failed or was refused).
type Result struct {
	OK         bool
	HTTPStatus int
	Error      locale.Message
	Duration   time.Duration
	At         time.Time
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Send posts m to url, signed with secret, once. It never returns without a result: every way
// an attempt can fail is a Result with its Error.
func (s *Sender) Send(ctx context.Context, url, secret string, m Message) Result {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = Timeout
	}
	start := s.now()
	res := Result{At: start.UTC()}
	finish := func(r Result) Result {
		r.Duration = s.now().Sub(start)
		return r
	}
	sig, err := Sign(secret, m.ID, start, m.Body)
	if err != nil {
		res.Error = locale.M("webhook_secret_invalid")
		return finish(res)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Body))
	if err != nil {
		res.Error = locale.M("webhook_url_invalid")
		return finish(res)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "orderimport-webhooks")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(start.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.Client.Do(req)
	if err != nil {
		res.Error = failure(ctx, err, timeout)
		return finish(res)
	}
	// The answer is read up to a bound and dropped: a receiver's answer says nothing the
	// service keeps, and a huge or endless one must cost neither memory nor more than the
	// timeout.
	_, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxReadBytes))
	resp.Body.Close()
	res.HTTPStatus = resp.StatusCode
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		res.Error = locale.M("webhook_status", "status", resp.StatusCode)
	case rerr != nil && ctx.Err() != nil:
		res.Error = locale.M("webhook_timeout", "seconds", int(timeout.Seconds()))
	default:
		res.OK = true
	}
	return finish(res)
}

// failure says why a request got no answer.
func failure(ctx context.Context, err error, timeout time.Duration) locale.Message {
	var re *netguard.RedirectError
	switch {
	case errors.As(err, &re):
		return locale.M("webhook_redirect", "status", re.StatusCode, "location", re.Location)
	case errors.Is(err, netguard.ErrPrivateAddress):
		if m, ok := locale.MessageOf(err); ok {
			return m
		}
		return locale.M("webhook_address_private", "ip", "")
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return locale.M("webhook_timeout", "seconds", int(timeout.Seconds()))
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return locale.M("webhook_host_unknown", "host", dnsErr.Name)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return locale.M("webhook_connect_failed").WithDetail(opErr.Err.Error())
	}
	return locale.M("webhook_connect_failed").WithDetail(plain(err))
}

// plain is an error's last words without the request's URL (which may carry a receiver's
// token in its query).
func plain(err error) string {
	var ue interface{ Unwrap() error }
	for errors.As(err, &ue) {
		inner := ue.Unwrap()
		if inner == nil {
			break
		}
		err = inner
	}
	return err.Error()
}
