// Package mail sends email through the operator's SMTP server: a message with a subject, a
// plain-text body and, optionally, an HTML alternative. It is configured by one URL —
// smtp://user:pass@host:587 (STARTTLS, required) or smtps://user:pass@host:465 (implicit TLS) —
// and a sender address, and it never sends a password over an unencrypted connection. Every
// step of a delivery is bounded in time; errors say which step failed and never repeat the
// password.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout bounds each step of a delivery (connect, TLS, authenticate, each command,
// the data): a slow or silent server fails the message instead of holding its caller.
const DefaultTimeout = 30 * time.Second

// Config is where and as whom mail is sent.
type Config struct {
	// URL is smtp://[user[:pass]@]host[:port] (STARTTLS, port 587 by default) or
	// smtps://[user[:pass]@]host[:port] (implicit TLS, port 465 by default).
	URL string
	// From is the sender, an address with an optional name: "Order import <noreply@example.com>".
	From string
	// TLS replaces the TLS settings (tests trust their own certificate authority); nil verifies
	// the server's certificate against the system's roots for the URL's host.
	TLS *tls.Config
	// Timeout bounds each step; 0 is DefaultTimeout.
	Timeout time.Duration
}

// Message is one email.
type Message struct {
	To      []string
	Subject string
	Text    string // the plain-text body, always sent
	HTML    string // an HTML alternative of the same content; "" sends text only
}

// Mailer sends messages; it is safe for concurrent use (each Send is its own connection).
type Mailer struct {
	server
	from    *netmail.Address
	tls     *tls.Config
	timeout time.Duration
}

// server is an SMTP URL taken apart.
type server struct {
	host     string
	port     int
	implicit bool
	user     string
	pass     string
}

// parseURL checks an SMTP URL; its errors never repeat the URL (it may hold a password).
func parseURL(raw string) (server, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return server{}, errors.New("not a URL such as smtp://user:pass@host:587")
	}
	var s server
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return server{}, errors.New("the scheme must be smtp:// (STARTTLS) or smtps:// (implicit TLS)")
	}
	if u.Hostname() == "" {
		return server{}, errors.New("the server's host name is missing")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return server{}, errors.New("only scheme, user, password, host and port are taken: remove the path and query")
	}
	s.host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return server{}, errors.New("the port must be a number from 1 to 65535")
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

// New checks the configuration; nothing is connected until Send.
func New(cfg Config) (*Mailer, error) {
	s, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP URL: %w", err)
	}
	from, err := netmail.ParseAddress(strings.TrimSpace(cfg.From))
	if err != nil {
		return nil, fmt.Errorf("mail: sender address %q: %w", cfg.From, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tc := cfg.TLS
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	return &Mailer{server: s, from: from, tls: tc, timeout: timeout}, nil
}

// Send delivers one message: connect, TLS (implicit or STARTTLS, never without), authenticate
// when the URL has a user, send, quit. ctx bounds the whole delivery as well.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if len(msg.To) == 0 {
		return errors.New("mail: a message without recipients")
	}
	gm := gomail.NewMsg()
	gm.FromMailAddress(m.from)
	if err := gm.To(msg.To...); err != nil {
		return fmt.Errorf("mail: recipients: %w", err)
	}
	gm.Subject(msg.Subject)
	gm.SetDate()
	gm.SetMessageID()
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(m.timeout), gomail.WithTLSConfig(m.tls)}
	if m.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(m.user), gomail.WithPassword(m.pass))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: client for %s:%d: %w", m.host, m.port, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*m.timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, gm); err != nil {
		return fmt.Errorf("mail: send through %s:%d: %s", m.host, m.port, m.redact(err.Error()))
	}
	return nil
}

// redact takes the password out of a server's or library's words, should they echo it.
func (m *Mailer) redact(s string) string {
	if m.pass == "" {
		return s
	}
	return strings.ReplaceAll(s, m.pass, "[redacted]")
}
