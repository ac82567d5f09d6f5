package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// Usage reads a key's consumed quota by plan and key IDs: the period and
// time zone come from the registry, so the count is the current period's
// (a day in Asia/Shanghai here, which starts at 16:00 UTC), a change of
// the plan's period applies at once, and an unknown plan is an error.
func TestUsageByPlanAndKeyIDs(t *testing.T) {
	cfg := strings.Replace(testConfig, `"quotaPeriod": "day",`, `"quotaPeriod": "day", "timeZone": "Asia/Shanghai",`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // 23:00 in Shanghai
	mw, err := New(reg, lim, Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	const gold = "usagePlan-gold0001"
	limits, _ := PlanLimits(reg.Snapshot(), gold, "api-list0001")
	for range 3 {
		d, err := lim.AllowAt(context.Background(), now, limiter.Request{Plan: gold, Key: goldKey, API: "api-list0001", Limits: limits})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}

	used, err := mw.Usage(context.Background(), gold, goldKey)
	require.NoError(t, err)
	require.EqualValues(t, 3, used, "the current period, at the middleware's clock")
	used, err = mw.UsageAt(context.Background(), now.Add(2*time.Hour), gold, goldKey) // 01:00 the next day in Shanghai
	require.NoError(t, err)
	require.Zero(t, used, "the next day in the plan's time zone starts afresh, though it is the same UTC day")
	used, err = mw.Usage(context.Background(), gold, loneKey)
	require.NoError(t, err)
	require.Zero(t, used)

	p, _ := reg.Snapshot().Plan(gold)
	p.QuotaPeriod = limiter.Month
	require.NoError(t, reg.UpdatePlan(p))
	used, err = mw.Usage(context.Background(), gold, goldKey)
	require.NoError(t, err)
	require.Zero(t, used, "the month's counter: the registry's period applies at once")

	_, err = mw.Usage(context.Background(), "usagePlan-none0001", goldKey)
	require.True(t, errors.Is(err, usageplan.ErrNotFound), "%v", err)
}
