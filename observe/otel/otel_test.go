package otel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

const (
	goldKey    = "AKIDgold000000000001"
	goldSecret = "gold-secret-0123456789"
)

const testConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [{"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"}]}
  ],
  "keys": [{"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"}],
  "plans": [
    {"id": "usagePlan-slow0001", "name": "slow", "qps": 1, "quota": -1,
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]}
  ]
}`

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestObserverSpansAndMetrics sends an admitted, a QPS-refused and an
// unsigned request over real HTTP through a span-starting handler and
// checks the span attributes and the metrics.
func TestObserverSpansAndMetrics(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader()
	obs, err := New(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), Registry: reg})
	require.NoError(t, err)
	mw, err := middleware.New(reg, lim, middleware.Config{Observer: obs.Observe, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	spans := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test")
	inner := mw.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "request")
		defer span.End()
		inner.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer srv.Close()
	get := func(sign bool) int {
		req, err := http.NewRequest("GET", srv.URL+"/release/orders", nil)
		require.NoError(t, err)
		if sign {
			require.NoError(t, (&keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "t"}).SignAt(req, t0))
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, get(true))
	require.Equal(t, 429, get(true))
	require.Equal(t, 401, get(false))

	ended := spans.Ended()
	require.Len(t, ended, 3)
	attrs := func(i int) map[attribute.Key]string {
		m := map[attribute.Key]string{}
		for _, kv := range ended[i].Attributes() {
			m[kv.Key] = kv.Value.Emit()
		}
		return m
	}
	rev := reg.Snapshot().Version()
	base := map[attribute.Key]string{AttrEnvironment: "release", AttrService: "service-abcd1234", AttrAPI: "api-list0001",
		AttrRevision: attribute.Int64Value(int64(rev)).Emit()}
	with := func(extra map[attribute.Key]string) map[attribute.Key]string {
		m := map[attribute.Key]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	require.Equal(t, with(map[attribute.Key]string{AttrResult: "admitted", AttrPlan: "usagePlan-slow0001", AttrKey: goldKey}), attrs(0))
	require.Equal(t, with(map[attribute.Key]string{AttrResult: "qps", AttrPlan: "usagePlan-slow0001", AttrKey: goldKey, "error.type": "qps"}), attrs(1))
	require.Equal(t, with(map[attribute.Key]string{AttrResult: "auth", AttrAuthReason: "no_authorization", "error.type": "auth"}), attrs(2))

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]any{}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					result, _ := p.Attributes.Value(AttrResult)
					_, byKey := p.Attributes.Value(AttrKey)
					require.False(t, byKey, "no metric by key")
					got[m.Name+" "+result.AsString()] = p.Value
				}
			case metricdata.Histogram[float64]:
				var n uint64
				for _, p := range d.DataPoints {
					n += p.Count
				}
				got[m.Name+" "+m.Unit] = n
			case metricdata.Gauge[int64]:
				got[m.Name] = d.DataPoints[0].Value
			case metricdata.Gauge[float64]:
				got[m.Name] = d.DataPoints[0].Value
			}
		}
	}
	require.Equal(t, map[string]any{
		"planguard.requests admitted": int64(1), "planguard.requests qps": int64(1), "planguard.requests auth": int64(1),
		"planguard.request.duration s": uint64(3), "planguard.store.call.duration s": uint64(2),
		"planguard.registry.revision": int64(rev), "planguard.journal.lag": int64(0),
		"planguard.journal.lagging_since": float64(0), "planguard.journal.unreachable_since": float64(0),
	}, got)
}

// A managed registry that cannot apply a revision it read (run with
// lower ceilings than the instance that committed it) is reported with
// how many revisions it lags and since when.
func TestJournalGauges(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	j := usageplan.NewMemoryJournal()
	a, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{Now: func() time.Time { return at }, MaxBurst: 20_000})
	require.NoError(t, err)
	defer a.Close()
	b, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{Now: func() time.Time { return at.Add(time.Hour) }})
	require.NoError(t, err)
	defer b.Close()
	_, err = a.CreatePlan(usageplan.Plan{Name: "wide", QPS: 10, Burst: 15_000, Quota: -1}) // over b's burst ceiling
	require.NoError(t, err)
	_, err = a.CreatePlan(usageplan.Plan{Name: "after", QPS: 10, Quota: -1})
	require.NoError(t, err)
	require.Error(t, b.Sync(ctx))

	reader := sdkmetric.NewManualReader()
	_, err = New(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), Registry: b})
	require.NoError(t, err)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]any{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				got[m.Name] = d.DataPoints[0].Value
			case metricdata.Gauge[float64]:
				got[m.Name] = d.DataPoints[0].Value
			}
		}
	}
	require.Equal(t, map[string]any{
		"planguard.registry.revision": int64(0), "planguard.journal.lag": int64(2),
		"planguard.journal.lagging_since":     float64(at.Unix()),
		"planguard.journal.unreachable_since": float64(at.Add(time.Hour).Unix()),
	}, got)
}

// The duration histograms resolve planguard's own times (microseconds
// to a quarter of a second, in seconds): 20 µs, 500 µs and 200 ms fall
// in three buckets of DefaultBuckets, not all in the SDK's first.
func TestDurationHistogramBuckets(t *testing.T) {
	for _, buckets := range [][]float64{nil, {0.0001, 0.001, 0.1}} {
		reader := sdkmetric.NewManualReader()
		obs, err := New(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), Buckets: buckets})
		require.NoError(t, err)
		ctx := context.Background()
		for _, d := range []time.Duration{20 * time.Microsecond, 500 * time.Microsecond, 200 * time.Millisecond} {
			obs.Observe(ctx, &middleware.Event{Reason: middleware.Admitted, Caller: &middleware.Caller{}, Elapsed: d, StoreCalled: true, StoreElapsed: d})
		}
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(ctx, &rm))
		want := DefaultBuckets
		if buckets != nil {
			want = buckets
		}
		histograms := 0
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok {
					continue
				}
				histograms++
				require.Len(t, h.DataPoints, 1, m.Name)
				p := h.DataPoints[0]
				require.Equal(t, want, p.Bounds, m.Name)
				filled := 0
				for _, c := range p.BucketCounts {
					if c > 0 {
						filled++
					}
				}
				require.Equal(t, 3, filled, "%s: 20µs, 500µs and 200ms in %d buckets", m.Name, filled)
			}
		}
		require.Equal(t, 2, histograms)
	}
}
