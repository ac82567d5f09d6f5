package middleware

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/usageplan"
)

// A plan's burst, windows and per-API throttle apply over HTTP, all or
// nothing: RateLimit-Policy lists every policy of the request's API,
// RateLimit the one closest to exhaustion, Retry-After the longest wait.
func TestPlanLimitsOverHTTP(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	gold, _ := f.reg.Snapshot().Plan("usagePlan-gold0001")
	gold.QPS, gold.Burst, gold.Quota = 10, 3, 100
	gold.Limits = []usageplan.Window{{Name: "per_minute", Requests: 5, Per: time.Minute}}
	gold.Throttles = map[string]usageplan.Throttle{"api-get00001": {QPS: 1, Burst: 2}}
	require.NoError(t, f.reg.UpdatePlan(gold))

	// The throttled API: its own bucket of 2, then the plan's.
	for i := range 2 {
		r := f.do(t, "GET", "/release/orders/7", goldKey, goldSecret, nil)
		require.Equal(t, 200, r.status, "request %d", i)
		assert.Equal(t, `"throttle";q=1;w=1, "qps";q=10;w=1, "per_minute";q=5;w=60, "quota";q=100;w=86400`, r.header.Get(HeaderRateLimitPolicy))
	}
	r := f.do(t, "GET", "/release/orders/7", goldKey, goldSecret, nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, MessageQPS, r.body["message"])
	assert.Equal(t, `"throttle";r=0;t=1`, r.header.Get(HeaderRateLimitState))
	assert.Equal(t, "1", r.header.Get(HeaderRetryAfter))
	assert.Equal(t, "98/100", r.header.Get(HeaderQuota), "the refusal consumed no quota")
	assert.Equal(t, "10", r.header.Get(HeaderRateLimit), "X-UsagePlan-RateLimit keeps reporting qps")

	// Another API: no throttle item; the burst of 3 allows one more
	// (two were taken), then the plan's bucket refuses.
	r = f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, `"qps";q=10;w=1, "per_minute";q=5;w=60, "quota";q=100;w=86400`, r.header.Get(HeaderRateLimitPolicy))
	r = f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, `"qps";r=0;t=1`, r.header.Get(HeaderRateLimitState))

	// A second later: the window (5 per minute, 3 used) is the closest
	// to exhaustion, then refuses with its own wait.
	f.advance(time.Second)
	r = f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, `"per_minute";r=1;t=47`, r.header.Get(HeaderRateLimitState)) // full again in 47 s
	r = f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, r.status)
	r = f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, `"per_minute";r=0;t=11`, r.header.Get(HeaderRateLimitState))
	assert.Equal(t, "11", r.header.Get(HeaderRetryAfter), "the window's wait")
	assert.Equal(t, "95/100", r.header.Get(HeaderQuota))
}

// A plan with enforce false is a dry run on its own: served, reported.
func TestPlanDryRunOverHTTP(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	gold, _ := f.reg.Snapshot().Plan("usagePlan-gold0001")
	gold.QPS, gold.DryRun = 1, true
	require.NoError(t, f.reg.UpdatePlan(gold))
	require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, `"qps";r=0;t=1`, r.header.Get(HeaderRateLimitState))
	assert.Empty(t, r.header.Get(HeaderRetryAfter))
	assert.Equal(t, "99/100", r.header.Get(HeaderQuota), "the refused request consumed nothing")
}
