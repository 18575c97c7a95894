package netguard

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"orderimport/internal/locale"
)

// FuzzCheckURL types anything into the account address field. Under the production policy an
// accepted address is https:// and a host name (never an IP address in any notation, never a
// local name, never a port, user or query), in its normal form, which CheckURL accepts again
// unchanged. Under AllowPrivate nothing may panic and the same normal-form promise holds.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://shop.retailcrm.ru", "shop.retailcrm.ru/admin", "https://127.0.0.1", "https://2130706433", "https://0177.0.0.1",
		"https://0x7f.1", "https://[::1]", "https://[::ffff:127.0.0.1]", "https://localhost.", "https://a.localhost",
		"https://user:pass@shop.retailcrm.ru", "https://shop.retailcrm.ru:8443", "https://shop.retailcrm.ru?x=1",
		"https://169.254.169.254/latest/meta-data/", "https://xn--80aswg.xn--p1ai", "http://[fe80::1%25eth0]:80/",
		"https://shop.retailcrm.ru%2F@evil.example", "https://evil.example\\@shop.retailcrm.ru", "https://ＳＨＯＰ.retailcrm.ru",
		"https://shop.retailcrm.ru./", "https://1.1.1.1.nip.io", "//shop.retailcrm.ru", "https://shop..retailcrm.ru",
		"a-long-name-of-a-printer-on-the-office-network.local",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, err := (Policy{AllowPrivate: true}).CheckURL(raw); err == nil {
			if again, err := (Policy{AllowPrivate: true}).CheckURL(got); err != nil || again != got {
				t.Fatalf("AllowPrivate: %q → %q, which checks as %q, %v", raw, got, again, err)
			}
		}
		got, err := Policy{}.CheckURL(raw)
		if err != nil {
			msg, ok := locale.MessageOf(err)
			if !ok || msg.Code == "" {
				t.Fatalf("%q: error %v carries no message code", raw, err)
			}
			for _, text := range []string{err.Error(), locale.For("ru").MsgDetail(msg)} {
				if text == "" || strings.Contains(text, raw) && len(raw) > 40 {
					t.Fatalf("%q: error %q is empty or repeats the input", raw, text)
				}
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" || u.Port() != "" {
			t.Fatalf("%q accepted as %q (%+v)", raw, got, u)
		}
		host := u.Hostname()
		if _, err := netip.ParseAddr(host); err == nil {
			t.Fatalf("%q accepted as the IP address %q", raw, host)
		}
		labels := strings.Split(host, ".")
		if len(labels) < 2 || host != strings.ToLower(host) || strings.HasSuffix(host, ".") {
			t.Fatalf("%q accepted as host %q", raw, host)
		}
		// The WHATWG URL standard reads a host whose last label is a number (decimal, or 0x
		// and hex digits, possibly none) as an IPv4 address; "0xx" is a name.
		last := labels[len(labels)-1]
		hex, isHex := strings.CutPrefix(last, "0x")
		if strings.Trim(last, "0123456789") == "" || isHex && strings.Trim(hex, "0123456789abcdef") == "" {
			t.Fatalf("%q accepted with a numeric last label: %q", raw, host)
		}
		for _, suffix := range localSuffixes {
			if host == suffix || strings.HasSuffix(host, "."+suffix) {
				t.Fatalf("%q accepted the local name %q", raw, host)
			}
		}
		if again, err := (Policy{}).CheckURL(got); err != nil || again != got {
			t.Fatalf("%q → %q, which checks as %q, %v", raw, got, again, err)
		}
	})
}
