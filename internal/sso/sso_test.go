package sso

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"
)

// otherAudience is a provider's user whose ID token is issued for another client: signed by
// the provider's real key, with every other claim right.
type otherAudience struct{ *mockoidc.MockUser }

func (u otherAudience) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c.Audience = jwt.ClaimStrings{"another-client"}
	return u.MockUser.Claims(scope, c)
}

func startProvider(t *testing.T) (*mockoidc.MockOIDC, *Provider) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	p, err := New(Config{Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: "http://127.0.0.1:1/auth/oidc/callback"})
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// authorize follows the redirect to the provider and returns the code it sends back.
func authorize(t *testing.T, p *Provider, state, nonce, verifier string) string {
	t.Helper()
	u, err := p.AuthURL(context.Background(), state, nonce, verifier)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("the provider sent the browser to %q", resp.Header.Get("Location"))
	}
	return back.Query().Get("code")
}

func TestCodeFlow(t *testing.T) {
	m, p := startProvider(t)
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	m.QueueUser(&mockoidc.MockUser{Subject: "u-1", Email: "Ann@Example.com", EmailVerified: true})
	code := authorize(t, p, "state-1", "nonce-1", verifier)
	id, err := p.Exchange(ctx, code, verifier, "nonce-1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "u-1" || id.Email != "Ann@Example.com" || !id.EmailVerified {
		t.Fatalf("identity %+v", id)
	}
	// The code is good once.
	if _, err := p.Exchange(ctx, code, verifier, "nonce-1"); !errors.Is(err, ErrRefused) {
		t.Fatalf("a replayed code: %v, want refused", err)
	}
}

func TestRefusals(t *testing.T) {
	m, p := startProvider(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		user  mockoidc.User
		setup func()
		run   func(code, verifier string) error
		want  error
	}{
		{name: "another PKCE verifier", run: func(code, _ string) error {
			_, err := p.Exchange(ctx, code, oauth2.GenerateVerifier(), "n")
			return err
		}, want: ErrRefused},
		{name: "another nonce", run: func(code, v string) error {
			_, err := p.Exchange(ctx, code, v, "not-this-flows-nonce")
			return err
		}, want: ErrToken},
		{name: "a token for another audience", user: otherAudience{&mockoidc.MockUser{Subject: "u", Email: "a@example.com", EmailVerified: true}},
			run: func(code, v string) error {
				_, err := p.Exchange(ctx, code, v, "n")
				return err
			}, want: ErrToken},
		{name: "an expired token", setup: func() { m.FastForward(-time.Hour) }, run: func(code, v string) error {
			defer m.FastForward(time.Hour)
			_, err := p.Exchange(ctx, code, v, "n")
			return err
		}, want: ErrToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.user != nil {
				m.QueueUser(c.user)
			}
			if c.setup != nil {
				c.setup()
			}
			v := oauth2.GenerateVerifier()
			code := authorize(t, p, "s", "n", v)
			if err := c.run(code, v); !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
		})
	}

	// An unverified email comes back as unverified; the caller refuses it.
	m.QueueUser(&mockoidc.MockUser{Subject: "u-2", Email: "b@example.com", EmailVerified: false})
	v := oauth2.GenerateVerifier()
	id, err := p.Exchange(ctx, authorize(t, p, "s", "n2", v), v, "n2")
	if err != nil || id.EmailVerified {
		t.Fatalf("unverified: %+v %v", id, err)
	}
}

func TestUnreachableProvider(t *testing.T) {
	p, err := New(Config{Issuer: "http://127.0.0.1:1/oidc", ClientID: "c", RedirectURL: "http://127.0.0.1/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AuthURL(context.Background(), "s", "n", "v"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("%v, want unreachable", err)
	}
	if p.Name() != DefaultName {
		t.Errorf("name %q", p.Name())
	}
	if _, err := New(Config{Issuer: "http://x"}); err == nil {
		t.Error("a configuration without client id and redirect URL")
	}
	for raw, want := range map[string]bool{`true`: true, `"true"`: true, `false`: false, `"false"`: false, ``: false, `1`: false} {
		if got := verified([]byte(raw)); got != want {
			t.Errorf("email_verified %s: %v", raw, got)
		}
	}
}
