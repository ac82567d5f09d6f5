package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// step is one row of a step table: at At after the table's start, N
// requests (of Units each, on API), of which Admitted are admitted; when
// some are refused, the last refusal names Refused and, unless Retry is
// 0, waits Retry.
type step struct {
	At       time.Duration
	N        int
	Units    int64
	API      string
	Admitted int
	Refused  limiter.Limit
	Retry    time.Duration
	DryRun   int // of the admitted, how many were refusals a dry run served
}

// limitsCase is a step table for one Limits.
type limitsCase struct {
	Name   string
	Limits limiter.Limits
	Steps  []step
}

// limitsCases are the step tables RunLimits runs: a burst apart from
// the rate, each kind of window, per-API throttles, all or nothing across
// limits, units against the quota, and the dry run.
func limitsCases() []limitsCase {
	u := int64(limiter.Unlimited)
	cases := []limitsCase{
		{"burst apart from rate", limiter.Limits{QPS: 2, Burst: 5, Quota: u}, []step{
			{At: 0, N: 7, Admitted: 5, Refused: limiter.LimitQPS, Retry: 500 * time.Millisecond},
			{At: 500 * time.Millisecond, N: 2, Admitted: 1, Refused: limiter.LimitQPS, Retry: 500 * time.Millisecond},
			{At: 10 * time.Second, N: 6, Admitted: 5, Refused: limiter.LimitQPS}, // full again, never above the burst
		}},
		{"burst below rate", limiter.Limits{QPS: 10, Burst: 1, Quota: u}, []step{
			{At: 0, N: 3, Admitted: 1, Refused: limiter.LimitQPS, Retry: 100 * time.Millisecond},
			{At: 100 * time.Millisecond, N: 2, Admitted: 1, Refused: limiter.LimitQPS},
		}},
	}
	for _, per := range []struct {
		name string
		d    time.Duration
	}{{"second", time.Second}, {"minute", time.Minute}, {"hour", time.Hour}, {"day", 24 * time.Hour}, {"10s", 10 * time.Second}} {
		third := per.d / 3
		cases = append(cases, limitsCase{"window per " + per.name,
			limiter.Limits{QPS: u, Quota: u, Windows: []limiter.Window{{Name: "per_" + per.name, Requests: 3, Per: per.d}}}, []step{
				{At: 0, N: 4, Admitted: 3, Refused: limiter.LimitWindow, Retry: third},
				{At: third, N: 2, Admitted: 1, Refused: limiter.LimitWindow, Retry: third},
				{At: 2 * per.d, N: 4, Admitted: 3, Refused: limiter.LimitWindow}, // never more than 3 at once: no fixed-window edge
			}})
	}
	cases = append(cases,
		limitsCase{"throttle per API", limiter.Limits{QPS: 10, Quota: u, Throttle: limiter.Throttle{QPS: 1, Burst: 2}}, []step{
			{At: 0, N: 3, API: "api-a", Admitted: 2, Refused: limiter.LimitThrottle, Retry: time.Second},
			{At: 0, N: 3, API: "api-b", Admitted: 2, Refused: limiter.LimitThrottle}, // its own bucket
			{At: time.Second, N: 2, API: "api-a", Admitted: 1, Refused: limiter.LimitThrottle},
		}},
		limitsCase{"throttle and the plan's bucket", limiter.Limits{QPS: 3, Quota: u, Throttle: limiter.Throttle{QPS: 100}}, []step{
			{At: 0, N: 2, API: "api-a", Admitted: 2},
			{At: 0, N: 2, API: "api-b", Admitted: 1, Refused: limiter.LimitQPS}, // the plan's bucket is shared by its APIs
		}},
		limitsCase{"all or nothing", limiter.Limits{QPS: 5, Quota: 4, Windows: []limiter.Window{{Name: "per_minute", Requests: 3, Per: time.Minute}}}, []step{
			{At: 0, N: 5, Admitted: 3, Refused: limiter.LimitWindow, Retry: 20 * time.Second}, // the refused take no QPS token...
			{At: 20 * time.Second, N: 1, Admitted: 1},                                         // ...nor quota
			{At: 40 * time.Second, N: 2, Admitted: 0, Refused: limiter.LimitQuota},            // a Total quota: no retry
			{At: 60 * time.Second, N: 1, Admitted: 0, Refused: limiter.LimitQuota},
		}},
		limitsCase{"longest wait", limiter.Limits{QPS: 1, Quota: u, Windows: []limiter.Window{{Name: "per_hour", Requests: 1, Per: time.Hour}}}, []step{
			{At: 0, N: 2, Admitted: 1, Refused: limiter.LimitWindow, Retry: time.Hour}, // both refuse; the window waits longer
		}},
		limitsCase{"units against the quota", limiter.Limits{QPS: 3, Quota: 10, Period: limiter.Day}, []step{
			{At: 0, N: 3, Units: 4, Admitted: 2, Refused: limiter.LimitQuota},               // 8 used; 4 more do not fit
			{At: time.Second, N: 1, Units: 2, Admitted: 1},                                  // 2 do
			{At: 2 * time.Second, N: 4, Units: 0, Admitted: 0, Refused: limiter.LimitQuota}, // buckets count requests: 3 tokens left, no units
		}},
		limitsCase{"dry run", limiter.Limits{QPS: 2, Quota: 3, DryRun: true}, []step{
			{At: 0, N: 4, Admitted: 4, DryRun: 2, Refused: limiter.LimitQPS, Retry: 500 * time.Millisecond},
			{At: time.Second, N: 3, Admitted: 3, DryRun: 2, Refused: limiter.LimitQuota}, // 3 used: the dry-run ones consumed nothing
		}},
	)
	return cases
}

// RunLimits runs limitsCases on a Limiter over the store, each on a key
// of its own. A SharedStore decides buckets on its own clock, so on one
// only the steps at the table's start run, and waits are compared within
// 250 ms; RunLimitsClocked runs every step on a store whose clock a test
// can set. Run calls it.
func RunLimits(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	runLimits(t, func(t *testing.T, _ func() time.Time) limiter.Store { return newStore(t) }, false)
}

// RunLimitsClocked runs every step of limitsCases, time advancing, on a
// store whose buckets are decided on the clock newStore is given (a
// SharedStore's test hook in place of its server's clock): each
// decision's time is the clock's, and waits are compared within 1 ms.
func RunLimitsClocked(t *testing.T, newStore func(t *testing.T, now func() time.Time) limiter.Store) {
	runLimits(t, newStore, true)
}

func runLimits(t *testing.T, newStore func(t *testing.T, now func() time.Time) limiter.Store, clocked bool) {
	for _, tc := range limitsCases() {
		t.Run(tc.Name, func(t *testing.T) {
			var clock atomic.Int64
			s := newStore(t, func() time.Time { return time.Unix(0, clock.Load()) })
			_, shared := s.(limiter.SharedStore)
			ownClock := shared && !clocked
			l, err := limiter.New(s, limiter.Config{})
			must(t, err)
			defer l.Close(context.Background())
			start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			if shared {
				// A shared store's counters expire on its server's clock:
				// today's noon (UTC), so that a day quota's steps stay in
				// one period and its counter is not expired on arrival.
				start = time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
			}
			if ownClock {
				start = time.Now()
			}
			key := fmt.Sprintf("AKIDsteps%d", time.Now().UnixNano())
			for i, st := range tc.Steps {
				if ownClock && st.At != 0 {
					t.Logf("step %d at +%v: skipped on a store with its own clock", i, st.At)
					break
				}
				now := start.Add(st.At)
				clock.Store(now.UnixNano())
				admitted, dry := 0, 0
				var last limiter.Decision
				for range st.N {
					d, err := l.AllowAt(context.Background(), now, limiter.Request{
						Plan: "usagePlan-steps001", Key: key, API: st.API, Units: st.Units, Limits: tc.Limits})
					must(t, err)
					if d.Allowed {
						admitted++
					}
					if d.DryRun {
						dry++
					}
					if !d.Allowed || d.DryRun {
						last = d
					}
				}
				if admitted != st.Admitted || dry != st.DryRun {
					t.Fatalf("step %d at +%v: admitted %d (dry run %d) of %d; want %d (%d)", i, st.At, admitted, dry, st.N, st.Admitted, st.DryRun)
				}
				if admitted-dry == st.N {
					continue
				}
				if last.Refused != st.Refused {
					t.Fatalf("step %d: refused by %v, want %v (%+v)", i, last.Refused, st.Refused, last.Policies())
				}
				tolerance := time.Duration(0)
				switch {
				case ownClock:
					tolerance = 250 * time.Millisecond
				case shared:
					tolerance = time.Millisecond // µs on the server
				}
				if st.Retry != 0 && (last.RetryAfter < st.Retry-tolerance || last.RetryAfter > st.Retry+tolerance) {
					t.Fatalf("step %d: Retry-After %v, want %v", i, last.RetryAfter, st.Retry)
				}
				if st.Refused == limiter.LimitQuota && tc.Limits.Period == limiter.Total && last.RetryAfter != 0 {
					t.Fatalf("step %d: a Total quota never resets, Retry-After %v", i, last.RetryAfter)
				}
			}
		})
	}
}

// RunExactLimits checks that each kind of limit admits exactly its
// allowance under 1000 concurrent requests at one instant, and that the
// refused requests consumed nothing from the other limits. Run calls it.
func RunExactLimits(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	RunExactLimitsAcross(t, func(t *testing.T) []*limiter.Limiter {
		l, err := limiter.New(newStore(t), limiter.Config{})
		must(t, err)
		t.Cleanup(func() { l.Close(context.Background()) })
		return []*limiter.Limiter{l}
	})
}

// RunExactLimitsAcross is RunExactLimits with the requests spread over
// the Limiters newLimiters returns (instances sharing one store), once
// per case.
func RunExactLimitsAcross(t *testing.T, newLimiters func(t *testing.T) []*limiter.Limiter) {
	const clients = 1000
	u := int64(limiter.Unlimited)
	hour := []limiter.Window{{Name: "per_hour", Requests: 100, Per: time.Hour}}
	for _, tc := range []struct {
		name string
		lim  limiter.Limits
		want int64
	}{
		{"qps burst", limiter.Limits{QPS: 1, Burst: 100, Quota: u}, 100},
		{"window", limiter.Limits{QPS: u, Quota: u, Windows: hour}, 100},
		{"throttle", limiter.Limits{QPS: u, Quota: u, Throttle: limiter.Throttle{QPS: 1, Burst: 100}}, 100},
		{"quota", limiter.Limits{QPS: u, Quota: 100, Period: limiter.Day}, 100},
		{"all five", limiter.Limits{QPS: 1, Burst: 300, Quota: 100, Period: limiter.Day, Throttle: limiter.Throttle{QPS: 1, Burst: 250},
			Windows: []limiter.Window{{Name: "a", Requests: 200, Per: time.Hour}, {Name: "b", Requests: 150, Per: 24 * time.Hour}}}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := newLimiters(t)
			now := time.Now()
			key := fmt.Sprintf("AKIDexact%d", now.UnixNano())
			burst := func(lim limiter.Limits) int64 {
				return admitAtOnce(t, clients, func(i int) (limiter.Decision, error) {
					return ls[i%len(ls)].AllowAt(context.Background(), now, limiter.Request{Plan: "usagePlan-exact001", Key: key, API: "api-x", Limits: lim})
				})
			}
			if got := burst(tc.lim); got != tc.want {
				t.Fatalf("admitted %d of %d, want %d", got, clients, tc.want)
			}
			if tc.name != "all five" {
				return
			}
			// The 900 refused by the quota took nothing: without it, the
			// tightest bucket left (window b: 150 - 100) admits 50 more.
			lim := tc.lim
			lim.Quota = u
			if got := burst(lim); got != 50 {
				t.Fatalf("without the quota: admitted %d more, want 50", got)
			}
		})
	}
}
