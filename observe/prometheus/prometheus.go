// Package prometheus exports planguard's decisions as Prometheus
// metrics: a Collector fed by the middleware's Observer hook.
//
//	col := prometheus.New(prometheus.Config{Registry: reg})
//	promclient.MustRegister(col)
//	mw, err := middleware.New(reg, lim, middleware.Config{Observer: col.Observe})
//
// Requests are counted by result, environment, service, API and plan,
// never by key: keys can number millions. Quota alerts are counted by
// plan and threshold when the Collector's Alert method is the limiter's
// alert hook (limiter.Config.OnAlert). The metric names, labels and
// units are listed in docs/observability.md.
package prometheus

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// Config holds the Collector's optional settings.
type Config struct {
	// Registry, when set, is exported as planguard_registry_revision
	// and, for a managed registry (usageplan.OpenManaged), as
	// planguard_journal_unreachable_since_seconds (the Unix time since
	// which the registry cannot read or apply its journal, so serves its
	// last snapshot; 0 while it can), planguard_journal_lag_revisions (the
	// revisions it read and has not applied) and
	// planguard_journal_lagging_since_seconds (the Unix time the oldest
	// of those was committed; 0 when it lags none): alert on time() -
	// since. All are read at each scrape (Registry.Status).
	Registry *usageplan.Registry
	// Buckets of the planguard_request_duration_seconds and
	// planguard_store_call_duration_seconds histograms; nil means
	// DefaultBuckets.
	Buckets []float64
	// ConstLabels are added to every metric (an instance's name, say).
	ConstLabels prometheus.Labels
}

// DefaultBuckets span planguard's own time, from a cached decision
// (microseconds) to a slow store round trip (a quarter of a second).
var DefaultBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}

// Collector is a prometheus.Collector of planguard's decisions. Register
// it and pass its Observe method as middleware.Config.Observer (or call
// it from an Observer of your own). It is safe for concurrent use:
// Observe is called from every goroutine serving a request, and Collect
// from the scrape's. The zero Collector is not usable: make one with New.
type Collector struct {
	requests    *prometheus.CounterVec   // result, environment, service, api, plan
	authRefused *prometheus.CounterVec   // reason
	duration    *prometheus.HistogramVec // result
	storeTime   prometheus.Histogram
	storeErrors prometheus.Counter
	alerts      *prometheus.CounterVec // plan, threshold
	journal     []prometheus.Collector // the registry's revision and journal gauges; nil without a Registry
	series      sync.Map               // series → *children, looked up once per series
}

// series is a request's labels.
type series struct {
	reason                          middleware.Reason
	environment, service, api, plan string
}

// children are a series' counter and histogram.
type children struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// New returns a Collector.
func New(o Config) *Collector {
	buckets := o.Buckets
	if buckets == nil {
		buckets = DefaultBuckets
	}
	c := &Collector{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "planguard_requests_total", ConstLabels: o.ConstLabels,
			Help: "Requests decided by planguard, by result (admitted, not_found, auth, no_plan, qps, quota, store_failure).",
		}, []string{"result", "environment", "service", "api", "plan"}),
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "planguard_auth_refusals_total", ConstLabels: o.ConstLabels,
			Help: "Requests refused for their signature, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "planguard_request_duration_seconds", ConstLabels: o.ConstLabels, Buckets: buckets,
			Help: "Time planguard spent on a request up to its decision (not the handler's), by result.",
		}, []string{"result"}),
		storeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "planguard_store_call_duration_seconds", ConstLabels: o.ConstLabels, Buckets: buckets,
			Help: "Time of the limiter call that consults the quota store, per request that reached it.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "planguard_store_errors_total", ConstLabels: o.ConstLabels,
			Help: "Limiter calls that failed because the quota store did.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "planguard_quota_alerts_total", ConstLabels: o.ConstLabels,
			Help: "Keys whose quota consumption in a period reached one of their plan's alert thresholds, by plan and threshold (percent of the quota).",
		}, []string{"plan", "threshold"}),
	}
	if reg := o.Registry; reg != nil {
		gauge := func(name, help string, value func(usageplan.JournalStatus) float64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: o.ConstLabels},
				func() float64 { return value(reg.Status()) })
		}
		c.journal = []prometheus.Collector{
			gauge("planguard_registry_revision", "Changes applied to the registry (its snapshot's Revision).",
				func(st usageplan.JournalStatus) float64 { return float64(st.Revision) }),
			gauge("planguard_journal_unreachable_since_seconds", "Unix time since which a managed registry cannot read or apply its journal; 0 while it can.",
				func(st usageplan.JournalStatus) float64 { return unixSeconds(st.Since, st.Err != nil) }),
			gauge("planguard_journal_lag_revisions", "Revisions a managed registry read from its journal and has not applied.",
				func(st usageplan.JournalStatus) float64 { return float64(st.Head - st.Revision) }),
			gauge("planguard_journal_lagging_since_seconds", "Unix time at which the oldest revision a managed registry read and has not applied was committed; 0 when it lags none.",
				func(st usageplan.JournalStatus) float64 { return unixSeconds(st.Lagging, !st.Lagging.IsZero()) }),
		}
	}
	return c
}

// unixSeconds is t in Unix seconds if set, else 0.
func unixSeconds(t time.Time, set bool) float64 {
	if !set {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Observe counts one decision; it is a middleware.Observer.
func (c *Collector) Observe(_ context.Context, e *middleware.Event) {
	k := series{reason: e.Reason, environment: e.Caller.Environment, service: e.Caller.Service}
	if e.Caller.API != nil {
		k.api = e.Caller.API.ID
	}
	if e.Caller.Plan != nil {
		k.plan = e.Caller.Plan.ID
	}
	ch := c.children(k)
	ch.requests.Inc()
	ch.duration.Observe(e.Elapsed.Seconds())
	if e.Reason == middleware.RefusedAuth {
		c.authRefused.WithLabelValues(e.AuthReason.String()).Inc()
	}
	if e.StoreCalled {
		c.storeTime.Observe(e.StoreElapsed.Seconds())
		if e.StoreErr != nil {
			c.storeErrors.Inc()
		}
	}
}

// Alert counts one quota alert, by plan and threshold (never by key);
// it is a limiter.Config.OnAlert, or call it from a hook of your own.
// It is safe for concurrent use.
func (c *Collector) Alert(a limiter.Alert) {
	c.alerts.WithLabelValues(a.Plan, strconv.Itoa(a.Threshold)).Inc()
}

// children returns k's metrics, looked up in the vectors once.
func (c *Collector) children(k series) *children {
	if v, ok := c.series.Load(k); ok {
		return v.(*children)
	}
	result := k.reason.String()
	ch := &children{
		requests: c.requests.WithLabelValues(result, k.environment, k.service, k.api, k.plan),
		duration: c.duration.WithLabelValues(result),
	}
	v, _ := c.series.LoadOrStore(k, ch)
	return v.(*children)
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.requests.Describe(ch)
	c.authRefused.Describe(ch)
	c.duration.Describe(ch)
	c.storeTime.Describe(ch)
	c.storeErrors.Describe(ch)
	c.alerts.Describe(ch)
	for _, g := range c.journal {
		g.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.requests.Collect(ch)
	c.authRefused.Collect(ch)
	c.duration.Collect(ch)
	c.storeTime.Collect(ch)
	c.storeErrors.Collect(ch)
	c.alerts.Collect(ch)
	for _, g := range c.journal {
		g.Collect(ch)
	}
}
