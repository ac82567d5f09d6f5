package limiter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// BenchmarkPlanUsage reads one plan's usage from a MemoryStore holding
// 100 plans of 10,000 counters each (1M counters).
func BenchmarkPlanUsage(b *testing.B) {
	ctx := context.Background()
	s := &limiter.MemoryStore{}
	const plans, keys = 100, 10_000
	for p := range plans {
		for k := range keys {
			c := limiter.Counter{Plan: fmt.Sprintf("usagePlan-%08d", p), Key: fmt.Sprintf("AKID%036d", k)}
			if _, _, err := s.Reserve(ctx, c, 1, 10); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		got, err := s.PlanUsage(ctx, fmt.Sprintf("usagePlan-%08d", i%plans), 0)
		if err != nil || len(got) != keys {
			b.Fatalf("%d keys, %v", len(got), err)
		}
	}
}

// BenchmarkLimiterPlanUsage reads one plan's usage through a Limiter
// that holds 1M active keys (100 plans × 10,000 keys, each decided
// once) on a MemoryStore: what a Describe of one plan costs on a busy
// server.
func BenchmarkLimiterPlanUsage(b *testing.B) {
	ctx := context.Background()
	const plans, keys = 100, 10_000
	l, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		b.Fatal(err)
	}
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000, Period: limiter.Day}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ids := make([]string, plans)
	for p := range plans {
		ids[p] = fmt.Sprintf("usagePlan-%08d", p)
		for k := range keys {
			if _, err := l.AllowAt(ctx, now, limiter.Request{Plan: ids[p], Key: fmt.Sprintf("AKID%036d", k), Limits: lim}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		got, sum, err := l.PlanUsage(ctx, ids[i%plans], lim, now)
		if err != nil || len(got) != keys || sum != keys {
			b.Fatalf("%d keys, sum %d, %v", len(got), sum, err)
		}
	}
}
