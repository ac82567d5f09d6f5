package limiter

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// Limits that mean nothing are an error, not a refusal: a zero Limits
// was refused for QPS with RetryAfter 1ns before (the middleware
// answered 429 "retry in 1 s" forever).
func TestInvalidLimitsAreAnError(t *testing.T) {
	ok := Limits{QPS: 5, Quota: 10}
	cases := []struct {
		name string
		r    Request
	}{
		{"zero", Request{}},
		{"QPS 0", Request{Limits: Limits{QPS: 0, Quota: 10}}},
		{"QPS -2", Request{Limits: Limits{QPS: -2, Quota: Unlimited}}},
		{"quota 0", Request{Limits: Limits{QPS: 5, Quota: 0}}},
		{"quota -3", Request{Limits: Limits{QPS: 5, Quota: -3}}},
		{"burst without QPS", Request{Limits: Limits{QPS: Unlimited, Burst: 3, Quota: 10}}},
		{"negative burst", Request{Limits: Limits{QPS: 5, Burst: -1, Quota: 10}}},
		{"five windows", Request{Limits: Limits{QPS: 5, Quota: 10, Windows: make([]Window, 5)}}},
		{"window of 0 requests", Request{Limits: Limits{QPS: 5, Quota: 10, Windows: []Window{{Name: "m", Per: time.Minute}}}}},
		{"window of 0 s", Request{Limits: Limits{QPS: 5, Quota: 10, Windows: []Window{{Name: "m", Requests: 3}}}}},
		{"throttle burst without QPS", Request{Limits: Limits{QPS: 5, Quota: 10, Throttle: Throttle{Burst: 4}}}},
		{"negative units", Request{Units: -1, Limits: ok}},
		{"unknown period", Request{Limits: Limits{QPS: 5, Quota: 10, Period: Month + 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t, Config{})
			tc.r.Plan, tc.r.Key = "p", "k"
			d, err := l.AllowAt(ctx, t0, tc.r)
			require.ErrorIs(t, err, ErrInvalidLimits, "decision %+v", d)
			require.False(t, d.Allowed)
		})
	}
	l, _ := newLimiter(t, Config{})
	d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: ok})
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

// A charge past MaxUnits is refused, charging nothing; MaxUnits itself
// is charged.
func TestChargeAtMostMaxUnits(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	r := Request{Plan: "p", Key: "k", Units: MaxUnits + 1, Limits: Limits{QPS: 5, Quota: 10}}
	_, err := l.ChargeAt(ctx, t0, r)
	require.ErrorIs(t, err, ErrInvalidLimits)
	r.Units = MaxUnits
	over, err := l.ChargeAt(ctx, t0, r)
	require.NoError(t, err)
	require.Equal(t, int64(MaxUnits-10), over, "the first charge took nothing of the quota")
}

// The GCRA bucket decides as golang.org/x/time/rate does: random rates,
// bursts, gaps and token counts, the same decisions and, for a refusal,
// the same wait within 1 ms.
func TestBucketMatchesRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	decisions := 0
	for seq := range 300 {
		// Rates from 1 per day to 10,000 per second, as windows and QPS
		// buckets have them, and bursts from 1 to 2×rate×period.
		per := []time.Duration{time.Second, 10 * time.Second, time.Minute, time.Hour, 24 * time.Hour}[rng.IntN(5)]
		requests := 1 + rng.Int64N(10_000)
		w := Window{Requests: requests, Per: per}
		g := windowBucket(w)
		if rng.IntN(2) == 0 {
			g = newGCRA(g.interval, 1+rng.Int64N(2*requests))
		}
		ref := rate.NewLimiter(rate.Every(time.Duration(g.interval)), int(g.burst))
		now := t0.UnixNano()
		tat := int64(0)
		mean := g.interval * max(g.burst/4, 1)
		for i := range 200 {
			now += rng.Int64N(2 * mean)
			n := int64(1)
			if rng.IntN(4) == 0 {
				n = 1 + rng.Int64N(g.burst+1) // sometimes more than the burst
			}
			at := time.Unix(0, now)
			r := ref.ReserveN(at, int(n))
			want := r.OK() && r.DelayFrom(at) == 0
			next, wait, ok := g.take(tat, now, n)
			require.Equal(t, want, ok, "sequence %d step %d: %d tokens at +%v (interval %v, burst %d)", seq, i, n, time.Duration(now-t0.UnixNano()), time.Duration(g.interval), g.burst)
			if ok {
				tat = next
			} else if r.OK() {
				require.InDelta(t, float64(r.DelayFrom(at)), float64(wait), float64(time.Millisecond), "sequence %d step %d: wait", seq, i)
				r.CancelAt(at)
			}
			decisions++
		}
	}
	require.Equal(t, 300*200, decisions)
}

// A bucket whose rate or burst is lowered keeps its debt in time, but
// never worse than an empty bucket: a key that used a day window is not
// locked out for hours when the window becomes a per-minute one.
func TestLoweredBucketIsAtWorstEmpty(t *testing.T) {
	day := windowBucket(Window{Requests: 10_000, Per: 24 * time.Hour})
	tat := int64(0)
	now := t0.UnixNano()
	for range 5000 {
		var ok bool
		tat, _, ok = day.take(tat, now, 1)
		require.True(t, ok)
	}
	minute := windowBucket(Window{Requests: 100, Per: time.Minute})
	_, wait, ok := minute.take(tat, now, 1)
	require.False(t, ok)
	require.Equal(t, minute.interval, wait, "an empty per-minute bucket: one token's wait")
}

func TestDecisionPolicies(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	lim := Limits{QPS: 10, Burst: 20, Quota: 100, Period: Day,
		Windows:  []Window{{Name: "per_minute", Requests: 30, Per: time.Minute}},
		Throttle: Throttle{QPS: 2}}
	d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", API: "api-1", Units: 3, Limits: lim})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	got := d.Policies()
	require.Len(t, got, 4)
	want := []Policy{
		{Limit: LimitThrottle, Name: "throttle", Quota: 2, Window: time.Second, Remaining: 1, Reset: 500 * time.Millisecond},
		{Limit: LimitQPS, Name: "qps", Quota: 20, Window: 2 * time.Second, Remaining: 19, Reset: 100 * time.Millisecond},
		{Limit: LimitWindow, Name: "per_minute", Quota: 30, Window: time.Minute, Remaining: 29, Reset: 2 * time.Second},
		{Limit: LimitQuota, Name: "quota", Quota: 100, Window: 24 * time.Hour, Remaining: 97, Reset: 12 * time.Hour},
	}
	require.Equal(t, want, got)
	require.EqualValues(t, 97, d.Remaining, "units count against the quota")
	closest, ok := d.Closest()
	require.True(t, ok)
	require.Equal(t, "throttle", closest.Name, "1 of 2 left is the closest to exhaustion")

	d, err = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", API: "api-1", Limits: lim})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", API: "api-1", Limits: lim})
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, LimitThrottle, d.Refused)
	require.Equal(t, 500*time.Millisecond, d.RetryAfter)
	closest, _ = d.Closest()
	require.True(t, closest.Refused)
	require.Equal(t, "throttle", closest.Name)
	require.EqualValues(t, 96, d.Remaining, "the refusal consumed no quota")
	wantRefused := []Policy{
		{Limit: LimitThrottle, Name: "throttle", Quota: 2, Window: time.Second, Remaining: 0, Reset: 500 * time.Millisecond, Refused: true},
		{Limit: LimitQPS, Name: "qps", Quota: 20, Window: 2 * time.Second, Remaining: 18, Reset: 200 * time.Millisecond},
		{Limit: LimitWindow, Name: "per_minute", Quota: 30, Window: time.Minute, Remaining: 28, Reset: 4 * time.Second},
		{Limit: LimitQuota, Name: "quota", Quota: 100, Window: 24 * time.Hour, Remaining: 96, Reset: 12 * time.Hour},
	}
	require.Equal(t, wantRefused, d.Policies(), "a refusal reports the buckets as they were, the refusing one with its wait")

	// The policies are computed from the Decision's own fields: a copy
	// and concurrent readers see the same ones, and a slice returned is
	// the caller's.
	cp := d
	ps := d.Policies()
	ps[0].Name = "changed"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			assert.Equal(t, wantRefused, d.Policies())
			assert.Equal(t, wantRefused, cp.Policies())
			p, ok := d.Closest()
			assert.True(t, ok)
			assert.Equal(t, wantRefused[0], p)
		})
	}
	wg.Wait()

	// A dry run reports the same refusal but serves the request.
	dry := lim
	dry.DryRun = true
	d, err = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", API: "api-1", Limits: dry})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.True(t, d.DryRun)
	require.Equal(t, LimitThrottle, d.Refused)
	require.Equal(t, wantRefused, d.Policies())

	// Another API of the same plan has its own throttle bucket.
	d, err = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", API: "api-2", Limits: lim})
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

func TestLimitString(t *testing.T) {
	for l, s := range map[Limit]string{LimitNone: "none", LimitQPS: "qps", LimitQuota: "quota", LimitWindow: "window", LimitThrottle: "throttle"} {
		require.Equal(t, s, l.String())
	}
	require.True(t, errors.Is(invalid("x"), ErrInvalidLimits))
}

// Of two policies equally close to exhaustion, the one that takes longer
// to come back is the closest.
func TestClosestPrefersTheLongerReset(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	lim := Limits{QPS: 1, Quota: Unlimited, Windows: []Window{{Name: "per_day", Requests: 1, Per: 24 * time.Hour}}}
	d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	p, ok := d.Closest()
	require.True(t, ok)
	require.Equal(t, "per_day", p.Name, "both are empty; the day window resets last")
	require.Equal(t, 24*time.Hour, p.Reset)
}

// Counter.ID differs for every different Counter, separators in IDs
// included, so that a store keying on it never merges two counters.
func TestCounterIDs(t *testing.T) {
	cs := []Counter{
		{Plan: "p", Key: "k"}, {Plan: "p", Key: "k", Window: 1}, {Plan: "p:", Key: "k"}, {Plan: "p", Key: ":k"},
		{Plan: "p1", Key: "k"}, {Plan: "p", Key: "1k"}, {Plan: "", Key: "pk"}, {Plan: "pk", Key: ""}, {Plan: "p", Key: "k", Window: -1},
	}
	seen := map[string]Counter{}
	for _, c := range cs {
		if o, dup := seen[c.ID()]; dup {
			t.Fatalf("%+v and %+v share ID %q", c, o, c.ID())
		}
		seen[c.ID()] = c
	}
}

// An entry holds the windows it was made with inline; windows a plan
// gains later are kept in the extras table, and every one is enforced.
func TestWindowsAddedLater(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	one := Limits{QPS: Unlimited, Quota: Unlimited, Windows: []Window{{Name: "a", Requests: 3, Per: time.Hour}}}
	d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: one})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	_, e := l.entryOf(entryKey{"p", "k"})
	require.Len(t, e.inline(), 1)

	three := one
	three.Windows = append(three.Windows[:1:1], Window{Name: "b", Requests: 1, Per: time.Hour}, Window{Name: "c", Requests: 5, Per: time.Hour})
	d, err = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: three})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: three})
	require.NoError(t, err)
	require.False(t, d.Allowed)
	require.Equal(t, LimitWindow, d.Refused)
	got := map[string]int64{}
	for _, p := range d.Policies() {
		got[p.Name] = p.Remaining
	}
	require.Equal(t, map[string]int64{"a": 1, "b": 0, "c": 4}, got, "a kept its two requests inline, b and c count from the second")
}

// check's one-test path for plain plans agrees with the full validation
// on every combination of edge values.
func TestCheckFastPathAgrees(t *testing.T) {
	vals := []int64{math.MinInt64, -2, Unlimited, 0, 1, 2, 1000, math.MaxInt64 - 1, math.MaxInt64}
	ws := [][]Window{nil, {{Name: "w", Requests: 1, Per: time.Second}}, {{Name: "bad", Requests: 0, Per: time.Second}}}
	n := 0
	for _, qps := range vals {
		for _, burst := range vals {
			for _, quota := range vals {
				for _, units := range vals {
					for _, period := range []Period{Day, Month, Month + 1} {
						for _, w := range ws {
							r := Request{Units: units, Limits: Limits{QPS: qps, Burst: burst, Quota: quota, Period: period, Windows: w}}
							fast, all := r.check(), r.checkAll()
							if (fast == nil) != (all == nil) {
								t.Fatalf("%+v: check %v, checkAll %v", r, fast, all)
							}
							n++
						}
					}
				}
			}
		}
	}
	require.Greater(t, n, 50000)
}
