package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// countingStore counts the calls a Limiter makes to its store.
type countingStore struct {
	limiter.Store
	calls atomic.Int64
}

func (c *countingStore) Reserve(ctx context.Context, k limiter.Counter, n, limit int64) (int64, int64, error) {
	c.calls.Add(1)
	return c.Store.Reserve(ctx, k, n, limit)
}

func (c *countingStore) Release(ctx context.Context, k limiter.Counter, n int64) error {
	c.calls.Add(1)
	return c.Store.Release(ctx, k, n)
}

func (c *countingStore) LeaseSize() int64 {
	if ls, ok := c.Store.(limiter.LeaseSizer); ok {
		return ls.LeaseSize()
	}
	return 1
}

// RunExhausted checks a Limiter on the store with a key whose quota is
// spent: many goroutines admit exactly the quota; the refusals that
// follow are decided from memory (no store call, unless the store is a
// SharedStore, which decides every request itself), with the period's
// reset; and the key is admitted again after a reset through the
// Limiter, a raised quota, or a new period. Run calls it.
func RunExhausted(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	ctx := context.Background()
	inner := newStore(t)
	_, shared := inner.(limiter.SharedStore)
	var s limiter.Store = inner
	counting := &countingStore{Store: inner}
	if !shared {
		s = counting
	}
	l, err := limiter.New(s, limiter.Config{})
	must(t, err)
	defer l.Close(ctx)
	const plan, key = "usagePlan-spent001", "AKIDspent"
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 25, Period: limiter.Day}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	_, reset := limiter.Day.Window(now, nil)

	burst := func(at time.Time, n int) (admitted, refused int64) {
		_, end := limiter.Day.Window(at, nil)
		var a, r atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				d, err := l.AllowAt(ctx, at, limiter.Request{Plan: plan, Key: key, Limits: lim})
				switch {
				case err != nil:
					t.Error(err)
				case d.Allowed:
					a.Add(1)
				case d.Refused == limiter.LimitQuota:
					r.Add(1)
					if !d.Reset.Equal(end) || d.RetryAfter != end.Sub(at) {
						t.Errorf("refusal %+v; want Reset %v and RetryAfter %v", d, end, end.Sub(at))
					}
				default:
					t.Errorf("refused for %v", d.Refused)
				}
			})
		}
		wg.Wait()
		return a.Load(), r.Load()
	}

	if a, r := burst(now, 200); a != 25 || r != 175 {
		t.Fatalf("first burst: admitted %d, refused %d; want 25 and 175", a, r)
	}
	before := counting.calls.Load()
	if a, r := burst(now.Add(100*time.Millisecond), 1000); a != 0 || r != 1000 {
		t.Fatalf("on the spent key: admitted %d, refused %d; want 0 and 1000", a, r)
	}
	if calls := counting.calls.Load() - before; !shared && calls != 0 {
		t.Fatalf("1000 refusals of a spent key made %d store calls; want 0 (decided from memory)", calls)
	}

	must(t, l.ResetUsage(ctx, plan, key, lim, now))
	if a, _ := burst(now.Add(200*time.Millisecond), 30); a != 25 {
		t.Fatalf("after a reset: admitted %d, want 25", a)
	}
	lim.Quota = 30
	if a, _ := burst(now.Add(300*time.Millisecond), 30); a != 5 {
		t.Fatalf("after raising the quota to 30: admitted %d, want 5", a)
	}
	if a, _ := burst(reset, 40); a != 30 {
		t.Fatalf("in the next period: admitted %d, want 30", a)
	}
	used, err := inner.Usage(ctx, limiter.Counter{Plan: plan, Key: key, Window: reset.Unix()})
	must(t, err)
	if used != 30 {
		t.Fatalf("stored usage %d, want 30", used)
	}
}
