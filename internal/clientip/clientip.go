// Package clientip finds the address of the client behind the reverse proxies the operator
// trusts (ORDERIMPORT_TRUSTED_PROXIES). X-Forwarded-For is believed only as far as it was
// written by those proxies: from a peer outside them, the header is whatever the client wants it
// to be, and the peer's own address is the client's.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the trusted proxies' networks; the zero value trusts none.
type Proxies struct {
	nets []netip.Prefix
}

// Parse reads a comma-separated list of CIDRs or single addresses ("10.0.0.0/8, 127.0.0.1").
func Parse(list string) (Proxies, error) {
	var p Proxies
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return Proxies{}, fmt.Errorf("%q is neither a network (10.0.0.0/8) nor an address", item)
			}
			p.nets = append(p.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		n, err := netip.ParsePrefix(item)
		if err != nil {
			return Proxies{}, fmt.Errorf("%q is not a network such as 10.0.0.0/8", item)
		}
		p.nets = append(p.nets, n.Masked())
	}
	return p, nil
}

// Trusted reports whether an address belongs to a trusted proxy.
func (p Proxies) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// String lists the networks, for the start-up log.
func (p Proxies) String() string {
	out := make([]string, len(p.nets))
	for i, n := range p.nets {
		out[i] = n.String()
	}
	return strings.Join(out, ",")
}

// Client is the client's address of a request: the peer, unless the peer is a trusted proxy;
// then X-Forwarded-For is read from the right, past every trusted proxy, to the first address
// that is not one. A malformed entry ends the walk at the last proxy that vouched for it.
func (p Proxies) Client(r *http.Request) string {
	peer := host(r.RemoteAddr)
	addr, err := netip.ParseAddr(peer)
	if err != nil || !p.Trusted(addr) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(host(strings.TrimSpace(hops[i])))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !p.Trusted(client) {
			break
		}
	}
	return client.String()
}

// Handler puts the client's address in each request's RemoteAddr (with port 0), so that every
// reader of it — login throttling, the audit log, sessions — sees the client, not the proxy.
func (p Proxies) Handler(next http.Handler) http.Handler {
	if len(p.nets) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := p.Client(r); c != host(r.RemoteAddr) {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = net.JoinHostPort(c, "0")
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// host is an address without its port ("[::1]:80" → "::1", "192.0.2.1" stays).
func host(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
