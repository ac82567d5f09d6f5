package limiter

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// storedCounters counts the counters s keeps in its maps.
func storedCounters(s *MemoryStore) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, windows := range sh.plans {
			for _, keys := range windows {
				n += len(keys)
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// A Limiter on a MemoryStore holds its keys' counts in its entries: the
// store's maps stay empty while every read of the store, direct or
// through the Limiter, sees the counts; Close moves them into the store,
// and a Limiter made next on it goes on from there.
func TestMemoryStoreCountsInEntries(t *testing.T) {
	l, s := newLimiter(t, Config{})
	lim := Limits{QPS: Unlimited, Quota: 10, Period: Day}
	window := counter("p", "", lim, t0).Window
	for k := range 100 {
		for range 3 {
			d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k" + strconv.Itoa(k), Limits: lim})
			require.NoError(t, err)
			require.True(t, d.Allowed)
		}
	}
	require.Zero(t, storedCounters(s), "the counts are in the entries, not in the store's maps")

	used, err := l.Usage(ctx, "p", "k7", lim, t0)
	require.NoError(t, err)
	require.EqualValues(t, 3, used)
	stored, err := s.Usage(ctx, Counter{Plan: "p", Key: "k7", Window: window})
	require.NoError(t, err)
	require.EqualValues(t, 10, stored, "the store counts the Limiter's lease (all the quota), as before")
	byKey, sum, err := l.PlanUsage(ctx, "p", lim, t0)
	require.NoError(t, err)
	require.Len(t, byKey, 100)
	require.EqualValues(t, 300, sum)
	direct, err := s.PlanUsage(ctx, "p", window)
	require.NoError(t, err)
	require.Len(t, direct, 100)
	require.EqualValues(t, 10, direct["k42"])

	require.NoError(t, l.SetUsage(ctx, "p", "k7", lim, t0, 8))
	require.Zero(t, storedCounters(s), "an adjustment of a held count stays in the entry")
	admitted := 0
	for range 5 {
		if d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k7", Limits: lim}); d.Allowed {
			admitted++
		}
	}
	require.Equal(t, 2, admitted, "8 of 10 used after the adjustment")

	require.NoError(t, l.Close(ctx))
	require.Equal(t, 100, storedCounters(s), "Close moves every count into the store")
	require.Nil(t, s.owner.Load())
	stored, err = s.Usage(ctx, Counter{Plan: "p", Key: "k3", Window: window})
	require.NoError(t, err)
	require.EqualValues(t, 3, stored)

	l2, err := New(s, Config{})
	require.NoError(t, err)
	admitted = 0
	for range 10 {
		if d, _ := l2.AllowAt(ctx, t0, Request{Plan: "p", Key: "k3", Limits: lim}); d.Allowed {
			admitted++
		}
	}
	require.Equal(t, 7, admitted, "the next Limiter goes on from the stored count")
	require.Equal(t, 100, storedCounters(s), "a count the store has stays there (the Limiter reserves from it)")
	stored, err = s.Usage(ctx, Counter{Plan: "p", Key: "k3", Window: window})
	require.NoError(t, err)
	require.EqualValues(t, 10, stored)
}

// A direct call on the store that changes a count the Limiter holds
// moves it into the store first: nothing is counted twice or lost.
func TestMemoryStoreDirectCallOnHeldCount(t *testing.T) {
	l, s := newLimiter(t, Config{})
	lim := Limits{QPS: Unlimited, Quota: 10, Period: Total}
	c := Counter{Plan: "p", Key: "k"}
	for range 4 {
		d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	// Another user of the store sees the Limiter's lease (all 10).
	granted, used, err := s.Reserve(ctx, c, 5, 10)
	require.NoError(t, err)
	require.Zero(t, granted)
	require.EqualValues(t, 10, used)
	require.Equal(t, 1, storedCounters(s), "the count moved into the store")
	// The Limiter still admits from its lease, exactly.
	admitted := 0
	for range 10 {
		if d, _ := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim}); d.Allowed {
			admitted++
		}
	}
	require.Equal(t, 6, admitted)
	u, err := l.Usage(ctx, "p", "k", lim, t0)
	require.NoError(t, err)
	require.EqualValues(t, 10, u)
}

// Two Limiters on one MemoryStore (the first holds counts in its
// entries, the second goes through the store) admit exactly the quota
// under 1000 concurrent requests, with the second one's evictions and
// direct store calls racing the first one's reservations.
func TestMemoryStoreTwoLimitersExact(t *testing.T) {
	for _, lease := range []int64{0, 1} {
		t.Run("second lease "+strconv.FormatInt(lease, 10), func(t *testing.T) {
			s := &MemoryStore{}
			l1, err := New(s, Config{Capacity: shardCount})
			require.NoError(t, err)
			l2, err := New(s, Config{Capacity: shardCount, LeaseSize: lease})
			require.NoError(t, err)
			require.Same(t, l1, s.owner.Load())
			lim := Limits{QPS: Unlimited, Quota: 50, Period: Day}
			const keys = 4
			var admitted [keys]atomic.Int64
			var wg sync.WaitGroup
			for i := range 1000 {
				wg.Go(func() {
					l := l1
					if i/keys%2 == 1 { // both Limiters ask for every key
						l = l2
					}
					k := i % keys
					if i%7 == 0 {
						// a key of its own that evicts others from the one-entry shards
						_, _ = l.AllowAt(ctx, t0, Request{Plan: "p", Key: "other" + strconv.Itoa(i), Limits: lim})
					}
					d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k" + strconv.Itoa(k), Limits: lim})
					if err != nil {
						t.Error(err)
					}
					if d.Allowed {
						admitted[k].Add(1)
					}
				})
			}
			wg.Wait()
			for k := range keys {
				require.EqualValues(t, 50, admitted[k].Load(), "key %d", k)
			}
			require.NoError(t, l1.Close(ctx))
			require.NoError(t, l2.Close(ctx))
		})
	}
}

// PlanUsage reads a plan's held counts by its tag in the index slots:
// with 300 plans (more than the 256 tags, so plans share tags), each
// plan's usage is exactly its own keys'.
func TestPlanUsageByTag(t *testing.T) {
	l, s := newLimiter(t, Config{})
	lim := Limits{QPS: Unlimited, Quota: 100, Period: Day}
	const plans, keys = 300, 20
	for p := range plans {
		for k := range keys {
			for range p%3 + 1 {
				d, err := l.AllowAt(ctx, t0, Request{Plan: "plan" + strconv.Itoa(p), Key: "k" + strconv.Itoa(k), Limits: lim})
				require.NoError(t, err)
				require.True(t, d.Allowed)
			}
		}
	}
	require.Zero(t, storedCounters(s))
	for p := range plans {
		byKey, sum, err := l.PlanUsage(ctx, "plan"+strconv.Itoa(p), lim, t0)
		require.NoError(t, err)
		require.Len(t, byKey, keys, "plan %d", p)
		require.EqualValues(t, keys*(p%3+1), sum, "plan %d", p)
	}
}

// The keys of one plan spread over every shard: the plan's tag, in the
// hash's bits 1–8, does not pick the shard.
func TestOnePlanSpreadsOverShards(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	var per [shardCount]int
	const keys = 256 * 100
	for k := range keys {
		sh := l.shardOf(l.hash(entryKey{"usagePlan-one", "AKID" + strconv.Itoa(k)}))
		per[(uintptr(unsafe.Pointer(sh))-uintptr(unsafe.Pointer(&l.shards[0])))/unsafe.Sizeof(l.shards[0])]++
	}
	for i, n := range per {
		require.True(t, n > 50 && n < 150, "shard %d holds %d of %d keys (mean 100)", i, n, keys)
	}
}
