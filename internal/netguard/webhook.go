package netguard

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"orderimport/internal/locale"
)

// Webhook receivers are addresses too: the service posts to URLs its users give it (outbound
// webhooks, alert webhooks), so the same guard applies. What differs from a RetailCRM account
// is the shape of the URL: a receiver has a path and may have a query (a token of its own) and
// a port; an IP address is fine when it is public. Private networks stay refused — at the
// check, for IP addresses and for names that resolve there, and at every connection, for
// names that change their answer later.

// CheckWebhookURL validates a receiver's URL and returns it normalised (scheme and host
// lower-case, a default port dropped). Unless p.AllowPrivate, it must be https:// and must not
// name a private or reserved address. User info and fragments are refused. Every error is a
// *locale.Error; a refused address is also ErrPrivateAddress.
func (p Policy) CheckWebhookURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", locale.Err("webhook_url_required")
	}
	if len(s) > maxURLLength {
		return "", locale.Err("webhook_url_too_long")
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Scheme == "" || u.Host == "" {
		return "", locale.Err("webhook_url_invalid")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowPrivate {
			return "", locale.Err("webhook_url_https_required")
		}
	default:
		if len(u.Scheme) > 10 {
			return "", locale.Err("webhook_url_https_required")
		}
		return "", locale.Err("url_scheme", "scheme", u.Scheme)
	}
	if u.User != nil {
		return "", locale.Err("webhook_url_credentials")
	}
	if u.Fragment != "" {
		return "", locale.Err("url_fragment")
	}
	host := u.Hostname()
	if host == "" {
		return "", locale.Err("webhook_url_invalid")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", locale.Err("url_ipv6_zone")
		}
		if err := p.webhookIP(ip); err != nil {
			return "", err
		}
		if ip.Is6() {
			host = "[" + ip.String() + "]"
		} else {
			host = ip.String()
		}
	} else {
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if err := checkName(host); err != nil {
			if m, ok := locale.MessageOf(err); ok && m.Code == "url_host_invalid" {
				return "", locale.Err("webhook_url_invalid")
			}
			return "", err
		}
		labels := strings.Split(host, ".")
		if isNumber(labels[len(labels)-1]) {
			// An IPv4 address in another notation (0177.1, 2130706433): written out, it is
			// checked as the address it is.
			return "", locale.Err("url_ipv4_form")
		}
		if !p.AllowPrivate {
			for _, suffix := range localSuffixes {
				if host == suffix || strings.HasSuffix(host, "."+suffix) {
					return "", locale.Err("webhook_url_local_name", "host", shorten(host))
				}
			}
			if len(labels) < 2 {
				return "", locale.Err("webhook_url_local_name", "host", shorten(host))
			}
		}
	}
	port, err := p.webhookPort(u.Scheme, u.Port())
	if err != nil {
		return "", err
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.RawPath = ""
	return u.String(), nil
}

// webhookPort returns the port to keep ("" for the scheme's default); any port is fine for a
// receiver.
func (p Policy) webhookPort(scheme, port string) (string, error) {
	if port == "" {
		return "", nil
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' || n > 65535 {
			return "", locale.Err("url_port_invalid")
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return "", locale.Err("url_port_invalid")
	}
	if scheme == "https" && n == 443 || scheme == "http" && n == 80 {
		return "", nil
	}
	return port, nil
}

// webhookIP refuses an address a receiver may not be at.
func (p Policy) webhookIP(ip netip.Addr) error {
	if p.AllowPrivate && reachableWhenPrivate(ip) || IsPublic(ip) {
		return nil
	}
	return locale.Wrap(locale.M("webhook_address_private", "ip", ip.WithZone("").String()), ErrPrivateAddress)
}

// resolveTimeout bounds the name lookup of CheckWebhookAddress.
const resolveTimeout = 5 * time.Second

// CheckWebhookAddress resolves the host of a URL CheckWebhookURL accepted and refuses it when
// any of its addresses is private or reserved, so that a receiver in a private network is
// refused when it is entered, not only when it is called. A name that does not resolve is
// refused too. The connection-time check (NewHTTPClient) still applies to every call.
func (p Policy) CheckWebhookAddress(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return locale.Err("webhook_url_invalid")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.webhookIP(ip)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return locale.Err("webhook_host_unknown", "host", shorten(host))
	}
	for _, ip := range addrs {
		if err := p.webhookIP(ip.Unmap()); err != nil {
			return err
		}
	}
	return nil
}
