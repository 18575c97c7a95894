package netguard

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"orderimport/internal/locale"
)

// Policy says which CRM addresses are acceptable.
type Policy struct {
	// AllowPrivate (ORDERIMPORT_ALLOW_PRIVATE_CRM=true, for tests and
	// emulators) permits http://, IP addresses, other ports, single-label
	// names and loopback/private networks. Link-local addresses, where cloud
	// metadata services live, stay refused even then.
	AllowPrivate bool
	// Resolver, when set, resolves CRM host names for the client from NewHTTPClient instead
	// of the system's resolver (tests; the addresses it returns are checked all the same).
	Resolver *net.Resolver
	// RootCAs, when set, are the certificate authorities the client trusts instead of the
	// system's (tests, or a private CA in front of RetailCRM).
	RootCAs *x509.CertPool
	// Webhooks: the client calls webhook receivers, not RetailCRM; its refusals say so.
	Webhooks bool
}

// maxURLLength bounds the input; no account address comes near it.
const maxURLLength = 2048

// localSuffixes are special-use names (RFC 6761, RFC 6762, RFC 8375, the
// ICANN-reserved .internal) that never name a public host; refusing them
// here gives a clearer message than the connect-time check would.
var localSuffixes = []string{"localhost", "local", "localdomain", "internal", "home.arpa", "invalid", "test", "example", "onion"}

// CheckURL validates the RetailCRM account address a user typed and returns
// it normalised to "scheme://host" (plus ":port" when not the default):
// scheme and host lower-case, a trailing dot, the path and trailing slashes
// dropped. An address without a scheme ("shop.retailcrm.ru") is taken as
// https://.
//
// Unless p.AllowPrivate, the address must be https://, name a host with at
// least one dot (not an IP address in any notation, not localhost or another
// local name) and use the default port. User info, query and fragment are
// always refused. Every error is a *locale.Error whose message tells the user what to fix;
// none repeats more than a short part of the input (it may hold a password or an API key).
//
// CheckURL cannot know where a name resolves to: a name such as
// 127.0.0.1.nip.io passes here and is refused when the client from
// NewHTTPClient connects.
func (p Policy) CheckURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", locale.Err("url_required")
	}
	if len(s) > maxURLLength {
		return "", locale.Err("url_too_long")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + strings.TrimPrefix(s, "//")
	}
	u, err := url.Parse(s)
	// url.Parse's error repeats the input, which may hold a password or
	// an API key: describe the problem instead.
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "", locale.Err("url_invalid")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowPrivate {
			return "", locale.Err("url_https_required")
		}
	default:
		// A long "scheme" is more likely pasted text than a scheme; naming it would
		// echo what may be a secret back into the form.
		if len(u.Scheme) > 10 {
			return "", locale.Err("url_https_required")
		}
		return "", locale.Err("url_scheme", "scheme", u.Scheme)
	}
	if u.User != nil {
		return "", locale.Err("url_credentials")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", locale.Err("url_query")
	}
	if u.Fragment != "" {
		return "", locale.Err("url_fragment")
	}
	host, err := p.checkHost(u.Hostname())
	if err != nil {
		return "", err
	}
	port, err := p.checkPort(u.Scheme, u.Port())
	if err != nil {
		return "", err
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

// checkHost returns host in the form to put in a URL (IPv6 in brackets).
func (p Policy) checkHost(host string) (string, error) {
	if host == "" {
		return "", locale.Err("url_no_host")
	}
	if strings.ContainsAny(host, ":%") {
		if !p.AllowPrivate {
			return "", locale.Err("url_ip_address")
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", locale.Err("url_ipv6_invalid")
		}
		if err := checkPrivateAllowed(ip); err != nil {
			return "", err
		}
		// A zone names an interface of this machine: no CRM needs one, and it would not
		// survive being written back into a URL unescaped.
		if ip.Zone() != "" {
			return "", locale.Err("url_ipv6_zone")
		}
		return "[" + ip.String() + "]", nil
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if err := checkName(host); err != nil {
		return "", err
	}
	// As the WHATWG URL standard and inet_aton do, read a name whose last
	// label is a number as an IPv4 address in some notation: decimal
	// 2130706433, octal 0177.0.0.1, hex 0x7f.1, short 127.1. No top-level
	// domain is numeric, so nothing real is lost.
	labels := strings.Split(host, ".")
	if isNumber(labels[len(labels)-1]) {
		if !p.AllowPrivate {
			return "", locale.Err("url_ip_address")
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return "", locale.Err("url_ipv4_form")
		}
		if err := checkPrivateAllowed(ip); err != nil {
			return "", err
		}
		return host, nil
	}
	if p.AllowPrivate {
		return host, nil
	}
	for _, suffix := range localSuffixes {
		if host == suffix || strings.HasSuffix(host, "."+suffix) {
			return "", locale.Err("url_local_name", "host", shorten(host))
		}
	}
	if len(labels) < 2 {
		return "", locale.Err("url_host_incomplete")
	}
	return host, nil
}

// checkName accepts lower-case ASCII host names: letters, digits, hyphens
// and (seen in real DNS names) underscores, in labels of 1 to 63 characters.
func checkName(host string) error {
	if len(host) > 253 {
		return locale.Err("url_host_too_long")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return locale.Err("url_host_invalid")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return locale.Err("url_host_hyphen")
		}
		for _, c := range []byte(label) {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return locale.Err("url_host_not_latin")
			default:
				return locale.Err("url_host_char", "char", charName(c))
			}
		}
	}
	return nil
}

// isNumber reports whether label is a number as inet_aton reads one:
// decimal or octal digits, or 0x followed by hex digits (possibly none).
func isNumber(label string) bool {
	digits := "0123456789"
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		label, digits = label[2:], "0123456789abcdefABCDEF"
		if label == "" {
			return true
		}
	}
	return label != "" && strings.Trim(label, digits) == ""
}

// checkPort returns the port to keep in the normalised address: "" for the
// scheme's default.
func (p Policy) checkPort(scheme, port string) (string, error) {
	if port == "" {
		return "", nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", locale.Err("url_port_invalid")
	}
	if scheme == "https" && n == 443 || scheme == "http" && n == 80 {
		return "", nil
	}
	if !p.AllowPrivate {
		return "", locale.Err("url_port", "port", strconv.Itoa(n))
	}
	return strconv.Itoa(n), nil
}

// checkPrivateAllowed applies the part of the policy that AllowPrivate does
// not lift.
func checkPrivateAllowed(ip netip.Addr) error {
	if !reachableWhenPrivate(ip) {
		// Without its zone: the zone names an interface and may be anything the user typed.
		return locale.Err("url_reserved_ip", "ip", ip.WithZone("").String())
	}
	return nil
}

// reachableWhenPrivate is the dial policy under AllowPrivate: loopback and
// private networks are fine, but link-local (cloud metadata at
// 169.254.169.254, fe80::/10), multicast, unspecified and broadcast are not,
// in IPv4-mapped, NAT64 and 6to4 forms too.
func reachableWhenPrivate(ip netip.Addr) bool {
	// Compared without its zone: "::%eth0" is the unspecified address all the same.
	ip = unembed(ip.WithZone(""))
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast() &&
		ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// maxEchoed is how much of the input a message may repeat: enough to recognise a host name,
// too little to carry a pasted secret whole.
const maxEchoed = 40

// shorten cuts a part of the input for a message to maxEchoed characters.
func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxEchoed {
		return s
	}
	return string([]rune(s)[:maxEchoed-1]) + "…"
}

// charName shows a character of a host name for a message: itself when it is visible, its
// code point otherwise.
func charName(c byte) string {
	if c > ' ' && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("U+%04X", c)
}
