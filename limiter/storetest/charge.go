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

// leaseConfigs are the Limiter configurations the charge and alert
// tests run under: the store's own lease, a lease of one unit, a lease
// of seven, and seven prefetched.
var leaseConfigs = []limiter.Config{{}, {LeaseSize: 1}, {LeaseSize: 7}, {LeaseSize: 7, Prefetch: true}}

// RunCharge checks Limiter.ChargeAt on the store: a charge takes what is
// left of the quota and reports the rest as overage, a key whose quota a
// charge spent is refused, and under 1000 goroutines mixing requests
// and charges the quota counts exactly the units admitted and charged,
// less the overage, and the overage is exactly what went past the
// quota.
func RunCharge(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	ctx := context.Background()
	for _, cfg := range leaseConfigs {
		t.Run(fmt.Sprintf("steps lease %d prefetch %v", cfg.LeaseSize, cfg.Prefetch), func(t *testing.T) {
			s := newStore(t)
			now := startFor(s)
			l, err := limiter.New(s, cfg)
			must(t, err)
			lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 10, Period: limiter.Day}
			req := limiter.Request{Plan: "usagePlan-charge01", Key: fmt.Sprintf("AKIDcharge%d", time.Now().UnixNano()), Limits: lim}
			steps := []struct {
				charge  bool
				units   int64
				allowed bool  // for a request
				overage int64 // for a charge
			}{
				{units: 3, allowed: true},
				{charge: true, units: 4},
				{charge: true, units: 0},
				{charge: true, units: 5, overage: 2},
				{units: 1, allowed: false},
				{charge: true, units: 3, overage: 3},
			}
			for i, st := range steps {
				r := req
				r.Units = st.units
				if st.charge {
					over, err := l.ChargeAt(ctx, now, r)
					if err != nil || over != st.overage {
						t.Fatalf("step %d: ChargeAt(%d) = %d, %v; want overage %d", i, st.units, over, err, st.overage)
					}
					continue
				}
				d, err := l.AllowAt(ctx, now, r)
				if err != nil || d.Allowed != st.allowed {
					t.Fatalf("step %d: AllowAt(%d) = %+v, %v; want allowed %v", i, st.units, d, err, st.allowed)
				}
				if !d.Allowed && d.Refused != limiter.LimitQuota {
					t.Fatalf("step %d: refused for %v, want the quota", i, d.Refused)
				}
			}
			if u, err := l.Usage(ctx, req.Plan, req.Key, lim, now); err != nil || u != 10 {
				t.Fatalf("Usage = %d, %v; want 10", u, err)
			}
			// The next period starts afresh.
			r := req
			r.Units = 10
			if d, err := l.AllowAt(ctx, now.Add(24*time.Hour), r); err != nil || !d.Allowed {
				t.Fatalf("next day: %+v, %v", d, err)
			}
			must(t, l.Close(ctx))
			expectUsage(t, s, limiter.Counter{Plan: req.Plan, Key: req.Key, Window: now.Truncate(24 * time.Hour).Unix()}, 10)
		})
	}
	t.Run("invalid", func(t *testing.T) {
		s := newStore(t)
		now := startFor(s)
		l, err := limiter.New(s, limiter.Config{})
		must(t, err)
		defer l.Close(ctx)
		r := limiter.Request{Plan: "p", Key: "k", Units: -1, Limits: limiter.Limits{QPS: limiter.Unlimited, Quota: 10}}
		if _, err := l.ChargeAt(ctx, now, r); err == nil {
			t.Fatal("a negative charge was accepted")
		}
		r.Units, r.Limits.Quota = 5, limiter.Unlimited
		if over, err := l.ChargeAt(ctx, now, r); err != nil || over != 0 {
			t.Fatalf("unlimited quota: %d, %v", over, err)
		}
	})
	for _, cfg := range leaseConfigs {
		t.Run(fmt.Sprintf("exact lease %d prefetch %v", cfg.LeaseSize, cfg.Prefetch), func(t *testing.T) {
			s := newStore(t)
			l, err := limiter.New(s, cfg)
			must(t, err)
			RunChargeExact(t, []*limiter.Limiter{l}, startFor(s))
			must(t, l.Close(ctx))
		})
	}
}

// startFor is the time a test on s starts at: a fixed date, or now on a
// SharedStore, whose counters expire by the real clock.
func startFor(s limiter.Store) time.Time {
	if _, shared := s.(limiter.SharedStore); shared {
		return time.Now().UTC()
	}
	return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
}

// RunChargeExact runs 1000 goroutines mixing requests (1 to 4 units)
// and charges (1 to 5 units) of one key spread over ls, Limiters
// sharing one store, and checks that the units consumed are exactly
// those admitted plus those charged less the overage, that the overage
// is exactly what went past the quota, and that no request is admitted
// once a charge has gone past the quota.
func RunChargeExact(t *testing.T, ls []*limiter.Limiter, now time.Time) {
	const clients, quota = 1000, 1500
	ctx := context.Background()
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: quota, Period: limiter.Day}
	req := limiter.Request{Plan: "usagePlan-charge02", Key: fmt.Sprintf("AKIDexact%d", time.Now().UnixNano()), Limits: lim}
	var admitted, refused, charged, overage atomic.Int64
	var spent atomic.Bool // a charge went past the quota
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			l, r := ls[i%len(ls)], req
			if i%3 == 0 {
				r.Units = int64(i%5 + 1)
				over, err := l.ChargeAt(ctx, now, r)
				if err != nil || over < 0 || over > r.Units {
					t.Errorf("ChargeAt(%d) = %d, %v", r.Units, over, err)
					return
				}
				charged.Add(r.Units)
				overage.Add(over)
				if over > 0 {
					spent.Store(true)
				}
				return
			}
			r.Units = int64(i%4 + 1)
			wasSpent := spent.Load()
			d, err := l.AllowAt(ctx, now, r)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				if wasSpent {
					t.Errorf("a request of %d units admitted after a charge spent the quota", r.Units)
				}
				admitted.Add(r.Units)
			} else {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	a, c, o := admitted.Load(), charged.Load(), overage.Load()
	if want := max(a+c-quota, 0); o != want {
		t.Fatalf("admitted %d + charged %d units under a quota of %d: overage %d, want %d", a, c, quota, o, want)
	}
	if refused.Load() == 0 && o == 0 {
		t.Fatalf("the test is too light: %d admitted + %d charged units never reached the quota of %d", a, c, quota)
	}
	used, err := ls[0].Usage(ctx, req.Plan, req.Key, lim, now)
	if err != nil || used != a+c-o {
		t.Fatalf("Usage = %d, %v; want admitted %d + charged %d - overage %d", used, err, a, c, o)
	}
	// What is left is refused one unit over, taken by a charge one unit
	// over, and then nothing is admitted.
	left := quota - used
	r := req
	r.Units = left + 1
	if d, err := ls[0].AllowAt(ctx, now, r); err != nil || d.Allowed {
		t.Fatalf("%d units with %d left: %+v, %v", r.Units, left, d, err)
	}
	if over, err := ls[len(ls)-1].ChargeAt(ctx, now, r); err != nil || over != 1 {
		t.Fatalf("a charge of %d units with %d left: overage %d, %v; want 1", r.Units, left, over, err)
	}
	r.Units = 1
	if d, err := ls[0].AllowAt(ctx, now, r); err != nil || d.Allowed || d.Refused != limiter.LimitQuota {
		t.Fatalf("after the quota was spent: %+v, %v", d, err)
	}
}
