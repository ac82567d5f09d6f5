// Package storetest is the conformance suite every limiter.Store passes:
// call Run from a test of the store's package. The functions a suite is
// given (newStore, newLimiters) are called from the test's goroutines
// one call at a time: they need not be safe for concurrent use, but the
// stores they return must be.
package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// Run runs the suite. newStore returns an empty store; it is called once
// per subtest, and the test cleans it up (t.Cleanup) as it needs.
func Run(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	ctx := context.Background()
	c := limiter.Counter{Plan: "usagePlan-aaaaaaaa", Key: "AKIDkey1", Window: 0}

	t.Run("ReserveUpToLimit", func(t *testing.T) {
		s := newStore(t)
		steps := []struct{ n, limit, granted, used int64 }{
			{1, 10, 1, 1}, {4, 10, 4, 5}, {10, 10, 5, 10}, {1, 10, 0, 10}, {3, 12, 2, 12}, {5, 11, 0, 12},
		}
		for i, st := range steps {
			g, u, err := s.Reserve(ctx, c, st.n, st.limit)
			if err != nil || g != st.granted || u != st.used {
				t.Fatalf("step %d: Reserve(%d, limit %d) = %d, %d, %v; want %d, %d", i, st.n, st.limit, g, u, err, st.granted, st.used)
			}
		}
		expectUsage(t, s, c, 12)
	})

	t.Run("ReleaseAndSetUsage", func(t *testing.T) {
		s := newStore(t)
		expectUsage(t, s, c, 0)
		mustReserve(t, s, c, 7, 100)
		must(t, s.Release(ctx, c, 3))
		expectUsage(t, s, c, 4)
		must(t, s.Release(ctx, c, 10))
		expectUsage(t, s, c, 0)
		must(t, s.SetUsage(ctx, c, 42))
		expectUsage(t, s, c, 42)
		must(t, s.SetUsage(ctx, c, 0))
		expectUsage(t, s, c, 0)
		must(t, s.Release(ctx, limiter.Counter{Plan: "p", Key: "never-seen"}, 1))
	})

	t.Run("CountersAreIndependent", func(t *testing.T) {
		s := newStore(t)
		other := []limiter.Counter{
			{Plan: c.Plan, Key: "AKIDkey2"},
			{Plan: "usagePlan-bbbbbbbb", Key: c.Key},
			{Plan: c.Plan, Key: c.Key, Window: 1_700_000_000},
			{Plan: c.Plan + ":x", Key: c.Key}, // separators in IDs cannot collide
			{Plan: c.Plan, Key: ":" + c.Key},
		}
		mustReserve(t, s, c, 5, 100)
		for _, o := range other {
			expectUsage(t, s, o, 0)
			mustReserve(t, s, o, 1, 100)
		}
		expectUsage(t, s, c, 5)
	})

	t.Run("PlanUsage", func(t *testing.T) {
		s := newStore(t)
		mustReserve(t, s, c, 3, 100)
		mustReserve(t, s, limiter.Counter{Plan: c.Plan, Key: "AKIDkey2"}, 4, 100)
		mustReserve(t, s, limiter.Counter{Plan: c.Plan, Key: "AKIDkey3", Window: 99}, 5, 100)
		mustReserve(t, s, limiter.Counter{Plan: "usagePlan-other", Key: "AKIDkey4"}, 6, 100)
		got, err := s.PlanUsage(ctx, c.Plan, 0)
		must(t, err)
		if len(got) != 2 || got[c.Key] != 3 || got["AKIDkey2"] != 4 {
			t.Fatalf("PlanUsage = %v", got)
		}
	})

	t.Run("ConcurrentReserveIsExact", func(t *testing.T) {
		s := newStore(t)
		var granted atomic.Int64
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				g, _, err := s.Reserve(ctx, c, 1, 100)
				if err != nil {
					t.Error(err)
				}
				granted.Add(g)
			})
		}
		wg.Wait()
		if granted.Load() != 100 {
			t.Fatalf("granted %d, want 100", granted.Load())
		}
		expectUsage(t, s, c, 100)
	})

	t.Run("LimiterQuotaIsExact", func(t *testing.T) {
		for _, cfg := range []limiter.Config{{LeaseSize: 1}, {LeaseSize: 7}, {LeaseSize: 7, Prefetch: true}} {
			lease := cfg.LeaseSize
			s := newStore(t)
			l, err := limiter.New(s, cfg)
			must(t, err)
			lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100}
			now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			admitted := admitAtOnce(t, 1000, func(int) (limiter.Decision, error) {
				return l.AllowAt(ctx, now, limiter.Request{Plan: c.Plan, Key: c.Key, Limits: lim})
			})
			if admitted != 100 {
				t.Fatalf("lease %d: admitted %d, want 100", lease, admitted)
			}
			expectUsage(t, s, c, 100)
			must(t, l.Close(ctx))
		}
	})

	t.Run("PrefetchedLeasesGoBack", func(t *testing.T) {
		s := newStore(t)
		l, err := limiter.New(s, limiter.Config{LeaseSize: 10, Prefetch: true})
		must(t, err)
		lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000}
		now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		for range 37 {
			if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: c.Plan, Key: c.Key, Limits: lim}); err != nil || !d.Allowed {
				t.Fatalf("AllowAt = %+v, %v", d, err)
			}
		}
		must(t, l.Close(ctx))
		expectUsage(t, s, c, 37)
	})

	t.Run("CloseReturnsUnusedLease", func(t *testing.T) {
		s := newStore(t)
		l, err := limiter.New(s, limiter.Config{LeaseSize: 10})
		must(t, err)
		lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000}
		now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		for range 3 {
			if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: c.Plan, Key: c.Key, Limits: lim}); err != nil || !d.Allowed {
				t.Fatalf("AllowAt = %+v, %v", d, err)
			}
		}
		if _, shared := s.(limiter.SharedStore); shared {
			expectUsage(t, s, c, 3) // a SharedStore is used without leases
		} else {
			expectUsage(t, s, c, 10) // the lease is reserved
		}
		if u, err := l.Usage(ctx, c.Plan, c.Key, lim, now); err != nil || u != 3 {
			t.Fatalf("limiter Usage = %d, %v; want 3", u, err)
		}
		must(t, l.Close(ctx))
		must(t, l.Close(ctx))
		expectUsage(t, s, c, 3)
	})

	t.Run("Pruning", func(t *testing.T) { RunPruning(t, newStore) })
	t.Run("Exhausted", func(t *testing.T) { RunExhausted(t, newStore) })
	t.Run("Limits", func(t *testing.T) { RunLimits(t, newStore) })
	t.Run("ExactLimits", func(t *testing.T) { RunExactLimits(t, newStore) })
	t.Run("Charge", func(t *testing.T) { RunCharge(t, newStore) })
	t.Run("Alerts", func(t *testing.T) { RunAlerts(t, newStore) })
	t.Run("Grant", func(t *testing.T) { RunGrant(t, newStore) })
}

// admitAtOnce makes n decisions at once, decide(i) the i-th, and returns
// how many were admitted.
func admitAtOnce(t *testing.T, n int, decide func(i int) (limiter.Decision, error)) int64 {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := decide(i)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	return admitted.Load()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustReserve(t *testing.T, s limiter.Store, c limiter.Counter, n, limit int64) {
	t.Helper()
	if g, _, err := s.Reserve(context.Background(), c, n, limit); err != nil || g != n {
		t.Fatalf("Reserve(%+v, %d) = %d, %v", c, n, g, err)
	}
}

func expectUsage(t *testing.T, s limiter.Store, c limiter.Counter, want int64) {
	t.Helper()
	got, err := s.Usage(context.Background(), c)
	if err != nil || got != want {
		t.Fatalf("Usage(%+v) = %d, %v; want %d", c, got, err, want)
	}
}
