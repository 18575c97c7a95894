// Package netguard protects outbound calls to user-supplied CRM URLs from
// server-side request forgery: a user must not be able to make the service
// call its own loopback, the private network it runs in, or a cloud metadata
// endpoint.
//
// The protection has two layers. CheckURL refuses addresses that are
// obviously not a public RetailCRM account (IP literals, ports, credentials)
// with a message the user can act on. The HTTP client from NewHTTPClient
// checks every address it actually connects to, which is what stops host
// names that resolve to private addresses, DNS rebinding and redirects.
package netguard

import "net/netip"

// nonPublicV4 lists the IPv4 ranges that are not public unicast (IANA
// special-purpose registry, RFC 6890 and successors).
var nonPublicV4 = prefixes(
	"0.0.0.0/8",       // "this network"; 0.0.0.0 reaches the local host
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT, also some clouds' metadata (100.100.100.200)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata 169.254.169.254
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast 255.255.255.255
)

// nonPublicV6 lists ranges inside global unicast 2000::/3 that are not public;
// everything outside 2000::/3 is not public anyway (loopback, unspecified,
// ULA fc00::/7, link-local fe80::/10, multicast ff00::/8, IPv4-compatible and
// IPv4-translated forms, discard-only 100::/64), except NAT64, see IsPublic.
var nonPublicV6 = prefixes(
	"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation (RFC 9637)
	"5f00::/16",     // SRv6 segment identifiers (RFC 9602)
)

var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	sixToFour       = netip.MustParsePrefix("2002::/16")
	nat64           = netip.MustParsePrefix("64:ff9b::/96")
)

// IsPublic reports whether ip is a public unicast address, one a RetailCRM
// account can live at. It is false for loopback, private (RFC 1918), CGNAT,
// link-local (including the 169.254.169.254 metadata address), multicast,
// unspecified, broadcast, documentation, benchmarking and reserved ranges, for
// IPv6 ULA, link-local and the other ranges outside global unicast, for
// addresses with a zone, and for IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4
// (2002::/16) addresses whose embedded IPv4 address is not public. Teredo
// (2001::/32) is refused outright: both addresses it embeds are chosen by
// whoever controls the DNS answer, and no CRM host uses it.
func IsPublic(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = unembed(ip)
	if ip.Is4() {
		return !inAny(ip, nonPublicV4)
	}
	return globalUnicastV6.Contains(ip) && !inAny(ip, nonPublicV6)
}

// unembed returns the IPv4 address inside an IPv4-mapped, NAT64 or 6to4
// address, where connecting to the IPv6 address reaches the IPv4 one; other
// addresses come back as they are.
func unembed(ip netip.Addr) netip.Addr {
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap()
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return ip
}

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
