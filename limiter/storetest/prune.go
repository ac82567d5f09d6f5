package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// RunPruning checks a store that implements limiter.Pruner: Prune drops a
// plan's counters of the periods before its bound and nothing else, and a
// Limiter on the store keeps a plan with a day quota to its current and
// previous day's counters over any number of days. Run calls it.
func RunPruning(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	ctx := context.Background()
	if _, ok := newStore(t).(limiter.Pruner); !ok {
		t.Log("the store does not implement limiter.Pruner; it must bound its counters otherwise")
		return
	}

	t.Run("PruneDropsOnlyOlderPeriods", func(t *testing.T) {
		s := newStore(t)
		p := s.(limiter.Pruner)
		const plan, other = "usagePlan-prune001", "usagePlan-prune002"
		day := int64(24 * 3600)
		w1, w2, w3 := int64(1_700_006_400), 1_700_006_400+day, 1_700_006_400+2*day
		for _, c := range []limiter.Counter{
			{Plan: plan, Key: "AKIDa", Window: w1}, {Plan: plan, Key: "AKIDb", Window: w1},
			{Plan: plan, Key: "AKIDa", Window: w2}, {Plan: plan, Key: "AKIDa", Window: w3},
			{Plan: plan, Key: "AKIDa", Window: 0}, {Plan: other, Key: "AKIDa", Window: w1},
		} {
			mustReserve(t, s, c, 3, 10)
		}
		must(t, p.Prune(ctx, plan, w2))
		expectUsage(t, s, limiter.Counter{Plan: plan, Key: "AKIDa", Window: w1}, 0)
		expectUsage(t, s, limiter.Counter{Plan: plan, Key: "AKIDb", Window: w1}, 0)
		expectUsage(t, s, limiter.Counter{Plan: plan, Key: "AKIDa", Window: w2}, 3)
		expectUsage(t, s, limiter.Counter{Plan: plan, Key: "AKIDa", Window: w3}, 3)
		expectUsage(t, s, limiter.Counter{Plan: plan, Key: "AKIDa", Window: 0}, 3)
		expectUsage(t, s, limiter.Counter{Plan: other, Key: "AKIDa", Window: w1}, 3)
		if got, err := s.PlanUsage(ctx, plan, w1); err != nil || len(got) != 0 {
			t.Fatalf("PlanUsage of a pruned period = %v, %v; want none", got, err)
		}
		must(t, p.Prune(ctx, "usagePlan-never", w3)) // an unknown plan is no error
	})

	t.Run("LimiterPrunesFinishedDays", func(t *testing.T) {
		s := newStore(t)
		const plan, days, keys = "usagePlan-prune003", 40, 50
		lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000, Period: limiter.Day}
		start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		for d := range days {
			l, err := limiter.New(s, limiter.Config{})
			must(t, err)
			now := start.AddDate(0, 0, d)
			for k := range keys {
				if dec, err := l.AllowAt(ctx, now, limiter.Request{Plan: plan, Key: "AKID" + strconv.Itoa(k), Limits: lim}); err != nil || !dec.Allowed {
					t.Fatalf("day %d key %d: %+v, %v", d, k, dec, err)
				}
			}
			must(t, l.Close(ctx)) // waits for the background prune
		}
		for d := range days {
			w, _ := limiter.Day.Window(start.AddDate(0, 0, d), nil)
			got, err := s.PlanUsage(ctx, plan, w.Unix())
			must(t, err)
			want := 0
			if d >= days-2 {
				want = keys // the current and the previous day are kept
			}
			if len(got) != want {
				t.Fatalf("day %d: %d counters left, want %d", d, len(got), want)
			}
		}
	})
}
