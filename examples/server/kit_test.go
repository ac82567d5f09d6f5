package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/planguardtest"
	"github.com/planguard/planguard/usageplan"
)

const test01 = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"

// equal fails the test when got is not want.
func equal[T comparable](t *testing.T, want, got T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func noError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newKit serves testdata/name behind the middleware and this server's
// echo handler, on the kit's clock.
func newKit(t *testing.T, name string) *planguardtest.Kit {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	noError(t, err)
	kit, err := planguardtest.New(planguardtest.Config{JSON: string(data), Handler: http.HandlerFunc(echo)})
	noError(t, err)
	t.Cleanup(func() { kit.Close() })
	return kit
}

// testdata/config.json: the gold plan admits 3 requests a month (in
// Asia/Shanghai) at up to 1000 QPS in release; the key has no plan in
// test; health needs no key. The quota comes back when the month turns
// in Shanghai, not in UTC.
func TestConfigWithTheKit(t *testing.T) {
	kit := newKit(t, "config.json")
	res := kit.Run(planguardtest.Traffic{Key: test01, API: "getOrder", Rate: 10, For: time.Second})
	equal(t, "admitted=3 quota=7", res.String(), "a second at 10 rps")
	last := res.Last()
	equal(t, "0/3", last.Header.Get(middleware.HeaderQuota), "X-UsagePlan-Quota")
	// Start is 1 June 00:00 UTC, 08:00 in Shanghai: the month ends 30 June 16:00 UTC.
	monthEnd := time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC)
	equal(t, true, last.Decision.Reset.Equal(monthEnd), "reset "+last.Decision.Reset.String())
	equal(t, "2563200", last.Header.Get(middleware.HeaderRetryAfter), "Retry-After: 29 days and 16 hours from 0.9 s, rounded up")

	equal(t, "no_plan=2", kit.Run(planguardtest.Traffic{Key: test01, API: "getOrder", Environment: "test", Count: 2}).String(), "in test")
	equal(t, "admitted=5", kit.Run(planguardtest.Traffic{API: "health", Count: 5}).String(), "health")

	kit.Clock.Sleep(monthEnd.Sub(kit.Clock.Now()) - time.Second)
	equal(t, "quota=1", kit.Run(planguardtest.Traffic{Key: test01, API: "listOrders"}).String(), "a second before the month turns")
	res = kit.Run(planguardtest.Traffic{Key: test01, API: "createOrder", Count: 4, After: time.Second})
	equal(t, "admitted=3 quota=1", res.String(), "the next month")

	// The echo handler saw the plan and the key.
	var body map[string]string
	noError(t, json.Unmarshal(res.Responses[0].Body, &body))
	equal(t, "gold", body["planName"], "planName")
	equal(t, test01, body["secretId"], "secretId")
}

// testdata/limits.json: in release, the shaped plan's per_hour window
// (4) binds before its QPS, burst and quota, and getOrder's throttle
// (1 QPS, burst 2) before that; in test, the trial plan is a dry run:
// every request is served, the refusals only reported.
func TestLimitsConfigWithTheKit(t *testing.T) {
	kit := newKit(t, "limits.json")
	res := kit.Run(planguardtest.Traffic{Key: test01, API: "getOrder", Count: 3})
	equal(t, "admitted=2 qps=1", res.String(), "getOrder at once")
	equal(t, limiter.LimitThrottle, res.Last().Decision.Refused, "refused by")
	equal(t, "1", res.Last().Header.Get(middleware.HeaderRetryAfter), "Retry-After")

	res = kit.Run(planguardtest.Traffic{Key: test01, API: "listOrders", Count: 4, After: time.Minute})
	equal(t, "admitted=2 qps=2", res.String(), "two of the hour's four went to getOrder")
	last := res.Last()
	equal(t, limiter.LimitWindow, last.Decision.Refused, "refused by")
	equal(t, 429, last.Status, "status")
	equal(t, `"qps";q=100;w=1, "per_hour";q=4;w=3600, "per_10s";q=50;w=10, "quota";q=1000;w=86400`,
		last.Header.Get(middleware.HeaderRateLimitPolicy), "RateLimit-Policy")
	equal(t, "996/1000", last.Header.Get(middleware.HeaderQuota), "X-UsagePlan-Quota")

	res = kit.Run(planguardtest.Traffic{Key: test01, API: "listOrders", Environment: "test", Rate: 2, For: 2 * time.Second})
	equal(t, "admitted=1 qps=3 dry_run=3", res.String(), "the trial plan")
	equal(t, 4, res.Statuses()[200], "a dry run serves every request")
}

// The echo handler, unit-tested without the middleware: the Caller is
// put in the request's context by hand.
func TestEchoWithoutTheMiddleware(t *testing.T) {
	api := &usageplan.API{ID: "api-get00001", Name: "getOrder"}
	plan := &usageplan.Plan{ID: "usagePlan-kgf82zcd", Name: "gold"}
	r := httptest.NewRequest("GET", "/orders/42", nil)
	r = r.WithContext(middleware.NewContext(r.Context(), middleware.Caller{
		Service: "service-abcd1234", Environment: "release", API: api, SecretID: test01, Plan: plan,
	}))
	w := httptest.NewRecorder()
	echo(w, r)
	equal(t, 200, w.Code, "status")
	var body map[string]string
	noError(t, json.Unmarshal(w.Body.Bytes(), &body))
	want := map[string]string{
		"service": "service-abcd1234", "environment": "release", "api": "api-get00001", "apiName": "getOrder",
		"path": "/orders/42", "bodyBytes": "0", "plan": "usagePlan-kgf82zcd", "planName": "gold", "secretId": test01,
	}
	if !maps.Equal(want, body) {
		t.Fatalf("echo answered %v, want %v", body, want)
	}
}

// testdata/alerts.json: the metered plan's quota is 10 units a day and
// generate costs 3; its alerts at 50, 80 and 100 % (5, 8 and 10 units)
// each fire once, on the request that reaches them, and the quota then
// refuses.
func TestAlertsConfigWithTheKit(t *testing.T) {
	data, err := os.ReadFile("testdata/alerts.json")
	noError(t, err)
	var alerts []string
	kit, err := planguardtest.New(planguardtest.Config{JSON: string(data), Handler: http.HandlerFunc(echo),
		Limiter: limiter.Config{OnAlert: func(a limiter.Alert) { // the kit sends from one goroutine
			alerts = append(alerts, fmt.Sprintf("%d%% at %d/%d", a.Threshold, a.Used, a.Quota))
		}}})
	noError(t, err)
	t.Cleanup(func() { kit.Close() })

	res := kit.Run(
		planguardtest.Traffic{Key: test01, API: "generate"},             // 3 units
		planguardtest.Traffic{Key: test01, API: "listOrders", Count: 2}, // 5: 50 %
		planguardtest.Traffic{Key: test01, API: "generate"},             // 8: 80 %
		planguardtest.Traffic{Key: test01, API: "listOrders", Count: 3}, // 10: 100 %, then refused
	)
	equal(t, "admitted=6 quota=1", res.String(), "the day's traffic")
	equal(t, "[50% at 5/10 80% at 8/10 100% at 10/10]", fmt.Sprint(alerts), "alerts")
	equal(t, "0/10", res.Last().Header.Get(middleware.HeaderQuota), "X-UsagePlan-Quota: nothing left")

	kit.Clock.Sleep(24 * time.Hour) // a new day: the quota and the alerts start over
	equal(t, "admitted=3", kit.Run(planguardtest.Traffic{Key: test01, API: "generate", Count: 2}, planguardtest.Traffic{Key: test01, API: "listOrders"}).String(), "the next day")
	equal(t, 4, len(alerts), "the next day's 50 %")
}
