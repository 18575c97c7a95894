// Package sso is the OpenID Connect relying party of the service: it sends a browser to the
// identity provider (authorization code flow with PKCE, a state and a nonce) and turns the code
// the provider sends back into the identity its signed ID token vouches for. The protocol is
// github.com/coreos/go-oidc (discovery, signature, issuer, audience and expiry of the ID token)
// over golang.org/x/oauth2 (the code exchange); this package adds the checks of the flow itself
// (the nonce, a verified email) and words for each way it can fail.
package sso

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultName names the provider on the login page when the operator does not.
const DefaultName = "OpenID Connect"

// Timeout bounds each call to the provider (discovery, keys, code exchange).
const Timeout = 10 * time.Second

// Config is the service's registration at the provider.
type Config struct {
	Issuer       string // the provider's issuer URL; its discovery document is under it
	ClientID     string
	ClientSecret string // "" for a public client (PKCE alone)
	RedirectURL  string // {public base}/auth/oidc/callback, as registered at the provider
	Name         string // shown on the button: "Войти через {Name}"
	// HTTPClient calls the provider; nil is a client bounded by Timeout.
	HTTPClient *http.Client
}

// Provider signs people in through one identity provider. Discovery happens at the first sign-in
// and is retried at the next one when it failed, so the service starts while the provider is
// down.
type Provider struct {
	cfg    Config
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// New checks the configuration; nothing is fetched until the first sign-in.
func New(cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("sso: the issuer, the client id and the redirect URL are all required")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: Timeout}
	}
	return &Provider{cfg: cfg, client: client}, nil
}

// Name is the provider's name for people.
func (p *Provider) Name() string { return p.cfg.Name }

// Errors of a sign-in, by whose fault it failed.
var (
	// ErrUnreachable: the provider did not answer (discovery, keys or the token endpoint).
	ErrUnreachable = errors.New("sso: the identity provider cannot be reached")
	// ErrRefused: the provider refused the code (used already, expired, not for this client).
	ErrRefused = errors.New("sso: the identity provider refused the sign-in")
	// ErrToken: the provider's answer is not a valid ID token for this flow (signature, issuer,
	// audience, expiry, nonce).
	ErrToken = errors.New("sso: the ID token is not valid for this sign-in")
)

func (p *Provider) ctx(ctx context.Context) context.Context { return oidc.ClientContext(ctx, p.client) }

// discover fetches the provider's metadata once.
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	prov, err := oidc.NewProvider(p.ctx(ctx), p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %v", ErrUnreachable, p.cfg.Issuer, err)
	}
	p.provider = prov
	return prov, nil
}

func (p *Provider) oauth(prov *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
		Endpoint: prov.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
}

// AuthURL is where the browser goes to sign in: the provider's authorization endpoint with the
// state, the nonce and the S256 challenge of verifier.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth(prov).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), nil
}

// Identity is who the provider vouches for.
type Identity struct {
	Subject       string
	Email         string
	EmailVerified bool
}

// Exchange redeems the code with the flow's verifier, verifies the ID token (signature by the
// provider's keys, issuer, audience = this client, expiry) and its nonce, and returns the identity
// in it.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	tok, err := p.oauth(prov).Exchange(p.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Identity{}, fmt.Errorf("%w: %s %s", ErrRefused, re.ErrorCode, clip(re.ErrorDescription))
		}
		return Identity{}, fmt.Errorf("%w: code exchange: %v", ErrUnreachable, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: the token answer has no id_token", ErrToken)
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(p.ctx(ctx), raw)
	if err != nil {
		// The cause (a bad signature, another audience, an expired token, keys that could not
		// be fetched) goes to the log through the wrapped words.
		return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 || nonce == "" {
		return Identity{}, fmt.Errorf("%w: the nonce is not this sign-in's", ErrToken)
	}
	var claims struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrToken, err)
	}
	return Identity{Subject: idt.Subject, Email: strings.TrimSpace(claims.Email), EmailVerified: verified(claims.EmailVerified)}, nil
}

// verified reads email_verified: a JSON true, or the string "true" that some providers send.
func verified(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "true", `"true"`:
		return true
	}
	return false
}

// clip bounds what a provider's error description adds to a log line.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
