package limiter

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The entries index against a map: random inserts, lookups and removals
// (with hashes crowded into few homes, so that probes wrap and removals
// shift), and evictions once full. Every entry held is found under its
// hash; every evicted one is gone; the count matches.
func TestEntriesIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{1, 3, 50, 1000} {
		var ix entries
		ix.max = max
		model := map[uint64]*entry{}
		evict := func(e *entry) {
			for h, m := range model {
				if m == e {
					delete(model, h)
					return
				}
			}
			t.Fatalf("evicted an entry not held")
		}
		for range 20 * max {
			// Hashes from a small set of high bits: homes collide.
			h := rng.Uint64N(64)<<58 | rng.Uint64N(1<<20)<<1
			switch i := ix.find(h); {
			case model[h] != nil:
				require.GreaterOrEqual(t, i, 0)
				require.Same(t, model[h], ix.slots[i].e)
				if rng.IntN(3) == 0 {
					ix.remove(i)
					delete(model, h)
				} else {
					ix.touch(i)
				}
			default:
				require.Equal(t, -1, i)
				e := &entry{}
				ix.insert(h, e, evict)
				model[h] = e
			}
			require.Equal(t, len(model), ix.n)
			require.LessOrEqual(t, ix.n, max)
		}
		for h, e := range model {
			i := ix.find(h)
			require.GreaterOrEqual(t, i, 0)
			require.Same(t, e, ix.slots[i].e)
		}
		require.Len(t, ix.all(), len(model))
	}
}

// The extras table against a map, with evictions: an evicted bucket is
// one that was full (its time passed) when one was, else the earliest
// among the sample.
func TestExtrasAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, max := range []int{1, 4, 64, 300} {
		var x extras
		x.max = max
		model := map[uint64]int64{}
		now := int64(1000)
		for range 20 * max {
			now += rng.Int64N(10)
			h := rng.Uint64N(32)<<59 | rng.Uint64N(1<<16) | 1
			i := x.find(h)
			if _, ok := model[h]; ok {
				require.GreaterOrEqual(t, i, 0)
				require.Equal(t, model[h], x.slots[i].tat)
			} else {
				require.Equal(t, -1, i)
			}
			tat := now + rng.Int64N(100) - 50
			x.set(i, h, tat, now)
			model[h] = tat
			if x.n < len(model) { // one was evicted: find which
				for mh := range model {
					if x.find(mh) < 0 {
						delete(model, mh)
					}
				}
			}
			require.Equal(t, len(model), x.n)
			require.LessOrEqual(t, x.n, max)
		}
		for h, tat := range model {
			i := x.find(h)
			require.GreaterOrEqual(t, i, 0)
			require.Equal(t, tat, x.slots[i].tat)
		}
	}
}

// Keys far beyond the capacity, each with windows and a throttle: the
// tables stay within their bounds, released entries leave the limbo,
// and evicted buckets come back full (more admitted than without
// eviction, far fewer than asked).
func TestWindowsUnderEviction(t *testing.T) {
	l, _ := newLimiter(t, Config{Capacity: shardCount}) // one entry, four extras per shard
	lim := Limits{QPS: Unlimited, Quota: Unlimited, Throttle: Throttle{QPS: 1},
		Windows: []Window{{Name: "a", Requests: 1, Per: 3600e9}, {Name: "b", Requests: 2, Per: 3600e9}}}
	keys := keyNames(2000)
	admitted := 0
	for round := range 5 {
		for _, k := range keys {
			d, err := l.AllowAt(ctx, t0.Add(time.Duration(round)), Request{Plan: "p", Key: k, API: "api", Limits: lim})
			require.NoError(t, err)
			if d.Allowed {
				admitted++
			}
		}
	}
	for i := range l.shards {
		sh := &l.shards[i]
		require.LessOrEqual(t, sh.entries.n, sh.entries.max)
		require.LessOrEqual(t, sh.extras.n, sh.extras.max)
		require.LessOrEqual(t, len(sh.limbo), 1, "released entries leave the limbo")
	}
	require.Greater(t, admitted, 2000, "evicted buckets come back full")
	require.Less(t, admitted, 5*2000, "buckets that stay refuse")

}
