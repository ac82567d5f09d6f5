package middleware

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// The dynamic header values are built in a fixed buffer; the widest
// values int64 limits allow must come out whole.
func TestUsageHeadersAtInt64Limits(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	plan := usageplan.Plan{QPS: math.MaxInt64, Quota: math.MaxInt64}
	ps := &planState{qps: one("9223372036854775807"), quota: "/9223372036854775807"}
	cases := []struct {
		name string
		d    limiter.Decision
		want map[string]string
	}{
		{"admitted", limiter.Decision{Allowed: true, Remaining: math.MaxInt64 - 1, Reset: now.Add(31 * 24 * time.Hour)},
			map[string]string{
				HeaderQuota:          "9223372036854775806/9223372036854775807",
				HeaderRateLimitState: `"quota";r=9223372036854775806;t=2678400`,
			}},
		{"refused by quota", limiter.Decision{Refused: limiter.LimitQuota, RetryAfter: 31 * 24 * time.Hour, Reset: now.Add(31 * 24 * time.Hour)},
			map[string]string{
				HeaderQuota:          "0/9223372036854775807",
				HeaderRateLimitState: `"quota";r=0;t=2678400`,
				HeaderRetryAfter:     "2678400",
			}},
		{"refused by QPS", limiter.Decision{Refused: limiter.LimitQPS, Remaining: math.MaxInt64, RetryAfter: time.Millisecond},
			map[string]string{
				HeaderQuota:          "9223372036854775807/9223372036854775807",
				HeaderRateLimitState: `"qps";r=0;t=1`,
				HeaderRetryAfter:     "1",
			}},
	}
	for _, c := range cases {
		h := http.Header{}
		var scratch headerScratch
		setUsageHeaders(h, &scratch, ps, &plan, c.d, now)
		for k, v := range c.want {
			assert.Equal(t, v, exact(h, k), "%s: %s", c.name, k)
		}
	}
}

// The cache keeps the newest snapshot's state; a request still on an
// older snapshot gets that snapshot's state without evicting the newer.
func TestDerivedCacheKeepsNewest(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.Options{})
	require.NoError(t, err)
	old := reg.Snapshot()
	gold, _ := old.Plan("usagePlan-gold0001")
	gold.QPS = 7
	require.NoError(t, reg.UpdatePlan(gold))
	cur := reg.Snapshot()

	var c derivedCache
	dNew := c.get(cur)
	require.Same(t, dNew, c.get(cur), "served from the cache")
	dOld := c.get(old)
	assert.Same(t, old, dOld.snap)
	assert.Same(t, dNew, c.cur.Load(), "an older snapshot does not evict the newer")

	oldGold, _ := old.Resolve("service-abcd1234", "release", "api-get00001", goldKey)
	newGold, _ := cur.Resolve("service-abcd1234", "release", "api-get00001", goldKey)
	assert.Equal(t, []string{"1000"}, dOld.plans[oldGold.ID].qps)
	assert.Equal(t, []string{"7"}, dNew.plans[newGold.ID].qps)
	assert.Equal(t, int64(7), dNew.plans[newGold.ID].limits.QPS)
	assert.Equal(t, limiter.Day, dNew.plans[newGold.ID].limits.Period)
}
