package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// RunGrant checks Limiter.GrantUsage on the store: grants made at once
// all count, and a quota of 100 spent and then granted 50 in grants of
// 1, racing with 1000 requests, admits exactly 50 more in all, with and
// without leases.
func RunGrant(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	ctx := context.Background()
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100, Period: limiter.Day}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	req := limiter.Request{Plan: "usagePlan-aaaaaaaa", Key: "AKIDkey1", Limits: lim}
	usage := func(t *testing.T, l *limiter.Limiter, want int64) {
		t.Helper()
		if u, err := l.Usage(ctx, req.Plan, req.Key, lim, now); err != nil || u != want {
			t.Fatalf("Usage = %d, %v; want %d", u, err, want)
		}
	}
	admit := func(t *testing.T, l *limiter.Limiter, n int) int64 {
		return admitAtOnce(t, n, func(int) (limiter.Decision, error) { return l.AllowAt(ctx, now, req) })
	}

	t.Run("GrantsAtOnce", func(t *testing.T) {
		l, err := limiter.New(&meetingStore{Store: newStore(t), met: make(chan struct{})}, limiter.Config{})
		must(t, err)
		must(t, l.SetUsage(ctx, req.Plan, req.Key, lim, now, 100))
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := l.GrantUsage(ctx, req.Plan, req.Key, lim, now, 50); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		usage(t, l, 0)
		if _, err := l.GrantUsage(ctx, req.Plan, req.Key, lim, now, -1); err == nil {
			t.Fatal("a grant of -1 units was accepted")
		}
		must(t, l.Close(ctx))
	})

	for _, cfg := range []limiter.Config{{LeaseSize: 1}, {LeaseSize: 7}, {LeaseSize: 7, Prefetch: true}} {
		t.Run(fmt.Sprintf("GrantedUnitsAdmitExactly/lease=%d,prefetch=%t", cfg.LeaseSize, cfg.Prefetch), func(t *testing.T) {
			l, err := limiter.New(newStore(t), cfg)
			must(t, err)
			if got := admit(t, l, 300); got != 100 {
				t.Fatalf("admitted %d of a quota of 100", got)
			}
			var during atomic.Int64
			var wg sync.WaitGroup
			wg.Go(func() { during.Store(admit(t, l, 1000)) })
			for range 50 {
				wg.Go(func() {
					if _, err := l.GrantUsage(ctx, req.Plan, req.Key, lim, now, 1); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			after := admit(t, l, 1000)
			if got := during.Load() + after; got != 50 {
				t.Fatalf("50 units granted admitted %d (%d while granting, %d after)", got, during.Load(), after)
			}
			usage(t, l, 100)
			must(t, l.Close(ctx))
		})
	}
}

// meetingStore makes the first two Usage calls on it wait for each other
// (for up to a second): two grants that read the usage before they
// lower it read it at once, and one of them would be lost.
type meetingStore struct {
	limiter.Store
	arrived atomic.Int32
	met     chan struct{}
}

func (s *meetingStore) Usage(ctx context.Context, c limiter.Counter) (int64, error) {
	n, err := s.Store.Usage(ctx, c)
	if s.arrived.Add(1) == 2 {
		close(s.met)
	}
	select {
	case <-s.met:
	case <-time.After(time.Second):
	}
	return n, err
}
