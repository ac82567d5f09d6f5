package middleware

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// The dynamic header values are built in a fixed buffer; the widest
// values int64 limits allow, and a window name too long for the buffer,
// must come out whole.
func TestUsageHeadersAtInt64Limits(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("w", 100)
	cases := []struct {
		name  string
		lim   limiter.Limits
		units []int64 // the requests made; the last one's headers are checked
		want  map[string]string
	}{
		{"admitted", limiter.Limits{QPS: limiter.Unlimited, Quota: math.MaxInt64, Period: limiter.Month}, []int64{1},
			map[string]string{
				HeaderQuota:          "9223372036854775806/9223372036854775807",
				HeaderRateLimitState: `"quota";r=9223372036854775806;t=648000`,
			}},
		{"refused by quota", limiter.Limits{QPS: limiter.Unlimited, Quota: math.MaxInt64, Period: limiter.Month}, []int64{1, math.MaxInt64},
			map[string]string{
				HeaderQuota:          "9223372036854775806/9223372036854775807",
				HeaderRateLimitState: `"quota";r=9223372036854775806;t=648000`,
				HeaderRetryAfter:     "648000",
			}},
		{"refused by a total quota", limiter.Limits{QPS: limiter.Unlimited, Quota: 2}, []int64{1, 1, 1},
			map[string]string{
				HeaderQuota:          "0/9223372036854775807",
				HeaderRateLimitState: `"quota";r=0`, // it never resets: no t (it was t=1)
			}},
		{"refused by QPS", limiter.Limits{QPS: 1, Quota: math.MaxInt64}, []int64{1, 1},
			map[string]string{
				HeaderQuota:          "9223372036854775806/9223372036854775807",
				HeaderRateLimitState: `"qps";r=0;t=1`,
				HeaderRetryAfter:     "1",
			}},
		{"refused by a long window", limiter.Limits{QPS: limiter.Unlimited, Quota: math.MaxInt64, Windows: []limiter.Window{{Name: long, Requests: 1, Per: 24 * time.Hour}}}, []int64{1, 1},
			map[string]string{
				HeaderQuota:          "9223372036854775806/9223372036854775807",
				HeaderRateLimitState: strconv.Quote(long) + ";r=0;t=86400",
				HeaderRetryAfter:     "86400",
			}},
	}
	for _, c := range cases {
		l, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
		require.NoError(t, err)
		var d limiter.Decision
		for _, u := range c.units {
			d, err = l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Units: u, Limits: c.lim})
			require.NoError(t, err)
		}
		ps := &planState{qps: one("1"), quota: "/9223372036854775807"}
		ps.set(c.lim, "")
		h := http.Header{}
		var scratch headerScratch
		setUsageHeaders(h, &scratch, ps, &ps.limitState, &d, now)
		for k, v := range c.want {
			assert.Equal(t, v, exact(h, k), "%s: %s", c.name, k)
		}
	}
}

// The cache keeps the newest snapshot's state; a request still on an
// older snapshot gets that snapshot's state without evicting the newer.
func TestDerivedCacheKeepsNewest(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
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
