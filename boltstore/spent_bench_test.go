package boltstore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/limiter"
)

// BenchmarkSpentKey measures refusals of one key whose quota is spent,
// from parallel goroutines, on the memory store and on a bolt file.
func BenchmarkSpentKey(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) limiter.Store
	}{
		{"memory", func(*testing.B) limiter.Store { return &limiter.MemoryStore{} }},
		{"bolt", func(b *testing.B) limiter.Store {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Config{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := limiter.New(tc.store(b), limiter.Config{Prefetch: true})
			defer func() { b.StopTimer(); l.Close(ctx) }()
			lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100, Period: limiter.Month}
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			for range 200 {
				_, _ = l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-bench001", Key: "AKIDspent", Limits: lim})
			}
			b.ReportAllocs()
			scatter.Run(b, 1, func(_, count int) {
				for range count {
					d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-bench001", Key: "AKIDspent", Limits: lim})
					if err != nil || d.Allowed {
						b.Errorf("%+v, %v", d, err)
						return
					}
				}
			})
		})
	}
}
