package limiter

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryStoreBoundedOverPeriods runs 30 days of a day quota over 1000
// keys: the Limiter prunes finished days from the MemoryStore, so only
// the current and the previous day's counters are left (issue 14: the
// heap grew from 8.5 to 62.9 MiB over 30 days with 20k keys).
func TestMemoryStoreBoundedOverPeriods(t *testing.T) {
	s := &MemoryStore{}
	const plan, keys, days = "usagePlan-bounded1", 1000, 30
	lim := Limits{QPS: Unlimited, Quota: 100, Period: Day}
	l, err := New(s, Config{})
	require.NoError(t, err)
	for d := range days {
		now := t0.AddDate(0, 0, d)
		for k := range keys {
			dec, err := l.AllowAt(ctx, now, Request{Plan: plan, Key: "AKID" + strconv.Itoa(k), Limits: lim})
			require.NoError(t, err)
			require.True(t, dec.Allowed)
		}
	}
	require.NoError(t, l.Close(ctx)) // waits for the last prune
	for d := range days {
		byKey, err := s.PlanUsage(ctx, plan, counter(plan, "", lim, t0.AddDate(0, 0, d)).Window)
		require.NoError(t, err)
		want := 0
		if d >= days-2 {
			want = keys
		}
		require.Equal(t, want, len(byKey), "counters of day %d", d)
	}
}
