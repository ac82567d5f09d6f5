package prometheus_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/observe/prometheus"
	"github.com/planguard/planguard/planguardtest"
)

// The Collector counts what the middleware decides. Here the middleware
// is driven by planguardtest; a server passes col.Observe the same way
// in its middleware.Config, and serves the metrics on /metrics.
func ExampleNew() {
	col := prometheus.New(prometheus.Config{})
	metrics := promclient.NewRegistry() // or promclient.MustRegister(col)
	metrics.MustRegister(col)

	kit, err := planguardtest.New(planguardtest.Config{
		JSON: `{
		  "services": [{"id": "service-orders01", "name": "orders", "environments": ["release"],
		    "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}],
		  "keys": [{"id": "AKIDexample0000000000000000000000000001", "name": "partner", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
		  "plans": [{"id": "usagePlan-silver01", "name": "silver", "qps": 100, "quota": 2, "quotaPeriod": "day",
		    "keys": ["AKIDexample0000000000000000000000000001"],
		    "bindings": [{"service": "service-orders01", "environment": "release"}]}]
		}`,
		Middleware: middleware.Config{Observer: col.Observe},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kit.Close()
	fmt.Println(kit.Run(planguardtest.Traffic{Key: "AKIDexample0000000000000000000000000001", API: "getOrder", Count: 3}))

	// A scrape, as Prometheus would make it; the request counters only.
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "planguard_requests_total{") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// admitted=2 quota=1
	// planguard_requests_total{api="api-get00001",environment="release",plan="usagePlan-silver01",result="admitted",service="service-orders01"} 2
	// planguard_requests_total{api="api-get00001",environment="release",plan="usagePlan-silver01",result="quota",service="service-orders01"} 1
}
