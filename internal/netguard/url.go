package netguard

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
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
// always refused. The error texts are meant for the user.
//
// CheckURL cannot know where a name resolves to: a name such as
// 127.0.0.1.nip.io passes here and is refused when the client from
// NewHTTPClient connects.
func (p Policy) CheckURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("enter the address of the RetailCRM account, like https://shop.retailcrm.ru")
	}
	if len(s) > maxURLLength {
		return "", errors.New("the address is too long; enter just the account address, like https://shop.retailcrm.ru")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + strings.TrimPrefix(s, "//")
	}
	u, err := url.Parse(s)
	// url.Parse's error repeats the input, which may hold a password or
	// an API key: describe the problem instead.
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "", errors.New("this is not a valid web address; it should look like https://shop.retailcrm.ru")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowPrivate {
			return "", errors.New("the address must start with https:// (RetailCRM accepts API calls over HTTPS only)")
		}
	default:
		// A long "scheme" is more likely pasted text than a scheme; naming it would
		// echo what may be a secret back into the form.
		if len(u.Scheme) > 10 {
			return "", errors.New("the address must start with https://")
		}
		return "", fmt.Errorf("the address must start with https://, not %s://", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("remove the user name and password from the address; the API key goes in its own field")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", errors.New("remove the part starting with ? from the address; enter just the account address, like https://shop.retailcrm.ru")
	}
	if u.Fragment != "" {
		return "", errors.New("remove the part starting with # from the address")
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

const errIPAddress = "use the account's host name (like shop.retailcrm.ru), not an IP address"

// checkHost returns host in the form to put in a URL (IPv6 in brackets).
func (p Policy) checkHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("the address has no host name; it should look like https://shop.retailcrm.ru")
	}
	if strings.ContainsAny(host, ":%") {
		if !p.AllowPrivate {
			return "", errors.New(errIPAddress)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", errors.New("this is not a valid IPv6 address")
		}
		if err := checkPrivateAllowed(ip); err != nil {
			return "", err
		}
		// A zone names an interface of this machine: no CRM needs one, and it would not
		// survive being written back into a URL unescaped.
		if ip.Zone() != "" {
			return "", errors.New("remove the zone (the part from %) from the IPv6 address")
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
			return "", errors.New(errIPAddress)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return "", errors.New("write the IP address in the usual form, like 192.168.1.10")
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
			return "", fmt.Errorf("%s is a local name, not a RetailCRM account on the internet; use the account's address, like https://shop.retailcrm.ru", host)
		}
	}
	if len(labels) < 2 {
		return "", errors.New("use the account's full host name, like shop.retailcrm.ru")
	}
	return host, nil
}

// checkName accepts lower-case ASCII host names: letters, digits, hyphens
// and (seen in real DNS names) underscores, in labels of 1 to 63 characters.
func checkName(host string) error {
	if len(host) > 253 {
		return errors.New("the host name is too long")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("the host name is not valid; it should look like shop.retailcrm.ru")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("a part of the host name starts or ends with a hyphen; check the address")
		}
		for _, c := range []byte(label) {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case c >= 0x80:
				return errors.New("write the host name in Latin letters (its xn-- form), like the address bar shows when you copy it")
			default:
				return fmt.Errorf("the host name contains %q, which is not allowed in host names", c)
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
		return "", errors.New("the port after : must be a number from 1 to 65535")
	}
	if scheme == "https" && n == 443 || scheme == "http" && n == 80 {
		return "", nil
	}
	if !p.AllowPrivate {
		return "", fmt.Errorf("remove :%d from the address: RetailCRM accounts answer on the standard HTTPS port", n)
	}
	return strconv.Itoa(n), nil
}

// checkPrivateAllowed applies the part of the policy that AllowPrivate does
// not lift.
func checkPrivateAllowed(ip netip.Addr) error {
	if !reachableWhenPrivate(ip) {
		return fmt.Errorf("%s is a link-local, multicast or unspecified address, which is never a CRM", ip)
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
