package netguard

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	const ipMsg = "not an IP address"
	tests := []struct {
		in   string
		want string // normalised address, or "error: <part of the message>"
	}{
		// Accepted, normalised.
		{"https://shop.retailcrm.ru", "https://shop.retailcrm.ru"},
		{"  https://shop.retailcrm.ru/  ", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru///", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru/api/v5/orders", "https://shop.retailcrm.ru"},
		{"HTTPS://Shop.RetailCRM.RU/", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru.", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru:443", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru:0443/", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru:", "https://shop.retailcrm.ru"},
		{"https://shop.retailcrm.ru#", "https://shop.retailcrm.ru"},
		{"shop.retailcrm.ru", "https://shop.retailcrm.ru"},
		{"shop.retailcrm.ru/admin/orders", "https://shop.retailcrm.ru"},
		{"//shop.retailcrm.ru", "https://shop.retailcrm.ru"},
		{"https://my-shop.simla.com", "https://my-shop.simla.com"},
		{"https://xn--80aswg.xn--p1ai", "https://xn--80aswg.xn--p1ai"},
		// A name that resolves to loopback passes here; the dial check refuses it.
		{"https://127.0.0.1.nip.io", "https://127.0.0.1.nip.io"},
		{"https://7f000001.nip.io", "https://7f000001.nip.io"},

		// Scheme.
		{"", "error: enter the address"},
		{"   ", "error: enter the address"},
		{"http://shop.retailcrm.ru", "error: must start with https://"},
		{"ftp://shop.retailcrm.ru", "error: must start with https://, not ftp://"},
		{"file:///etc/passwd", "error: must start with https://, not file://"},
		{"gopher://shop.retailcrm.ru:70/", "error: not gopher://"},
		{"javascript:alert(1)", "error: not a valid web address"},
		{"https:shop.retailcrm.ru", "error: not a valid web address"},
		{"https://", "error: no host name"},
		{"https:///path", "error: no host name"},

		// IP addresses in any notation.
		{"https://127.0.0.1", "error: " + ipMsg},
		{"https://127.0.0.1.", "error: " + ipMsg},
		{"https://127.1", "error: " + ipMsg},
		{"https://127.0.1", "error: " + ipMsg},
		{"https://2130706433", "error: " + ipMsg},
		{"https://0177.0.0.1", "error: " + ipMsg},
		{"https://0177.1", "error: " + ipMsg},
		{"https://0x7f.1", "error: " + ipMsg},
		{"https://0x7f000001", "error: " + ipMsg},
		{"https://0X7F.0.0.1", "error: " + ipMsg},
		{"https://0x.0x.0x.0x", "error: " + ipMsg},
		{"https://0", "error: " + ipMsg},
		{"https://169.254.169.254/latest/meta-data/", "error: " + ipMsg},
		{"https://10.0.0.1", "error: " + ipMsg},
		{"https://8.8.8.8", "error: " + ipMsg},
		{"https://shop.1", "error: " + ipMsg},
		{"https://[::1]", "error: " + ipMsg},
		{"https://[::]", "error: " + ipMsg},
		{"https://[::ffff:127.0.0.1]", "error: " + ipMsg},
		{"https://[::ffff:7f00:1]", "error: " + ipMsg},
		{"https://[0:0:0:0:0:ffff:127.0.0.1]", "error: " + ipMsg},
		{"https://[64:ff9b::127.0.0.1]", "error: " + ipMsg},
		{"https://[fe80::1%25eth0]", "error: " + ipMsg},
		{"https://[2a00:1450:4010:c05::64]", "error: " + ipMsg},
		{"127.0.0.1", "error: " + ipMsg},
		{"127.0.0.1:8080", "error: " + ipMsg},

		// Local names.
		{"https://localhost", "error: localhost is a local name"},
		{"https://localhost.", "error: localhost is a local name"},
		{"https://LOCALHOST", "error: localhost is a local name"},
		{"https://LocalHost./", "error: localhost is a local name"},
		{"https://shop.localhost", "error: shop.localhost is a local name"},
		{"https://printer.local", "error: local name"},
		{"https://metadata.google.internal", "error: local name"},
		{"https://router.home.arpa", "error: local name"},
		{"https://metadata", "error: full host name"},
		{"https://crm", "error: full host name"},
		{"https://localhost..", "error: host name is not valid"},
		{"https://shop..retailcrm.ru", "error: host name is not valid"},
		{"https://.retailcrm.ru", "error: host name is not valid"},
		{"https://-shop.retailcrm.ru", "error: hyphen"},
		{"https://shop!.retailcrm.ru", "error: not allowed in host names"},
		{"https://магазин.рф", "error: Latin letters"},
		{"https://" + strings.Repeat("a.", 130) + "ru", "error: too long"},
		{"https://" + strings.Repeat("a", 64) + ".ru", "error: host name is not valid"},
		{"https://" + strings.Repeat("a", 3000) + ".ru", "error: too long"},
		{"https://shop%2eretailcrm.ru", "error: not a valid web address"},
		{"https://%31%32%37.0.0.1", "error: not a valid web address"},

		// Credentials, ports, query, fragment.
		{"https://user:pass@shop.retailcrm.ru", "error: remove the user name and password"},
		{"https://apikey@shop.retailcrm.ru", "error: remove the user name and password"},
		{"https://shop.retailcrm.ru@127.0.0.1", "error: remove the user name and password"},
		{"https://:@shop.retailcrm.ru", "error: remove the user name and password"},
		{`https://shop.retailcrm.ru\@evil.example.com`, "error: not a valid web address"},
		{"https://shop.retailcrm.ru:8443", "error: remove :8443"},
		{"https://shop.retailcrm.ru:80", "error: remove :80"},
		{"https://shop.retailcrm.ru:22", "error: remove :22"},
		{"https://shop.retailcrm.ru:0", "error: from 1 to 65535"},
		{"https://shop.retailcrm.ru:65536", "error: from 1 to 65535"},
		{"https://shop.retailcrm.ru:https", "error: not a valid web address"},
		{"https://shop.retailcrm.ru/api/v5/orders?apiKey=X2EDxRx", "error: remove the part starting with ?"},
		{"https://shop.retailcrm.ru?", "error: remove the part starting with ?"},
		{"https://shop.retailcrm.ru/#/orders", "error: remove the part starting with #"},
		{"https://shop.retailcrm.ru\n.evil.com", "error: not a valid web address"},
		{"https://shop retailcrm.ru", "error: not a valid web address"},
	}
	p := Policy{}
	for _, tt := range tests {
		got, err := p.CheckURL(tt.in)
		if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CheckURL(%q) = %q, %v; want an error containing %q", tt.in, got, err, want)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CheckURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckURLAllowPrivate(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:80/", "http://127.0.0.1"},
		{"https://127.0.0.1:443", "https://127.0.0.1"},
		{"http://localhost:3000/api", "http://localhost:3000"},
		{"http://LOCALHOST.:3000", "http://localhost:3000"},
		{"http://crm-emulator:8080", "http://crm-emulator:8080"},
		{"http://10.1.2.3", "http://10.1.2.3"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"},
		{"http://[::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]"},
		{"localhost:8080", "https://localhost:8080"},
		{"https://shop.retailcrm.ru:443", "https://shop.retailcrm.ru"},

		// Still refused.
		{"ftp://127.0.0.1", "error: not ftp://"},
		{"http://user:pw@127.0.0.1:8080", "error: remove the user name and password"},
		{"http://127.0.0.1:8080/?apiKey=1", "error: remove the part starting with ?"},
		{"http://127.1:8080", "error: usual form"},
		{"http://2130706433", "error: usual form"},
		{"http://0177.0.0.1", "error: usual form"},
		{"http://0x7f.0.0.1", "error: usual form"},
		{"http://169.254.169.254/latest/meta-data/", "error: link-local"},
		{"http://[fe80::1%25eth0]", "error: link-local"},
		{"http://[::ffff:169.254.169.254]", "error: link-local"},
		{"http://0.0.0.0:8080", "error: unspecified"},
		{"http://[::]:8080", "error: unspecified"},
		{"http://[::%250]:8080", "error: unspecified"}, // found by FuzzCheckURL
		{"http://[fd00::1%25eth0]:8080", "error: remove the zone"},
		{"http://224.0.0.1", "error: multicast"},
		{"http://255.255.255.255", "error: never a CRM"},
		{"http://[::1%25lo", "error: not a valid web address"},
	}
	p := Policy{AllowPrivate: true}
	for _, tt := range tests {
		got, err := p.CheckURL(tt.in)
		if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CheckURL(%q) = %q, %v; want an error containing %q", tt.in, got, err, want)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CheckURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// Users paste URLs with passwords or API keys in them; the message must not
// repeat them (it is shown on screen and may be logged).
func TestCheckURLErrorsDoNotRepeatSecrets(t *testing.T) {
	t.Parallel()
	const secret = "X2EDxRxKvYS3gUlRvFXEUqXKsnPI1hAK"
	inputs := []string{
		"https://user:" + secret + "@shop.retailcrm.ru",
		"https://" + secret + "@shop.retailcrm.ru",
		"https://shop.retailcrm.ru/api/v5/orders?apiKey=" + secret,
		"https://shop.retailcrm.ru/#" + secret,
		"https://shop.retailcrm.ru:" + secret,
		"https://shop.retailcrm.ru/%zz" + secret,
		"https://user:" + secret + "%zz@shop.retailcrm.ru",
		"ftp://" + secret + "@shop.retailcrm.ru",
	}
	for _, p := range []Policy{{}, {AllowPrivate: true}} {
		for _, in := range inputs {
			_, err := p.CheckURL(in)
			if err == nil {
				t.Errorf("CheckURL(%q) accepted", in)
				continue
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("CheckURL(%q) error repeats the secret: %v", in, err)
			}
		}
	}
}
