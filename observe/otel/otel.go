// Package otel reports planguard's decisions through OpenTelemetry: an
// Observer (for the middleware's Observer hook) that sets the decision's
// attributes on the request's span, and records metrics through the
// OTel metrics API.
//
//	obs, err := otel.New(otel.Config{Registry: reg}) // global providers by default
//	mw, err := middleware.New(reg, lim, middleware.Config{Observer: obs.Observe})
//
// The span is the one in the request's context (otelhttp's server span,
// say): put the tracing middleware outside planguard's. Metric and
// attribute names are listed in docs/observability.md; error.type is the
// semantic-convention name, the others are planguard's own, since the
// conventions have none for API usage plans.
package otel

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// Attribute keys, on spans and (but the key ID and the authentication
// reason) on metrics.
const (
	AttrResult      = attribute.Key("planguard.result") // middleware.Reason's String
	AttrEnvironment = attribute.Key("planguard.environment")
	AttrService     = attribute.Key("planguard.service.id")
	AttrAPI         = attribute.Key("planguard.api.id")
	AttrPlan        = attribute.Key("planguard.plan.id")
	AttrKey         = attribute.Key("planguard.key.id")      // spans only: keys can number millions
	AttrAuthReason  = attribute.Key("planguard.auth.reason") // spans only, on auth refusals
	AttrRevision    = attribute.Key("planguard.registry.revision")
)

// ScopeName is the instrumentation scope of the meter.
const ScopeName = "github.com/planguard/planguard/observe/otel"

// Config holds the Observer's optional settings.
type Config struct {
	// MeterProvider provides the meter; nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Registry, when set, is reported as planguard.registry.revision
	// and, for a managed registry (usageplan.OpenManaged), as
	// planguard.journal.lag (the revisions it read and has not applied),
	// planguard.journal.lagging_since (the Unix time the oldest of those
	// was committed) and planguard.journal.unreachable_since (the Unix
	// time since which it cannot read or apply its journal), each 0 when
	// there is none; all read at each collection (Registry.Status).
	Registry *usageplan.Registry
	// Buckets are the boundaries, in seconds, of the two duration
	// histograms; nil means DefaultBuckets. (The SDK's own default
	// boundaries, 0 to 10000, are made for milliseconds: every decision
	// would fall in their first bucket.) A View set on the meter
	// provider still overrides them.
	Buckets []float64
}

// DefaultBuckets span planguard's own time, from a cached decision
// (about 10 µs) to a slow quota store (a quarter of a second), in
// seconds: the Prometheus collector's buckets.
var DefaultBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}

// Observer records planguard's decisions; its Observe method is a
// middleware.Observer. It is safe for concurrent use (Observe is called
// from every goroutine serving a request). The zero Observer is not
// usable: make one with New.
type Observer struct {
	requests    metric.Int64Counter
	duration    metric.Float64Histogram
	storeTime   metric.Float64Histogram
	storeErrors metric.Int64Counter
	sets        sync.Map // series → *options, built once per series
}

// options are a series' attribute set as the instruments take it, in
// slices built once (a variadic argument built per call escapes).
type options struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// New returns an Observer on o's meter provider.
func New(o Config) (*Observer, error) {
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName)
	obs := &Observer{}
	buckets := metric.WithExplicitBucketBoundaries(DefaultBuckets...)
	if o.Buckets != nil {
		buckets = metric.WithExplicitBucketBoundaries(o.Buckets...)
	}
	var err error
	if obs.requests, err = m.Int64Counter("planguard.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests decided by planguard, by result.")); err != nil {
		return nil, err
	}
	if obs.duration, err = m.Float64Histogram("planguard.request.duration", metric.WithUnit("s"), buckets,
		metric.WithDescription("Time planguard spent on a request up to its decision (not the handler's).")); err != nil {
		return nil, err
	}
	if obs.storeTime, err = m.Float64Histogram("planguard.store.call.duration", metric.WithUnit("s"), buckets,
		metric.WithDescription("Time of the limiter call that consults the quota store.")); err != nil {
		return nil, err
	}
	if obs.storeErrors, err = m.Int64Counter("planguard.store.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Limiter calls that failed because the quota store did.")); err != nil {
		return nil, err
	}
	if reg := o.Registry; reg != nil {
		if err := registryGauges(m, reg); err != nil {
			return nil, err
		}
	}
	return obs, nil
}

// registryGauges reports reg's revision and how it follows its journal
// (Registry.Status), read at each collection.
func registryGauges(m metric.Meter, reg *usageplan.Registry) error {
	ints := []struct {
		name, unit, description string
		value                   func(usageplan.JournalStatus) int64
	}{
		{"planguard.registry.revision", "{change}", "Changes applied to the registry (its snapshot's Revision).",
			func(st usageplan.JournalStatus) int64 { return int64(st.Revision) }},
		{"planguard.journal.lag", "{change}", "Revisions a managed registry read from its journal and has not applied.",
			func(st usageplan.JournalStatus) int64 { return int64(st.Head - st.Revision) }},
	}
	for _, g := range ints {
		if _, err := m.Int64ObservableGauge(g.name, metric.WithUnit(g.unit), metric.WithDescription(g.description),
			metric.WithInt64Callback(func(_ context.Context, io metric.Int64Observer) error {
				io.Observe(g.value(reg.Status()))
				return nil
			})); err != nil {
			return err
		}
	}
	times := []struct {
		name, description string
		value             func(usageplan.JournalStatus) time.Time
	}{
		{"planguard.journal.unreachable_since", "Unix time since which a managed registry cannot read or apply its journal; 0 while it can.",
			func(st usageplan.JournalStatus) time.Time {
				if st.Err == nil {
					return time.Time{}
				}
				return st.Since
			}},
		{"planguard.journal.lagging_since", "Unix time at which the oldest revision a managed registry read and has not applied was committed; 0 when it lags none.",
			func(st usageplan.JournalStatus) time.Time { return st.Lagging }},
	}
	for _, g := range times {
		if _, err := m.Float64ObservableGauge(g.name, metric.WithUnit("s"), metric.WithDescription(g.description),
			metric.WithFloat64Callback(func(_ context.Context, io metric.Float64Observer) error {
				var v float64
				if t := g.value(reg.Status()); !t.IsZero() {
					v = float64(t.UnixNano()) / 1e9
				}
				io.Observe(v)
				return nil
			})); err != nil {
			return err
		}
	}
	return nil
}

// series is a metric series' labels.
type series struct {
	reason                          middleware.Reason
	environment, service, api, plan string
}

// attrs returns s's attribute set as the instruments' options, built
// once.
func (o *Observer) attrs(s series) *options {
	if v, ok := o.sets.Load(s); ok {
		return v.(*options)
	}
	kv := []attribute.KeyValue{AttrResult.String(s.reason.String()), AttrEnvironment.String(s.environment),
		AttrService.String(s.service), AttrAPI.String(s.api), AttrPlan.String(s.plan)}
	if s.reason != middleware.Admitted {
		kv = append(kv, semconv.ErrorTypeKey.String(s.reason.String()))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	v, _ := o.sets.LoadOrStore(s, &options{add: []metric.AddOption{set}, record: []metric.RecordOption{set}})
	return v.(*options)
}

// Observe records one decision: the span in ctx takes its attributes
// (when it is recording), the metrics its counts and times.
func (o *Observer) Observe(ctx context.Context, e *middleware.Event) {
	s := series{reason: e.Reason, environment: e.Caller.Environment, service: e.Caller.Service}
	if e.Caller.API != nil {
		s.api = e.Caller.API.ID
	}
	if e.Caller.Plan != nil {
		s.plan = e.Caller.Plan.ID
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		kv := make([]attribute.KeyValue, 0, 10)
		kv = append(kv, AttrResult.String(s.reason.String()), AttrRevision.Int64(int64(e.Revision)))
		if s.environment != "" {
			kv = append(kv, AttrEnvironment.String(s.environment))
		}
		if s.api != "" {
			kv = append(kv, AttrService.String(s.service), AttrAPI.String(s.api))
		}
		if s.plan != "" {
			kv = append(kv, AttrPlan.String(s.plan), AttrKey.String(e.Caller.SecretID))
		}
		if e.Reason != middleware.Admitted {
			kv = append(kv, semconv.ErrorTypeKey.String(s.reason.String()))
		}
		if e.Reason == middleware.RefusedAuth {
			kv = append(kv, AttrAuthReason.String(e.AuthReason.String()))
		}
		span.SetAttributes(kv...)
	}
	opt := o.attrs(s)
	o.requests.Add(ctx, 1, opt.add...)
	o.duration.Record(ctx, e.Elapsed.Seconds(), opt.record...)
	if e.StoreCalled {
		o.storeTime.Record(ctx, e.StoreElapsed.Seconds())
		if e.StoreErr != nil {
			o.storeErrors.Add(ctx, 1)
		}
	}
}
