// Package config builds the one Config of a command from its flags and the environment,
// flags winning, and validates it before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"orderimport/internal/clientip"
	"orderimport/internal/mail"
	"orderimport/internal/secret"
	"orderimport/internal/store"
)

// Environment variables the commands read (README.md lists them).
const (
	EnvDB           = "ORDERIMPORT_DB"
	EnvAddr         = "ORDERIMPORT_ADDR"
	EnvSecretKey    = "ORDERIMPORT_SECRET_KEY"
	EnvSecretKeyOld = "ORDERIMPORT_SECRET_KEY_OLD"
	EnvAllowPrivate = "ORDERIMPORT_ALLOW_PRIVATE_CRM"
	EnvLogLevel     = "ORDERIMPORT_LOG_LEVEL"
	EnvWorkers      = "ORDERIMPORT_WORKERS"
	EnvRescueAfter  = "ORDERIMPORT_RESCUE_AFTER"
	EnvMetricsAddr  = "ORDERIMPORT_METRICS_ADDR"
	EnvDBMaxConns   = "ORDERIMPORT_DB_MAX_CONNS"

	EnvTrustedProxies       = "ORDERIMPORT_TRUSTED_PROXIES"
	EnvSMTPURL              = "ORDERIMPORT_SMTP_URL"
	EnvSMTPFrom             = "ORDERIMPORT_SMTP_FROM"
	EnvOIDCIssuer           = "ORDERIMPORT_OIDC_ISSUER"
	EnvOIDCClientID         = "ORDERIMPORT_OIDC_CLIENT_ID"
	EnvOIDCClientSecret     = "ORDERIMPORT_OIDC_CLIENT_SECRET"
	EnvOIDCRedirectURL      = "ORDERIMPORT_OIDC_REDIRECT_URL"
	EnvOIDCName             = "ORDERIMPORT_OIDC_NAME"
	EnvAllowPrivateWebhooks = "ORDERIMPORT_ALLOW_PRIVATE_WEBHOOKS"
	EnvPublicURL            = "ORDERIMPORT_PUBLIC_URL"
)

// Defaults when neither a flag nor the environment says otherwise.
const (
	DefaultDB          = "sqlite:./orderimport.db"
	DefaultAddr        = "127.0.0.1:8080"
	DefaultRescueAfter = 2 * time.Minute
)

// RescueAfter bounds: below the minimum a slice is too short to do useful work between its
// fixed costs (the preflight requests); above the maximum a dead worker's runs wait too long.
const (
	MinRescueAfter = 10 * time.Second
	MaxRescueAfter = time.Hour
)

// Config is everything a command needs to know.
type Config struct {
	DB        store.Location
	Addr      string
	SecretKey string // base64, from the environment; "" → key file beside the SQLite database
	// OldSecretKeys (ORDERIMPORT_SECRET_KEY_OLD, comma-separated base64) open stored values
	// but never seal new ones: the keys a rotation replaced, or the next key before it
	// becomes the primary one.
	OldSecretKeys []string
	AllowPrivate  bool
	LogLevel      string
	Workers       int
	// RescueAfter is how long a run left by a worker that died waits before another worker
	// takes it over and resumes it from its checkpoint.
	RescueAfter time.Duration
	// Proxies are the reverse proxies whose X-Forwarded-For names the client.
	Proxies clientip.Proxies
	SMTP    SMTP
	OIDC    OIDC
	// AllowPrivateWebhooks lets webhook and alert URLs be http:// and point at loopback and
	// private networks (tests).
	AllowPrivateWebhooks bool
	// PublicURL is the service's address for the links it hands out (trigger URLs, alerts);
	// "" takes the address each request reached the service at.
	PublicURL string
}

// SMTP is where email goes (invitations, alerts); an empty URL sends none.
type SMTP struct {
	URL  string
	From string
}

// OIDC is the single sign-on registration; an empty Issuer turns it off.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Name         string
}

// UsageError is a mistake in how the command was called (exit code 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Flags registers the common flags on fs and returns a function that resolves them against
// the environment and validates the result.
func Flags(fs *flag.FlagSet, withAddr bool) func() (Config, error) {
	db := fs.String("db", "", "database: sqlite:PATH, a file path or postgres://… (env "+EnvDB+", default "+DefaultDB+")")
	var addr *string
	if withAddr {
		addr = fs.String("addr", "", "listen address (env "+EnvAddr+", default "+DefaultAddr+")")
	}
	workers := fs.Int("workers", -1, "import runs executed at once by this process (env "+EnvWorkers+", default 4)")
	rescue := fs.Duration("rescue-after", 0, "how long a run of a worker that died waits before another worker resumes it (env "+EnvRescueAfter+", default 2m)")
	return func() (Config, error) {
		c := Config{
			SecretKey: strings.TrimSpace(os.Getenv(EnvSecretKey)),
			LogLevel:  strings.ToLower(strings.TrimSpace(os.Getenv(EnvLogLevel))),
		}
		dbText := first(*db, os.Getenv(EnvDB), DefaultDB)
		loc, err := store.ParseLocation(dbText)
		if err != nil {
			return c, &UsageError{Msg: "-db / " + EnvDB + ": " + err.Error()}
		}
		if v := strings.TrimSpace(os.Getenv(EnvDBMaxConns)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < store.MinMaxConns || n > store.MaxMaxConns {
				return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not a number of connections from %d to %d", EnvDBMaxConns, v, store.MinMaxConns, store.MaxMaxConns)}
			}
			loc.MaxConns = n
		}
		c.DB = loc
		if addr != nil {
			c.Addr = first(*addr, os.Getenv(EnvAddr), DefaultAddr)
			if _, _, err := net.SplitHostPort(c.Addr); err != nil {
				return c, &UsageError{Msg: fmt.Sprintf("-addr / %s: %q is not host:port (%v)", EnvAddr, c.Addr, err)}
			}
		}
		if v := strings.TrimSpace(os.Getenv(EnvAllowPrivate)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not true or false", EnvAllowPrivate, v)}
			}
			c.AllowPrivate = b
		}
		if v := strings.TrimSpace(os.Getenv(EnvAllowPrivateWebhooks)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not true or false", EnvAllowPrivateWebhooks, v)}
			}
			c.AllowPrivateWebhooks = b
		}
		if v := strings.TrimSpace(os.Getenv(EnvPublicURL)); v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not the service's address, such as https://orders.example.com", EnvPublicURL, v)}
			}
			c.PublicURL = strings.TrimSuffix(v, "/")
		}
		c.Workers = 4
		if v := strings.TrimSpace(os.Getenv(EnvWorkers)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 256 {
				return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not a number of workers from 0 to 256", EnvWorkers, v)}
			}
			c.Workers = n
		}
		if *workers >= 0 {
			if *workers > 256 {
				return c, &UsageError{Msg: "-workers: at most 256"}
			}
			c.Workers = *workers
		}
		c.RescueAfter = DefaultRescueAfter
		if v := strings.TrimSpace(os.Getenv(EnvRescueAfter)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not a duration such as 2m or 90s", EnvRescueAfter, v)}
			}
			c.RescueAfter = d
		}
		if *rescue != 0 {
			c.RescueAfter = *rescue
		}
		if c.RescueAfter < MinRescueAfter || c.RescueAfter > MaxRescueAfter {
			return c, &UsageError{Msg: fmt.Sprintf("-rescue-after / %s: %s is outside %s to %s", EnvRescueAfter, c.RescueAfter, MinRescueAfter, MaxRescueAfter)}
		}
		switch c.LogLevel {
		case "", "debug", "info", "warn", "error":
		default:
			return c, &UsageError{Msg: fmt.Sprintf("%s: %q is not debug, info, warn or error", EnvLogLevel, c.LogLevel)}
		}
		if c.Proxies, err = clientip.Parse(os.Getenv(EnvTrustedProxies)); err != nil {
			return c, &UsageError{Msg: EnvTrustedProxies + ": " + err.Error()}
		}
		if c.SMTP, err = smtpFromEnv(); err != nil {
			return c, err
		}
		if c.OIDC, err = oidcFromEnv(); err != nil {
			return c, err
		}
		if v := strings.TrimSpace(os.Getenv(EnvSecretKeyOld)); v != "" {
			for i, k := range strings.Split(v, ",") {
				if strings.TrimSpace(k) == "" {
					continue
				}
				if _, err := secret.ParseKey(k); err != nil {
					// ParseKey names ORDERIMPORT_SECRET_KEY; say which variable and which entry.
					msg := strings.TrimPrefix(err.Error(), EnvSecretKey+": ")
					return c, &UsageError{Msg: fmt.Sprintf("%s: key %d: %s", EnvSecretKeyOld, i+1, msg)}
				}
				c.OldSecretKeys = append(c.OldSecretKeys, strings.TrimSpace(k))
			}
		}
		if c.SecretKey != "" {
			if _, err := secret.ParseKey(c.SecretKey); err != nil {
				return c, &UsageError{Msg: err.Error()}
			}
		} else if c.DB.Engine == store.Postgres {
			return c, &UsageError{Msg: EnvSecretKey + " is required with PostgreSQL (base64 of 32 random bytes, e.g. `openssl rand -base64 32`); every process must use the same key"}
		}
		return c, nil
	}
}

// smtpFromEnv reads the mail settings: both or neither, checked without connecting.
func smtpFromEnv() (SMTP, error) {
	s := SMTP{URL: strings.TrimSpace(os.Getenv(EnvSMTPURL)), From: strings.TrimSpace(os.Getenv(EnvSMTPFrom))}
	switch {
	case s.URL == "" && s.From == "":
		return s, nil
	case s.URL == "" || s.From == "":
		return s, &UsageError{Msg: EnvSMTPURL + " and " + EnvSMTPFrom + " go together: set both to send email, or neither"}
	}
	if _, err := mail.New(mail.Config{URL: s.URL, From: s.From}); err != nil {
		return s, &UsageError{Msg: strings.TrimPrefix(err.Error(), "mail: ")}
	}
	return s, nil
}

// oidcFromEnv reads the single sign-on settings: the issuer, the client id and the redirect URL
// together (the secret may be empty for a public client), URLs absolute, the redirect URL ending
// in /auth/oidc/callback.
func oidcFromEnv() (OIDC, error) {
	o := OIDC{Issuer: strings.TrimSpace(os.Getenv(EnvOIDCIssuer)), ClientID: strings.TrimSpace(os.Getenv(EnvOIDCClientID)),
		ClientSecret: strings.TrimSpace(os.Getenv(EnvOIDCClientSecret)), RedirectURL: strings.TrimSpace(os.Getenv(EnvOIDCRedirectURL)),
		Name: strings.TrimSpace(os.Getenv(EnvOIDCName))}
	if o.Issuer == "" && o.ClientID == "" && o.RedirectURL == "" {
		return OIDC{}, nil
	}
	if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
		return o, &UsageError{Msg: EnvOIDCIssuer + ", " + EnvOIDCClientID + " and " + EnvOIDCRedirectURL + " go together: set all three for single sign-on, or none"}
	}
	for name, v := range map[string]string{EnvOIDCIssuer: o.Issuer, EnvOIDCRedirectURL: o.RedirectURL} {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return o, &UsageError{Msg: fmt.Sprintf("%s: %q is not an absolute http(s) URL", name, v)}
		}
	}
	if !strings.HasSuffix(o.RedirectURL, "/auth/oidc/callback") {
		return o, &UsageError{Msg: EnvOIDCRedirectURL + " must be the service's public address followed by /auth/oidc/callback"}
	}
	return o, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// KeyFilePath is where the generated secret key of an SQLite installation lives: beside the
// database, so that backing up the directory keeps the two together.
func (c Config) KeyFilePath() string {
	return filepath.Join(filepath.Dir(c.DB.Path), strings.TrimSuffix(filepath.Base(c.DB.Path), filepath.Ext(c.DB.Path))+".key")
}

// Keyring loads the secret keys: the primary one from the environment or (SQLite only) the
// key file, created on first start, and the older ones from ORDERIMPORT_SECRET_KEY_OLD and the
// key file's .old file. created reports a newly generated key file. A keyring built on the key
// file reads the files again when it seals and when it meets an unknown key id, so a rotation
// by `orderimport secret rotate` is followed without a restart.
func (c Config) Keyring() (kr *secret.Keyring, created bool, err error) {
	var old []secret.Key
	for _, v := range c.OldSecretKeys {
		k, err := secret.ParseKey(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", EnvSecretKeyOld, err)
		}
		old = append(old, k)
	}
	if c.SecretKey != "" {
		k, err := secret.ParseKey(c.SecretKey)
		if err != nil {
			return nil, false, err
		}
		return secret.NewKeyring(k, old...), false, nil
	}
	if c.DB.Engine != store.SQLite {
		return nil, false, errors.New(EnvSecretKey + " is required with PostgreSQL")
	}
	if dir := filepath.Dir(c.DB.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("create directory for the key file: %w", err)
		}
	}
	path := c.KeyFilePath()
	if _, created, err = secret.LoadOrCreateKeyFile(path); err != nil {
		return nil, false, err
	}
	kr, err = secret.NewReloadingKeyring(func() (secret.Key, []secret.Key, error) {
		primary, fromFile, err := secret.LoadKeyFiles(path)
		return primary, append(fromFile, old...), err
	})
	return kr, created, err
}

// ShutdownTimeout is how long a stopping process waits for running pages to commit.
const ShutdownTimeout = 30 * time.Second
