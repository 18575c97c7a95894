package clientip

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClient(t *testing.T) {
	p, err := Parse(" 10.0.0.0/8, 127.0.0.1 ,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy: the header is ignored", "198.51.100.9:4000", []string{"203.0.113.7"}, "198.51.100.9"},
		{"a trusted proxy", "10.1.2.3:4000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"a forged entry left of the real client", "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.7"}, "203.0.113.7"},
		{"a chain of trusted proxies", "127.0.0.1:4000", []string{"203.0.113.7, 10.9.9.9"}, "203.0.113.7"},
		{"two headers", "127.0.0.1:4000", []string{"1.1.1.1", "203.0.113.7,10.0.0.5"}, "203.0.113.7"},
		{"all hops trusted", "127.0.0.1:4000", []string{"10.0.0.1"}, "10.0.0.1"},
		{"a malformed hop stops the walk", "10.1.2.3:4000", []string{"203.0.113.7, garbage"}, "10.1.2.3"},
		{"no header from a proxy", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"IPv6 and a port in the header", "[2001:db8::1]:443", []string{"[2001:db8:ffff::9]:1234, 198.51.100.4:5555"}, "198.51.100.4"},
		{"an IPv4-mapped peer", "[::ffff:10.0.0.1]:80", []string{"203.0.113.8"}, "203.0.113.8"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, h := range c.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		if got := p.Client(r); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if _, err := Parse("10.0.0.0/33"); err == nil {
		t.Error("a bad network parsed")
	}
	if _, err := Parse("proxy.example"); err == nil {
		t.Error("a host name parsed")
	}
	if p.String() != "10.0.0.0/8,127.0.0.1/32,2001:db8::/32" {
		t.Errorf("String: %s", p)
	}
}

func TestHandlerRewritesRemoteAddr(t *testing.T) {
	p, _ := Parse("10.0.0.0/8")
	var seen string
	h := p.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:999"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "203.0.113.7:0" {
		t.Fatalf("RemoteAddr %q", seen)
	}
	var none Proxies
	r.RemoteAddr = "10.0.0.2:999"
	none.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })).ServeHTTP(httptest.NewRecorder(), r)
	if seen != "10.0.0.2:999" {
		t.Fatalf("without proxies: %q", seen)
	}
}
