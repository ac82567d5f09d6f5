package limiter_test

import (
	"context"
	"fmt"
	"testing"

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
