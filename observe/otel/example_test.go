package otel_test

import (
	"context"
	"fmt"
	"sort"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/observe/otel"
	"github.com/planguard/planguard/planguardtest"
)

// The Observer records what the middleware decides through the
// OpenTelemetry metrics API (and sets attributes on the request's span,
// when the context has one). Here the middleware is driven by
// planguardtest and the metrics are read back with a manual reader; a
// server passes obs.Observe the same way in its middleware.Config, with
// its own meter provider or the global one.
func ExampleNew() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	obs, err := otel.New(otel.Config{MeterProvider: provider})
	if err != nil {
		fmt.Println(err)
		return
	}

	kit, err := planguardtest.New(planguardtest.Config{
		JSON: `{
		  "services": [{"id": "service-orders01", "name": "orders", "environments": ["release"],
		    "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}],
		  "keys": [{"id": "AKIDexample0000000000000000000000000001", "name": "partner", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
		  "plans": [{"id": "usagePlan-silver01", "name": "silver", "qps": 100, "quota": 2, "quotaPeriod": "day",
		    "keys": ["AKIDexample0000000000000000000000000001"],
		    "bindings": [{"service": "service-orders01", "environment": "release"}]}]
		}`,
		Middleware: middleware.Config{Observer: obs.Observe},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kit.Close()
	fmt.Println(kit.Run(planguardtest.Traffic{Key: "AKIDexample0000000000000000000000000001", API: "getOrder", Count: 3}))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != "planguard.requests" || !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				result, _ := p.Attributes.Value(otel.AttrResult)
				plan, _ := p.Attributes.Value(otel.AttrPlan)
				lines = append(lines, fmt.Sprintf("%s %s=%s %s=%s: %d", m.Name,
					otel.AttrResult, result.Emit(), otel.AttrPlan, plan.Emit(), p.Value))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// admitted=2 quota=1
	// planguard.requests planguard.result=admitted planguard.plan.id=usagePlan-silver01: 2
	// planguard.requests planguard.result=quota planguard.plan.id=usagePlan-silver01: 1
}
