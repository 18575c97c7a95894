package netguard_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"orderimport/internal/locale"
	"orderimport/internal/netguard"
	"orderimport/internal/netguard/netguardtest"
)

func TestCheckWebhookURL(t *testing.T) {
	strict := netguard.Policy{}
	for _, c := range []struct{ in, want string }{
		{"https://example.com/hooks/orders?token=abc", "https://example.com/hooks/orders?token=abc"},
		{"HTTPS://Example.COM:443/a/b", "https://example.com/a/b"},
		{"https://example.com:8443/x", "https://example.com:8443/x"},
		{"https://93.184.216.34/in", "https://93.184.216.34/in"},
		{"https://[2606:2800:220:1::]/in", "https://[2606:2800:220:1::]/in"},
		{"  https://hooks.slack.com/services/T000/B000/XXXX  ", "https://hooks.slack.com/services/T000/B000/XXXX"},
	} {
		got, err := strict.CheckWebhookURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, code string }{
		{"", "webhook_url_required"},
		{"example.com/hooks", "webhook_url_invalid"},
		{"http://example.com/hooks", "webhook_url_https_required"},
		{"ftp://example.com/x", "url_scheme"},
		{"https://user:pass@example.com/x", "webhook_url_credentials"},
		{"https://example.com/x#frag", "url_fragment"},
		{"https://127.0.0.1/x", "webhook_address_private"},
		{"https://10.1.2.3:8443/x", "webhook_address_private"},
		{"https://[::1]/x", "webhook_address_private"},
		{"https://169.254.169.254/latest", "webhook_address_private"},
		{"https://[::ffff:192.168.1.1]/x", "webhook_address_private"},
		{"https://0177.0.0.1/x", "url_ipv4_form"},
		{"https://2130706433/x", "url_ipv4_form"},
		{"https://localhost/x", "webhook_url_local_name"},
		{"https://printer.local/x", "webhook_url_local_name"},
		{"https://intranet/x", "webhook_url_local_name"},
		{"https://exa_mple..com/x", "webhook_url_invalid"},
		{"https://example.com:99999/x", "url_port_invalid"},
	} {
		_, err := strict.CheckWebhookURL(c.in)
		m, ok := locale.MessageOf(err)
		if !ok || m.Code != c.code {
			t.Errorf("%q: %v, want %s", c.in, err, c.code)
		}
		if c.code == "webhook_address_private" && !errors.Is(err, netguard.ErrPrivateAddress) {
			t.Errorf("%q: not ErrPrivateAddress", c.in)
		}
	}
	// Tests and emulators: loopback over http, but never link-local.
	loose := netguard.Policy{AllowPrivate: true}
	if got, err := loose.CheckWebhookURL("http://127.0.0.1:8081/hooks"); err != nil || got != "http://127.0.0.1:8081/hooks" {
		t.Errorf("loopback allowed: %q %v", got, err)
	}
	if _, err := loose.CheckWebhookURL("http://169.254.169.254/"); err == nil {
		t.Error("the metadata address passed with private addresses allowed")
	}
}

// A name that resolves into a private network is refused when it is entered, before anything
// is sent; a name that does not resolve is refused too.
func TestCheckWebhookAddress(t *testing.T) {
	dns := netguardtest.DNS{
		"hooks.example.com":  {netip.MustParseAddr("93.184.216.34")},
		"inside.example.com": {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.7")},
		"rebind.example.com": {netip.MustParseAddr("::ffff:127.0.0.1")},
	}
	p := netguard.Policy{Resolver: dns.Resolver()}
	ctx := context.Background()
	if err := p.CheckWebhookAddress(ctx, "https://hooks.example.com/x"); err != nil {
		t.Errorf("a public name: %v", err)
	}
	for in, code := range map[string]string{
		"https://inside.example.com/x":  "webhook_address_private",
		"https://rebind.example.com/x":  "webhook_address_private",
		"https://nowhere.example.com/x": "webhook_host_unknown",
		"https://10.0.0.1/x":            "webhook_address_private",
	} {
		m, ok := locale.MessageOf(p.CheckWebhookAddress(ctx, in))
		if !ok || m.Code != code {
			t.Errorf("%s: %+v, want %s", in, m, code)
		}
	}
}
