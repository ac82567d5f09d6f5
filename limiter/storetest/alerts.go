package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// Alerts collects the alerts a Limiter delivers: its Hook is a
// limiter.Config.OnAlert.
type Alerts struct {
	mu  sync.Mutex
	got []limiter.Alert
}

// Hook records a.
func (c *Alerts) Hook(a limiter.Alert) {
	c.mu.Lock()
	c.got = append(c.got, a)
	c.mu.Unlock()
}

// Take returns the alerts recorded so far and forgets them.
func (c *Alerts) Take() []limiter.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// RunAlerts checks the alerts of Limits.Alerts on the store: a step
// table of requests and charges that cross each threshold (a charge
// counts like a request), and 1000 goroutines mixing both, under which
// each threshold is reported exactly once.
func RunAlerts(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	ctx := context.Background()
	for _, cfg := range leaseConfigs {
		t.Run(fmt.Sprintf("steps lease %d prefetch %v", cfg.LeaseSize, cfg.Prefetch), func(t *testing.T) {
			var alerts Alerts
			cfg.OnAlert = alerts.Hook
			s := newStore(t)
			now := startFor(s)
			day := now.Truncate(24 * time.Hour)
			l, err := limiter.New(s, cfg)
			must(t, err)
			defer l.Close(ctx)
			lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100, Period: limiter.Day, Alerts: []int{50, 80, 100}}
			req := limiter.Request{Plan: "usagePlan-alerts01", Key: fmt.Sprintf("AKIDalert%d", time.Now().UnixNano()), Limits: lim}
			steps := []struct {
				at     time.Time
				charge bool
				units  int64
				want   []int // thresholds reported
				used   int64 // in each of them
			}{
				{at: now, units: 49},
				{at: now, units: 1, want: []int{50}, used: 50},
				{at: now, units: 1},
				{at: now, charge: true, units: 40, want: []int{80}, used: 91},
				{at: now, units: 10},                                            // refused: 9 left
				{at: now, charge: true, units: 30, want: []int{100}, used: 100}, // 21 of overage
				{at: now, charge: true, units: 5},
				{at: now.Add(24 * time.Hour), units: 100, want: []int{50, 80, 100}, used: 100},
			}
			for i, st := range steps {
				r := req
				r.Units = st.units
				if st.charge {
					_, err = l.ChargeAt(ctx, st.at, r)
				} else {
					_, err = l.AllowAt(ctx, st.at, r)
				}
				must(t, err)
				got := alerts.Take()
				if len(got) != len(st.want) {
					t.Fatalf("step %d: alerts %+v, want thresholds %v", i, got, st.want)
				}
				for j, a := range got {
					wantPeriod := day
					if st.at != now {
						wantPeriod = day.Add(24 * time.Hour)
					}
					if a.Threshold != st.want[j] || a.Used != st.used || a.Quota != 100 || a.Plan != req.Plan || a.Key != req.Key || !a.Period.Equal(wantPeriod) {
						t.Fatalf("step %d: alert %+v, want threshold %d, used %d, period %v", i, a, st.want[j], st.used, wantPeriod)
					}
				}
			}
		})
	}
	for _, cfg := range leaseConfigs {
		t.Run(fmt.Sprintf("once lease %d prefetch %v", cfg.LeaseSize, cfg.Prefetch), func(t *testing.T) {
			RunAlertsAcross(t, 3, func(t *testing.T, hook func(limiter.Alert)) []*limiter.Limiter {
				cfg.OnAlert = hook
				l, err := limiter.New(newStore(t), cfg)
				must(t, err)
				t.Cleanup(func() { l.Close(ctx) })
				return []*limiter.Limiter{l}
			})
		})
	}
}

// RunAlertsAcross checks, reps times, that each alert threshold of a
// fresh key is reported exactly once, with the usage at or past it,
// while 300 goroutines spread over the Limiters newLimiters returns
// (instances sharing one store, each delivering to hook) mix requests
// and charges past the quota.
func RunAlertsAcross(t *testing.T, reps int, newLimiters func(t *testing.T, hook func(limiter.Alert)) []*limiter.Limiter) {
	const clients, quota = 300, 400
	ctx := context.Background()
	var alerts Alerts
	ls := newLimiters(t, alerts.Hook)
	thresholds := []int{1, 10, 50, 75, 99, 100}
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: quota, Period: limiter.Month, Alerts: thresholds}
	now := time.Now()
	for rep := range reps {
		req := limiter.Request{Plan: "usagePlan-alerts02", Key: fmt.Sprintf("AKIDonce%d-%d", now.UnixNano(), rep), Limits: lim}
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				l, r := ls[i%len(ls)], req
				var err error
				if i%4 == 0 {
					r.Units = int64(i%7 + 1)
					_, err = l.ChargeAt(ctx, now, r)
				} else {
					r.Units = int64(i%3 + 1)
					_, err = l.AllowAt(ctx, now, r)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got := alerts.Take()
		count := map[int]int{}
		for _, a := range got {
			count[a.Threshold]++
			level := (quota*int64(a.Threshold) + 99) / 100
			if a.Key != req.Key || a.Used < level || a.Used > quota || a.Quota != quota {
				t.Fatalf("rep %d: alert %+v: want the key's, used %d to %d", rep, a, level, quota)
			}
		}
		for _, th := range thresholds {
			if count[th] != 1 {
				t.Fatalf("rep %d: threshold %d reported %d times, want once", rep, th, count[th])
			}
		}
		if len(got) != len(thresholds) {
			t.Fatalf("rep %d: %d alerts, want %d: %+v", rep, len(got), len(thresholds), got)
		}
	}
}
