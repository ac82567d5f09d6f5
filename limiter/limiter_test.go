package limiter

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/planguard/planguard/internal/scatter"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func newLimiter(t testing.TB, cfg Config) (*Limiter, *MemoryStore) {
	s := &MemoryStore{}
	l, err := New(s, cfg)
	require.NoError(t, err)
	return l, s
}

type step struct {
	at      time.Duration // after t0
	n       int           // requests at that instant
	allowed int           // how many of them are admitted
	refused Limit         // the refusal of the last one, when some are refused
}

func runSteps(t *testing.T, l *Limiter, lim Limits, steps []step) {
	t.Helper()
	for i, st := range steps {
		got := 0
		var last Decision
		for range st.n {
			d, err := l.AllowAt(ctx, t0.Add(st.at), Request{Plan: "plan", Key: "key", Limits: lim})
			require.NoError(t, err)
			if d.Allowed {
				got++
			}
			last = d
		}
		require.Equal(t, st.allowed, got, "step %d at +%v", i, st.at)
		if got < st.n {
			require.Equal(t, st.refused, last.Refused, "step %d", i)
			if st.refused == LimitQPS {
				require.Positive(t, last.RetryAfter, "step %d", i)
			}
		}
	}
}

func TestQPSSteps(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	runSteps(t, l, Limits{QPS: 5, Quota: Unlimited}, []step{
		{0, 7, 5, LimitQPS},                      // full burst of 5
		{100 * time.Millisecond, 1, 0, LimitQPS}, // 0.5 token
		{200 * time.Millisecond, 2, 1, LimitQPS}, // 1 token
		{1200 * time.Millisecond, 10, 5, LimitQPS},
		{time.Hour, 6, 5, LimitQPS}, // never above burst
	})
}

func TestQPSRetryAfter(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	lim := Limits{QPS: 2, Quota: Unlimited}
	for range 2 {
		d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
		require.True(t, d.Allowed)
	}
	d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
	require.Equal(t, LimitQPS, d.Refused)
	require.Equal(t, 500*time.Millisecond, d.RetryAfter)
	d, _ = l.AllowAt(ctx, t0.Add(d.RetryAfter), Request{Plan: "p", Key: "k", Limits: lim})
	require.True(t, d.Allowed)
}

// QPS admits at most burst + rate × elapsed, however requests arrive.
func TestQPSBound(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	lim := Limits{QPS: 50, Quota: Unlimited}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 500 {
				at := t0.Add(time.Duration(i*2+g%2) * time.Millisecond) // 0..1s
				if d, _ := l.AllowAt(ctx, at, Request{Plan: "p", Key: "k", Limits: lim}); d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, admitted.Load(), int64(50+50*1))
	require.GreaterOrEqual(t, admitted.Load(), int64(50))
}

func TestQuotaSteps(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	lim := Limits{QPS: 2, Quota: 5}
	runSteps(t, l, lim, []step{
		{0, 3, 2, LimitQPS}, // QPS refusal consumes no quota
		{time.Second, 3, 2, LimitQPS},
		{2 * time.Second, 2, 1, LimitQuota}, // the refused one takes no QPS token (all or nothing)...
		{2 * time.Second, 1, 0, LimitQuota}, // ...so the quota refuses this one too
		{time.Hour, 1, 0, LimitQuota},
	})
	used, err := l.Usage(ctx, "plan", "key", lim, t0)
	require.NoError(t, err)
	require.EqualValues(t, 5, used)
}

func TestQuotaDecisionFields(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	loc, _ := time.LoadLocation("Asia/Shanghai")
	lim := Limits{QPS: Unlimited, Quota: 2, Period: Day, Location: loc}
	now := time.Date(2026, 11, 23, 23, 0, 0, 0, loc)
	d, _ := l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: lim})
	require.True(t, d.Allowed)
	require.EqualValues(t, 1, d.Remaining)
	require.True(t, d.Reset.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, loc)))
	_, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: lim})
	d, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: lim})
	require.Equal(t, LimitQuota, d.Refused)
	require.Equal(t, time.Hour, d.RetryAfter)

	d, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "total", Limits: Limits{QPS: Unlimited, Quota: 1}})
	require.True(t, d.Allowed)
	require.True(t, d.Reset.IsZero())
	d, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "total", Limits: Limits{QPS: Unlimited, Quota: 1}})
	require.Equal(t, LimitQuota, d.Refused)
	require.Zero(t, d.RetryAfter, "a total quota never resets")

	d, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "free", Limits: Limits{QPS: Unlimited, Quota: Unlimited}})
	require.True(t, d.Allowed)
	require.Equal(t, LimitNone, d.Refused)
	require.False(t, d.DryRun)
	require.EqualValues(t, Unlimited, d.Remaining)
	require.Zero(t, d.RetryAfter)
	require.True(t, d.Reset.IsZero())
	require.Empty(t, d.Policies(), "no limit applied")
	_, ok := d.Closest()
	require.False(t, ok)
}

func TestPeriodBoundaries(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	cases := []struct {
		name       string
		period     Period
		loc        *time.Location
		before, at time.Time // last instant of one period, first of the next
	}{
		{"day at midnight UTC", Day, time.UTC, time.Date(2026, 3, 1, 23, 59, 59, 999e6, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{"week Sunday to Monday", Week, time.UTC, time.Date(2026, 11, 29, 23, 59, 59, 999e6, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{"month end Jan 31", Month, time.UTC, time.Date(2026, 1, 31, 23, 59, 59, 999e6, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"leap day", Month, time.UTC, time.Date(2028, 2, 29, 23, 59, 59, 999e6, time.UTC), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"year end", Month, time.UTC, time.Date(2026, 12, 31, 23, 59, 59, 999e6, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"day across spring-forward (23 h)", Day, ny, time.Date(2026, 3, 8, 23, 59, 59, 999e6, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, ny)},
		{"day across fall-back (25 h)", Day, ny, time.Date(2026, 11, 1, 23, 59, 59, 999e6, ny), time.Date(2026, 11, 2, 0, 0, 0, 0, ny)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t, Config{})
			lim := Limits{QPS: Unlimited, Quota: 1, Period: tc.period, Location: tc.loc}
			d, _ := l.AllowAt(ctx, tc.before, Request{Plan: "p", Key: "k", Limits: lim})
			require.True(t, d.Allowed)
			d, _ = l.AllowAt(ctx, tc.before, Request{Plan: "p", Key: "k", Limits: lim})
			require.False(t, d.Allowed)
			require.Equal(t, time.Millisecond, d.RetryAfter)
			require.True(t, d.Reset.Equal(tc.at), "reset %v, want %v", d.Reset, tc.at)
			d, _ = l.AllowAt(ctx, tc.at, Request{Plan: "p", Key: "k", Limits: lim})
			require.True(t, d.Allowed, "a new period starts at %v", tc.at)
		})
	}
}

func TestWindowLengthsAcrossDST(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	start, end := Day.Window(time.Date(2026, 3, 8, 12, 0, 0, 0, ny), ny)
	require.Equal(t, 23*time.Hour, end.Sub(start))
	start, end = Day.Window(time.Date(2026, 11, 1, 12, 0, 0, 0, ny), ny)
	require.Equal(t, 25*time.Hour, end.Sub(start))
	start, end = Week.Window(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), nil)
	require.Equal(t, time.Monday, start.Weekday())
	require.Equal(t, 7*24*time.Hour, end.Sub(start))
	start, end = Month.Window(time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC), nil)
	require.Equal(t, 28*24*time.Hour, end.Sub(start))
	start, _ = Total.Window(t0, nil)
	require.True(t, start.IsZero())
}

func TestLiveLimitChanges(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	lim := Limits{QPS: 10, Quota: 3}
	for range 3 {
		d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
		require.True(t, d.Allowed)
	}
	d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
	require.Equal(t, LimitQuota, d.Refused)

	lim.Quota = 5 // raised: consumed quota is kept
	for range 2 {
		d, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
		require.True(t, d.Allowed)
	}
	d, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
	require.Equal(t, LimitQuota, d.Refused)

	// QPS lowered to 1: the bucket's burst follows at once.
	lim = Limits{QPS: 1, Quota: Unlimited}
	l2, _ := newLimiter(t, Config{})
	_, _ = l2.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: Limits{QPS: 100, Quota: Unlimited}})
	got := 0
	for range 10 {
		if d, _ := l2.AllowAt(ctx, t0.Add(time.Second), Request{Plan: "p", Key: "k", Limits: lim}); d.Allowed {
			got++
		}
	}
	require.Equal(t, 1, got)
}

func TestUsageReadResetAdjust(t *testing.T) {
	l, _ := newLimiter(t, Config{LeaseSize: 4})
	lim := Limits{QPS: Unlimited, Quota: 10}
	for _, key := range []string{"a", "a", "a", "b"} {
		d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: key, Limits: lim})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	byKey, sum, err := l.PlanUsage(ctx, "p", lim, t0)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"a": 3, "b": 1}, byKey)
	require.EqualValues(t, 4, sum)

	require.NoError(t, l.SetUsage(ctx, "p", "a", lim, t0, 9))
	used, _ := l.Usage(ctx, "p", "a", lim, t0)
	require.EqualValues(t, 9, used)
	d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "a", Limits: lim})
	require.True(t, d.Allowed)
	require.EqualValues(t, 0, d.Remaining)
	d, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "a", Limits: lim})
	require.Equal(t, LimitQuota, d.Refused)

	require.NoError(t, l.ResetUsage(ctx, "p", "a", lim, t0))
	used, _ = l.Usage(ctx, "p", "a", lim, t0)
	require.Zero(t, used)
	d, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "a", Limits: lim})
	require.True(t, d.Allowed)
}

// An evicted bucket comes back full; quota survives eviction.
func TestEviction(t *testing.T) {
	l, _ := newLimiter(t, Config{Capacity: shardCount}) // one bucket per shard
	lim := Limits{QPS: 1, Quota: 3}
	d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "victim", Limits: lim})
	require.True(t, d.Allowed)
	d, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "victim", Limits: lim})
	require.Equal(t, LimitQPS, d.Refused)
	for i := range 20 * shardCount { // push it out of its shard's LRU
		_, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "other" + strconv.Itoa(i), Limits: Limits{QPS: 1, Quota: Unlimited}})
	}
	d, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "victim", Limits: lim})
	require.True(t, d.Allowed, "an evicted bucket comes back full")
	d, _ = l.AllowAt(ctx, t0.Add(time.Second), Request{Plan: "p", Key: "victim", Limits: Limits{QPS: 100, Quota: 3}})
	require.True(t, d.Allowed)
	d, _ = l.AllowAt(ctx, t0.Add(10*time.Second), Request{Plan: "p", Key: "victim", Limits: Limits{QPS: 100, Quota: 3}})
	require.Equal(t, LimitQuota, d.Refused, "quota is not lost to eviction")
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(nil, Config{})
	require.Error(t, err)
	_, err = New(&MemoryStore{}, Config{Capacity: -1})
	require.Error(t, err)
}

func TestExactQuotaUnderConcurrency(t *testing.T) {
	l, s := newLimiter(t, Config{})
	lim := Limits{QPS: Unlimited, Quota: 100, Period: Day}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(func() {
			if d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim}); err == nil && d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 100, admitted.Load())
	used, _ := s.Usage(ctx, counter("p", "k", lim, t0))
	require.EqualValues(t, 100, used)
}

func keyNames(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("AKID%036d", i)
	}
	return ks
}

// BenchmarkDecision measures AllowAt on existing keys (QPS + quota on the
// memory store), beside raw rate.Limiter.Allow on one limiter.
func BenchmarkDecision(b *testing.B) {
	lim := Limits{QPS: 2000, Quota: 99_999_999}
	for _, n := range []int{1, 10_000, 1_000_000} {
		ks := keyNames(n)
		l, _ := newLimiter(b, Config{Capacity: max(n, DefaultCapacity)})
		now := t0
		for _, k := range ks {
			_, _ = l.AllowAt(ctx, now, Request{Plan: "usagePlan-bench001", Key: k, Limits: lim})
		}
		b.Run(fmt.Sprintf("keys=%d/serial", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_, _ = l.AllowAt(ctx, now, Request{Plan: "usagePlan-bench001", Key: ks[i%n], Limits: lim})
				i += 7919
			}
		})
		b.Run(fmt.Sprintf("keys=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			scatter.Parallel(b, 1, n, func(i int) error {
				_, _ = l.AllowAt(ctx, now, Request{Plan: "usagePlan-bench001", Key: ks[i], Limits: lim})
				return nil
			})
		})
	}
}

func BenchmarkRawRateAllow(b *testing.B) {
	r := rate.NewLimiter(rate.Inf, 1)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.AllowN(t0, 1)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		scatter.Run(b, 1, func(_, count int) {
			for range count {
				r.AllowN(t0, 1)
			}
		})
	})
}

// BenchmarkMemoryPerKey reports heap bytes per active (plan, key) with
// 1M keys (QPS bucket + quota state), not counting the key strings.
func BenchmarkMemoryPerKey(b *testing.B) {
	const n = 1_000_000
	ks := keyNames(n)
	lim := Limits{QPS: 100, Quota: 1000}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l, _ := newLimiter(b, Config{Capacity: n})
		for _, k := range ks {
			_, _ = l.AllowAt(ctx, t0, Request{Plan: "usagePlan-bench001", Key: k, Limits: lim})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")
		runtime.KeepAlive(l)
	}
}

func TestShardSize(t *testing.T) {
	if s := unsafe.Sizeof(shard{}); s%64 != 0 {
		t.Fatalf("shard is %d bytes, want a multiple of 64", s)
	}
}

// Two keys whose hashes collide share an LRU slot: the newcomer evicts the
// other, whose lease goes back to the store, so quota stays exact.
func TestHashCollisionEvicts(t *testing.T) {
	l, s := newLimiter(t, Config{})
	lim := Limits{QPS: Unlimited, Quota: 10}
	a, b := entryKey{"usagePlan-a", "AKIDa"}, entryKey{"usagePlan-a", "AKIDb"}
	for range 3 {
		d, err := l.AllowAt(ctx, t0, Request{Plan: a.plan, Key: a.key, Limits: lim})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	c := Counter{Plan: a.plan, Key: a.key}
	leased, _ := s.Usage(ctx, c)
	require.Equal(t, int64(10), leased, "the memory store leases the whole quota")

	// Look b up under a's hash, as if the two collided.
	h := l.hash(a)
	sh := l.shardOf(h)
	sh.mu.Lock()
	got := sh.lookup(h, b)
	indexed := sh.entries.find(h) >= 0
	evicted := l.takeEvicted(sh)
	sh.mu.Unlock()
	require.Nil(t, got)
	require.False(t, indexed)
	require.Len(t, evicted, 1)
	require.Equal(t, a, evicted[0].id())

	l.release(ctx, evicted)
	used, _ := s.Usage(ctx, c)
	require.Equal(t, int64(3), used, "the unused lease went back")
	u, err := l.Usage(ctx, a.plan, a.key, lim, t0)
	require.NoError(t, err)
	require.Equal(t, int64(3), u)
}

// A QPS refusal consumes no quota and reports what is left of it, with
// the period's reset (it once reported Unlimited, which the middleware
// rendered as 0/20 while 17 were left). In a period the key has not been
// decided in yet, the whole quota is left.
func TestQPSRefusalReportsQuota(t *testing.T) {
	l, err := New(&MemoryStore{}, Config{LeaseSize: 1})
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	lim := Limits{QPS: 3, Quota: 20, Period: Day}
	for range 3 {
		d, err := l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: lim})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	d, err := l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: lim})
	require.NoError(t, err)
	require.Equal(t, LimitQPS, d.Refused)
	require.EqualValues(t, 17, d.Remaining)
	require.True(t, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).Equal(d.Reset), "%v", d.Reset)

	lowered := lim
	lowered.Quota = 2
	d, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: lowered})
	require.Equal(t, LimitQuota, d.Refused, "both refuse; the quota's wait (to midnight) is the longest")
	require.EqualValues(t, 0, d.Remaining, "a lowered quota leaves nothing, never a negative")

	d, _ = l.AllowAt(ctx, now, Request{Plan: "p", Key: "k", Limits: Limits{QPS: 3, Quota: Unlimited}})
	require.Equal(t, LimitQPS, d.Refused)
	require.EqualValues(t, Unlimited, d.Remaining)
}

// An entry (a key's QPS bucket and quota position) is 64 bytes: one
// allocation size class, the budget of the compact state.
func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != 64 {
		t.Fatalf("entry is %d bytes, want 64", s)
	}
}

// The plan's hash is cached by the address of its bytes: equal IDs at
// different addresses, and IDs that share bytes but not length, hash as
// their contents do.
func TestPlanHashCache(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	backing := "usagePlan-abcdefgh"
	short := backing[:len(backing)-1]
	copied := string([]byte(backing))
	for range 2 {
		require.Equal(t, maphash.String(l.seed, backing), l.planHash(backing))
		require.Equal(t, maphash.String(l.seed, short), l.planHash(short))
		require.Equal(t, l.planHash(backing), l.planHash(copied))
	}
	require.NotEqual(t, l.planHash(backing), l.planHash(short))
}

// gatedStore is a MemoryStore with a lease of lease units whose Reserve,
// once armed, signals that it started and waits for open to be closed:
// before its work, or, if landed, after it, with only its reply held
// back.
type gatedStore struct {
	MemoryStore
	lease   int64
	landed  bool
	armed   atomic.Bool
	started chan struct{}
	open    chan struct{}
}

func (s *gatedStore) LeaseSize() int64 { return s.lease }

func (s *gatedStore) Reserve(ctx context.Context, c Counter, n, limit int64) (int64, int64, error) {
	armed := s.armed.CompareAndSwap(true, false)
	if armed && !s.landed {
		close(s.started)
		<-s.open
	}
	granted, used, err := s.MemoryStore.Reserve(ctx, c, n, limit)
	if armed && s.landed {
		close(s.started)
		<-s.open
	}
	return granted, used, err
}

// A decision that a bucket refuses while another goroutine holds the
// key's quota (here a charge waiting on the store) reads the quota's
// position once that goroutine is done: it reports the charge, and the
// race detector sees no unsynchronised access to the quota.
func TestRefusalWaitsForTheQuotaHolder(t *testing.T) {
	s := &gatedStore{lease: 1, started: make(chan struct{}), open: make(chan struct{})}
	l, err := New(s, Config{})
	require.NoError(t, err)
	lim := Limits{QPS: 1, Quota: 100, Period: Day}
	r := Request{Plan: "p", Key: "k", Limits: lim}
	d, err := l.AllowAt(ctx, t0, r)
	require.NoError(t, err)
	require.True(t, d.Allowed) // the bucket's one token
	require.Equal(t, int64(99), d.Remaining)

	s.armed.Store(true)
	charged := make(chan error)
	go func() {
		c := r
		c.Units = 40
		_, err := l.ChargeAt(ctx, t0, c)
		charged <- err
	}()
	<-s.started // the charge holds the quota, waiting on the store
	refused := make(chan Decision)
	go func() {
		d, err := l.AllowAt(ctx, t0, r)
		assert.NoError(t, err)
		refused <- d
	}()
	for !blockedIn("limiter.(*shard).hold", "limiter.(*Limiter).AllowAt") {
		select {
		case d := <-refused:
			t.Fatalf("the refusal did not wait for the charge: %+v", d)
		default:
			runtime.Gosched()
		}
	}
	close(s.open)
	require.NoError(t, <-charged)
	d = <-refused
	require.False(t, d.Allowed)
	require.Equal(t, LimitQPS, d.Refused)
	require.Equal(t, int64(59), d.Remaining)
}

// blockedIn reports whether a goroutine's stack holds every one of
// funcs.
func blockedIn(funcs ...string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		all := true
		for _, f := range funcs {
			all = all && strings.Contains(g, f)
		}
		if all {
			return true
		}
	}
	return false
}

// The plain path (allowPlain) decides exactly as the general one: two
// Limiters, one of them made to decide every request the general way,
// get the same random requests (keys, times, rates, bursts, quotas,
// periods, units, dry runs, adjustments) and must return equal
// Decisions, field for field.
func TestPlainPathDecidesAsTheGeneralOne(t *testing.T) {
	for _, lease := range []int64{0, 1, 3} {
		t.Run(fmt.Sprintf("lease=%d", lease), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(lease), 21))
			var plainAlerts, generalAlerts []Alert
			plain, _ := newLimiter(t, Config{LeaseSize: lease, OnAlert: func(a Alert) { plainAlerts = append(plainAlerts, a) }})
			general, _ := newLimiter(t, Config{LeaseSize: lease, OnAlert: func(a Alert) { generalAlerts = append(generalAlerts, a) }})
			general.general = true
			plans := []Limits{
				{QPS: 1, Quota: 200, Period: Day},
				{QPS: 3, Burst: 7, Quota: 400, Period: Day},
				{QPS: 1000, Quota: 300, Period: Total},
				{QPS: 2, Burst: 1, Quota: 250, Period: Month, DryRun: true},
				{QPS: 1, Quota: 150, Period: Day, Location: time.FixedZone("east", 5*3600)},
				{QPS: 4, Quota: 300, Period: Day, Windows: []Window{
					{Name: "per_2s", Requests: 3, Per: 2 * time.Second},
					{Name: "per_10s", Requests: 6, Per: 10 * time.Second},
					{Name: "per_minute", Requests: 20, Per: time.Minute},
				}},
				// A window equal to the QPS bucket: their waits tie, and
				// the later bucket (the window) is reported.
				{QPS: 1, Quota: 250, Period: Day, Windows: []Window{{Name: "per_second", Requests: 1, Per: time.Second}}},
				// Alerts: each admission reports the thresholds it crosses.
				{QPS: 10, Quota: 40, Period: Day, Alerts: []int{5, 25, 50, 75, 100}},
				// No quota: the buckets alone.
				{QPS: 2, Burst: 3, Quota: Unlimited},
				{QPS: 3, Quota: Unlimited, DryRun: true, Windows: []Window{{Name: "per_4s", Requests: 5, Per: 4 * time.Second}}},
				{QPS: 2, Burst: 3, Quota: 200, Period: Total, DryRun: true, Windows: []Window{{Name: "per_5s", Requests: 4, Per: 5 * time.Second}}},
			}
			// The last plan's ID also comes with one window more or less
			// than its entry was made with (more: the extra window lives
			// in the extras table, which only the general path reads).
			grown := plans[len(plans)-1]
			grown.Windows = append(grown.Windows[:1:1], Window{Name: "per_3s", Requests: 2, Per: 3 * time.Second})
			shrunk := plans[len(plans)-1]
			shrunk.Windows = nil
			// And without its quota: one entry decided with a quota and
			// without, by turns.
			unquota := plans[len(plans)-1]
			unquota.Quota = Unlimited
			// The same strings for each plan and key, as the middleware
			// passes them: their entries are found by the strings'
			// identity (the key table), and by the hash for a copy.
			var planIDs []string
			for p := range plans {
				planIDs = append(planIDs, fmt.Sprint("plan", p))
			}
			keys := []string{"key0", "key1", "key2"}
			now := t0
			byPlain := map[Limit]int{} // what the plain path decided, by refusing limit
			byIdentity := 0            // of those, found through the key table
			alertsByPlain := 0
			noQuotaByPlain := 0 // of those, under a plan with no quota
			for i := range 20000 {
				now = now.Add(time.Duration(rng.IntN(60)) * time.Millisecond)
				if rng.IntN(2000) == 0 {
					now = now.Add(time.Duration(rng.IntN(30)) * time.Hour)
				}
				p := rng.IntN(len(plans))
				r := Request{Plan: planIDs[p], Key: keys[rng.IntN(len(keys))], Units: int64(rng.IntN(3)), Limits: plans[p]}
				if rng.IntN(4) == 0 { // a new string for the key: found by its hash
					r.Key = strings.Clone(r.Key)
				}
				if p == len(plans)-1 {
					switch rng.IntN(8) {
					case 0:
						r.Limits = grown
					case 1:
						r.Limits = shrunk
					case 2:
						r.Limits = unquota
					}
				}
				if rng.IntN(200) == 0 {
					used := int64(rng.IntN(400))
					require.NoError(t, plain.SetUsage(ctx, r.Plan, r.Key, r.Limits, now, used))
					require.NoError(t, general.SetUsage(ctx, r.Plan, r.Key, r.Limits, now, used))
					continue
				}
				var viaPlain Decision
				before := len(plainAlerts)
				identity := plain.byKey(r.Plan, r.Key) != nil
				var done bool
				if r.Limits.quick() {
					done, _ = plain.allowPlain(&viaPlain, &r, now)
				}
				if done {
					byPlain[viaPlain.Refused]++
					if r.Limits.Quota == Unlimited {
						noQuotaByPlain++
					}
					if identity {
						byIdentity++
					}
					alertsByPlain += len(plainAlerts) - before
				} else {
					var err error
					viaPlain, err = plain.AllowAt(ctx, now, r)
					require.NoError(t, err)
				}
				viaGeneral, err := general.AllowAt(ctx, now, r)
				require.NoError(t, err)
				require.Equal(t, viaGeneral, viaPlain, "request %d: %+v at %v", i, r, now)
				require.Equal(t, generalAlerts, plainAlerts, "request %d: the alerts", i)
			}
			if lease == 0 { // smaller leases cross thresholds mostly when reserving
				require.Greater(t, alertsByPlain, 10, "the plain path reported too few alerts to compare")
			}
			require.Greater(t, byIdentity, 1000, "the plain path found too few entries through the key table")
			require.Greater(t, noQuotaByPlain, 1000, "the plain path decided too few requests of a plan with no quota")
			for _, lim := range []Limit{LimitNone, LimitQPS, LimitQuota, LimitWindow} {
				if lim == LimitNone && lease == 1 {
					continue // a lease of 1 is spent by the request that reserved it
				}
				if lim == LimitWindow {
					require.Greater(t, byPlain[lim], 100, "the plain path decided too few requests refused by a window: %v", byPlain)
					continue
				}
				require.Greater(t, byPlain[lim], 300, "the plain path decided too few requests refused by %v to compare: %v", lim, byPlain)
			}
		})
	}
}

// With Config.Prefetch, a key whose lease is half spent has it topped
// back up to a full lease in the background, on the shorter path as on
// the general one: after 6 requests of a 10-unit lease, 6 more units.
func TestPrefetchOnThePlainPath(t *testing.T) {
	for _, general := range []bool{false, true} {
		s := &MemoryStore{}
		l, err := New(s, Config{LeaseSize: 10, Prefetch: true})
		require.NoError(t, err)
		l.general = general
		lim := Limits{QPS: 1000, Quota: 1000, Period: Day}
		for range 6 {
			d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
			require.NoError(t, err)
			require.True(t, d.Allowed)
		}
		l.bg.Wait() // the background reservation
		used, err := s.Usage(ctx, Counter{Plan: "p", Key: "k", Window: t0.Truncate(24 * time.Hour).Unix()})
		require.NoError(t, err)
		require.Equal(t, int64(16), used, "general path %v: the store's count after a lease and its top-up", general)
		require.NoError(t, l.Close(ctx))
	}
}

// A reset made while a prefetched lease is on its way never lets the
// key pass its quota: the store counts the lease's units only if the
// reservation ran after the reset, which the limiter cannot tell, so it
// drops them (at most one lease goes unused). Before, a reservation that
// landed before the reset and answered after it left the limiter
// holding 10 units the store no longer counted: 1006 admitted under a
// quota of 1000.
func TestResetDuringPrefetchKeepsTheQuota(t *testing.T) {
	for _, landed := range []bool{true, false} {
		t.Run(fmt.Sprintf("landed=%t", landed), func(t *testing.T) {
			s := &gatedStore{lease: 10, landed: landed, started: make(chan struct{}), open: make(chan struct{})}
			l, err := New(s, Config{Prefetch: true})
			require.NoError(t, err)
			defer l.Close(ctx)
			const quota = 1000
			lim := Limits{QPS: Unlimited, Quota: quota}
			r := Request{Plan: "p", Key: "k", Limits: lim}
			allow := func() bool {
				d, err := l.AllowAt(ctx, t0, r)
				require.NoError(t, err)
				return d.Allowed
			}
			require.True(t, allow()) // a lease of 10 reserved in the call; 9 left
			s.armed.Store(true)
			for range 6 { // 3 left: under half the lease, a top-up starts
				require.True(t, allow())
			}
			<-s.started
			require.NoError(t, l.ResetUsage(ctx, "p", "k", lim, t0))
			close(s.open)
			admitted := 0
			for range 2 * quota {
				if allow() {
					admitted++
				}
			}
			require.LessOrEqual(t, admitted, quota, "admitted after the reset")
			require.GreaterOrEqual(t, admitted, quota-10, "admitted after the reset")
		})
	}
}
