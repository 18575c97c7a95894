package netguard

import (
	"strings"
	"testing"

	"orderimport/internal/locale"
)

// checkURLCase checks CheckURL(in) against want: the normalised address, or "error: " and
// the message's code, optionally with one argument as name=value.
func checkURLCase(t *testing.T, p Policy, in, want string) {
	t.Helper()
	got, err := p.CheckURL(in)
	spec, isErr := strings.CutPrefix(want, "error: ")
	if !isErr {
		if err != nil || got != want {
			t.Errorf("CheckURL(%q) = %q, %v; want %q", in, got, err, want)
		}
		return
	}
	code, arg, _ := strings.Cut(spec, " ")
	msg, ok := locale.MessageOf(err)
	if !ok || msg.Code != code {
		t.Errorf("CheckURL(%q) = %q, %v (message %+v); want code %s", in, got, err, msg, code)
		return
	}
	if name, value, ok := strings.Cut(arg, "="); ok && msg.Arg(name) != value {
		t.Errorf("CheckURL(%q): %s = %q, want %q", in, name, msg.Arg(name), value)
	}
	for _, lang := range locale.Languages {
		if text := locale.For(lang).Msg(msg); strings.HasPrefix(text, "[") || strings.Contains(text, "{") {
			t.Errorf("CheckURL(%q): %s message %q", in, lang, text)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // normalised address, or "error: <code> [<arg>=<value>]"
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
		{"", "error: url_required"},
		{"   ", "error: url_required"},
		{"http://shop.retailcrm.ru", "error: url_https_required"},
		{"ftp://shop.retailcrm.ru", "error: url_scheme scheme=ftp"},
		{"file:///etc/passwd", "error: url_scheme scheme=file"},
		{"gopher://shop.retailcrm.ru:70/", "error: url_scheme scheme=gopher"},
		{"javascript:alert(1)", "error: url_invalid"},
		{"https:shop.retailcrm.ru", "error: url_invalid"},
		{"https://", "error: url_no_host"},
		{"https:///path", "error: url_no_host"},

		// IP addresses in any notation.
		{"https://127.0.0.1", "error: url_ip_address"},
		{"https://127.0.0.1.", "error: url_ip_address"},
		{"https://127.1", "error: url_ip_address"},
		{"https://127.0.1", "error: url_ip_address"},
		{"https://2130706433", "error: url_ip_address"},
		{"https://0177.0.0.1", "error: url_ip_address"},
		{"https://0177.1", "error: url_ip_address"},
		{"https://0x7f.1", "error: url_ip_address"},
		{"https://0x7f000001", "error: url_ip_address"},
		{"https://0X7F.0.0.1", "error: url_ip_address"},
		{"https://0x.0x.0x.0x", "error: url_ip_address"},
		{"https://0", "error: url_ip_address"},
		{"https://169.254.169.254/latest/meta-data/", "error: url_ip_address"},
		{"https://10.0.0.1", "error: url_ip_address"},
		{"https://8.8.8.8", "error: url_ip_address"},
		{"https://shop.1", "error: url_ip_address"},
		{"https://[::1]", "error: url_ip_address"},
		{"https://[::]", "error: url_ip_address"},
		{"https://[::ffff:127.0.0.1]", "error: url_ip_address"},
		{"https://[::ffff:7f00:1]", "error: url_ip_address"},
		{"https://[0:0:0:0:0:ffff:127.0.0.1]", "error: url_ip_address"},
		{"https://[64:ff9b::127.0.0.1]", "error: url_ip_address"},
		{"https://[fe80::1%25eth0]", "error: url_ip_address"},
		{"https://[2a00:1450:4010:c05::64]", "error: url_ip_address"},
		{"127.0.0.1", "error: url_ip_address"},
		{"127.0.0.1:8080", "error: url_ip_address"},

		// Local names.
		{"https://localhost", "error: url_local_name host=localhost"},
		{"https://localhost.", "error: url_local_name host=localhost"},
		{"https://LOCALHOST", "error: url_local_name host=localhost"},
		{"https://LocalHost./", "error: url_local_name host=localhost"},
		{"https://shop.localhost", "error: url_local_name host=shop.localhost"},
		{"https://printer.local", "error: url_local_name"},
		{"https://metadata.google.internal", "error: url_local_name"},
		{"https://router.home.arpa", "error: url_local_name"},
		{strings.Repeat("x", 60) + ".local", "error: url_local_name host=" + strings.Repeat("x", 39) + "…"},
		{"https://metadata", "error: url_host_incomplete"},
		{"https://crm", "error: url_host_incomplete"},
		{"https://localhost..", "error: url_host_invalid"},
		{"https://shop..retailcrm.ru", "error: url_host_invalid"},
		{"https://.retailcrm.ru", "error: url_host_invalid"},
		{"https://-shop.retailcrm.ru", "error: url_host_hyphen"},
		{"https://shop!.retailcrm.ru", "error: url_host_char char=!"},
		{"https://магазин.рф", "error: url_host_not_latin"},
		{"https://" + strings.Repeat("a.", 130) + "ru", "error: url_host_too_long"},
		{"https://" + strings.Repeat("a", 64) + ".ru", "error: url_host_invalid"},
		{"https://" + strings.Repeat("a", 3000) + ".ru", "error: url_too_long"},
		{"https://shop%2eretailcrm.ru", "error: url_invalid"},
		{"https://%31%32%37.0.0.1", "error: url_invalid"},

		// Credentials, ports, query, fragment.
		{"https://user:pass@shop.retailcrm.ru", "error: url_credentials"},
		{"https://apikey@shop.retailcrm.ru", "error: url_credentials"},
		{"https://shop.retailcrm.ru@127.0.0.1", "error: url_credentials"},
		{"https://:@shop.retailcrm.ru", "error: url_credentials"},
		{`https://shop.retailcrm.ru\@evil.example.com`, "error: url_invalid"},
		{"https://shop.retailcrm.ru:8443", "error: url_port port=8443"},
		{"https://shop.retailcrm.ru:80", "error: url_port port=80"},
		{"https://shop.retailcrm.ru:22", "error: url_port port=22"},
		{"https://shop.retailcrm.ru:0", "error: url_port_invalid"},
		{"https://shop.retailcrm.ru:65536", "error: url_port_invalid"},
		{"https://shop.retailcrm.ru:https", "error: url_invalid"},
		{"https://shop.retailcrm.ru/api/v5/orders?apiKey=X2EDxRx", "error: url_query"},
		{"https://shop.retailcrm.ru?", "error: url_query"},
		{"https://shop.retailcrm.ru/#/orders", "error: url_fragment"},
		{"https://shop.retailcrm.ru\n.evil.com", "error: url_invalid"},
		{"https://shop retailcrm.ru", "error: url_invalid"},
	}
	p := Policy{}
	for _, tt := range tests {
		checkURLCase(t, p, tt.in, tt.want)
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
		{"ftp://127.0.0.1", "error: url_scheme scheme=ftp"},
		{"http://user:pw@127.0.0.1:8080", "error: url_credentials"},
		{"http://127.0.0.1:8080/?apiKey=1", "error: url_query"},
		{"http://127.1:8080", "error: url_ipv4_form"},
		{"http://2130706433", "error: url_ipv4_form"},
		{"http://0177.0.0.1", "error: url_ipv4_form"},
		{"http://0x7f.0.0.1", "error: url_ipv4_form"},
		{"http://169.254.169.254/latest/meta-data/", "error: url_reserved_ip ip=169.254.169.254"},
		{"http://[fe80::1%25eth0]", "error: url_reserved_ip ip=fe80::1"},
		{"http://[::ffff:169.254.169.254]", "error: url_reserved_ip"},
		{"http://0.0.0.0:8080", "error: url_reserved_ip"},
		{"http://[::]:8080", "error: url_reserved_ip"},
		{"http://[::%250]:8080", "error: url_reserved_ip"}, // found by FuzzCheckURL
		{"http://[fd00::1%25eth0]:8080", "error: url_ipv6_zone"},
		{"http://224.0.0.1", "error: url_reserved_ip ip=224.0.0.1"},
		{"http://255.255.255.255", "error: url_reserved_ip ip=255.255.255.255"},
		{"http://[::1%25lo", "error: url_invalid"},
	}
	p := Policy{AllowPrivate: true}
	for _, tt := range tests {
		checkURLCase(t, p, tt.in, tt.want)
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
			msg, _ := locale.MessageOf(err)
			for _, text := range []string{err.Error(), locale.For("ru").MsgDetail(msg), locale.For("en").MsgDetail(msg)} {
				if strings.Contains(text, secret) {
					t.Errorf("CheckURL(%q) error repeats the secret: %s", in, text)
				}
			}
		}
	}
}
