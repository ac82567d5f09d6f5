package otel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// BenchmarkObserver sends a signed request through the middleware, in
// parallel, in the same run: without an observer or span ("none"); with
// the Observer on the no-op meter and a no-op tracer's span ("noop");
// with an SDK tracer's span (always sampled, batched to a discarding
// exporter) but no observer ("sdk-span-only"), the cost of tracing
// itself; and with the Observer on the SDK meter (a manual reader) and
// that span ("sdk").
func BenchmarkObserver(b *testing.B) {
	cfg := strings.Replace(testConfig, `"qps": 1, "quota": -1,`, `"qps": 10000000, "quota": 1000000000000,`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.RegistryConfig{MaxQPS: 1e7, MaxQuota: 1e12})
	if err != nil {
		b.Fatal(err)
	}
	signed := httptest.NewRequest("GET", "/release/orders", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "bench"}
	if err := s.SignAt(signed, time.Now()); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, obs middleware.Observer, tracer trace.Tracer) {
		lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
		mw, err := middleware.New(reg, lim, middleware.Config{Observer: obs})
		if err != nil {
			b.Fatal(err)
		}
		h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
		if tracer != nil {
			inner := h
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, span := tracer.Start(r.Context(), "request")
				inner.ServeHTTP(w, r.WithContext(ctx))
				span.End()
			})
		}
		scatter.Serve(b, 1, h, 200, signed)
	}
	sdkTracer := func(b *testing.B) trace.Tracer {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		return tp.Tracer("bench")
	}
	b.Run("none", func(b *testing.B) { run(b, nil, nil) })
	b.Run("noop", func(b *testing.B) {
		obs, err := New(Config{MeterProvider: metricnoop.NewMeterProvider(), Registry: reg})
		if err != nil {
			b.Fatal(err)
		}
		run(b, obs.Observe, tracenoop.NewTracerProvider().Tracer("bench"))
	})
	b.Run("sdk-span-only", func(b *testing.B) { run(b, nil, sdkTracer(b)) })
	b.Run("sdk", func(b *testing.B) {
		obs, err := New(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())), Registry: reg})
		if err != nil {
			b.Fatal(err)
		}
		run(b, obs.Observe, sdkTracer(b))
	})
}
