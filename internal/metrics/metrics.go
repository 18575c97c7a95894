// Package metrics exposes the service's Prometheus metrics: runs by status, orders imported,
// RetailCRM requests, errors and latency, and the job queue's depth.
package metrics

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one process.
type Metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec
	orders      *prometheus.CounterVec
	crmRequests *prometheus.CounterVec
	crmLatency  *prometheus.HistogramVec
}

// New registers the collectors; queueDepth (may be nil) is asked at scrape time.
func New(queueDepth func(ctx context.Context) (int, error)) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderimport_runs_total", Help: "Import runs that reached a final status."}, []string{"status"})
	m.orders = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderimport_orders_total", Help: "Orders written by imports, by what happened to them."}, []string{"op"})
	m.crmRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderimport_retailcrm_requests_total", Help: "HTTP requests sent to RetailCRM, by endpoint and status code (\"error\" for transport failures)."}, []string{"endpoint", "code"})
	m.crmLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderimport_retailcrm_request_seconds", Help: "Latency of RetailCRM requests.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"endpoint"})
	m.reg.MustRegister(m.runs, m.orders, m.crmRequests, m.crmLatency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "orderimport_queue_depth", Help: "Import runs waiting for a worker."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := queueDepth(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

// LogRedactions exports how many log records had a secret taken out (count is asked at scrape
// time). Code never logs a secret, so anything above 0 is a bug to find: alert on it.
func (m *Metrics) LogRedactions(count func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "orderimport_log_secrets_redacted_total",
		Help: "Log records a secret had to be redacted from; above 0 means a code path tried to log a secret."},
		func() float64 { return float64(count()) }))
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// RunFinished counts a finished run.
func (m *Metrics) RunFinished(status string) { m.runs.WithLabelValues(status).Inc() }

// Orders counts order writes.
func (m *Metrics) Orders(created, updated, deleted, invalid int64) {
	m.orders.WithLabelValues("created").Add(float64(created))
	m.orders.WithLabelValues("updated").Add(float64(updated))
	m.orders.WithLabelValues("deleted").Add(float64(deleted))
	m.orders.WithLabelValues("invalid").Add(float64(invalid))
}

// numericSegment keeps label cardinality bounded: /api/v5/orders/123 → /api/v5/orders/{id}.
var numericSegment = regexp.MustCompile(`/[0-9]+(/|$)`)

// Transport instruments an outbound transport with request counts and latency. Only the
// path is used as a label: keys travel in a header, never in the URL, and hosts (tenants)
// would explode cardinality.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		endpoint := numericSegment.ReplaceAllString(r.URL.Path, "/{id}$1")
		start := time.Now()
		resp, err := next.RoundTrip(r)
		m.crmLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		code := "error"
		if err == nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		m.crmRequests.WithLabelValues(endpoint, code).Inc()
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
