package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/limiter"
)

// The benchmarks of issue 21 (compact limits): state per active key,
// decisions serial and parallel at 10k and 1M keys, one hot key, and a
// plan with five limits against one with two. Every limiter admits 2000
// requests per second per key; planguard's "common plan" also counts a
// quota (2000 QPS and a day quota), its "bucket only" plan has no quota.

const planID = "usagePlan-bench001"

// shardCountBench is planguard's shard count: the smallest capacity
// that gives each shard one entry.
const shardCountBench = 256

var (
	commonPlan = limiter.Limits{QPS: perSec, Quota: 99_999_999, Period: limiter.Day}
	bucketOnly = limiter.Limits{QPS: perSec, Quota: limiter.Unlimited}
	fivePlan   = limiter.Limits{QPS: perSec, Quota: 99_999_999, Period: limiter.Day, Windows: []limiter.Window{
		{Name: "per_minute", Requests: 60 * perSec, Per: time.Minute},
		{Name: "per_hour", Requests: 3600 * perSec, Per: time.Hour},
		{Name: "per_day", Requests: 86400 * perSec, Per: 24 * time.Hour},
	}}
)

// keyed is one keyed limiter under test: take decides one request of
// key i.
type keyed struct {
	name string
	make func(n int) (take func(i int), keep any)
}

func names(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("AKID%036d", i)
	}
	return ks
}

// peers are the limiters under test over keys ks. planguard's capacity
// is n keys for the memory benchmarks (its index is sized for what it
// may hold) and 2n for the speed ones, so that no key is evicted while
// measured: the peers evict nothing either.
func peers(ks []string) []keyed { return peersWith(ks, 1) }

func peersWith(ks []string, spare int) []keyed {
	ctx := context.Background()
	pg := func(lim limiter.Limits) func(n int) (func(int), any) {
		return func(n int) (func(int), any) {
			l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{Capacity: max(spare*n, shardCountBench)})
			now := time.Now()
			return func(i int) {
				l.AllowAt(ctx, now, limiter.Request{Plan: planID, Key: ks[i], Limits: lim})
			}, l
		}
	}
	return []keyed{
		{"planguard-common-plan", pg(commonPlan)},
		{"planguard-bucket-only", pg(bucketOnly)},
		{"sethvargo-go-limiter", func(n int) (func(int), any) {
			s, _ := memorystore.New(&memorystore.Config{Tokens: perSec, Interval: time.Second, InitialAlloc: 4096})
			return func(i int) { s.Take(ctx, ks[i]) }, s
		}},
		{"throttled", func(n int) (func(int), any) {
			st, _ := throttledmem.NewCtx(n)
			rl, _ := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(perSec), MaxBurst: perSec})
			return func(i int) { rl.RateLimitCtx(ctx, ks[i], 1) }, rl
		}},
		{"x-time-rate-map", func(n int) (func(int), any) {
			r := &rateMap{m: map[string]*rate.Limiter{}}
			return func(i int) { r.allow(ks[i]) }, r
		}},
		{"ulule-limiter", func(n int) (func(int), any) {
			l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Second, Limit: perSec})
			return func(i int) { l.Get(ctx, ks[i]) }, l
		}},
	}
}

// BenchmarkIssue21Memory reports the heap per active key at 1M keys
// (the limiter's state and its index; the key strings, shared with the
// caller, are not counted).
func BenchmarkIssue21Memory(b *testing.B) {
	const n = 1_000_000
	ks := names(n)
	for _, p := range peers(ks) {
		b.Run(p.name, func(b *testing.B) {
			// Measured once, whatever -benchtime asks (a -bench . at
			// -benchtime 300000x would otherwise build 300,000 of them).
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			take, keep := p.make(n)
			for i := range n {
				take(i)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(keep)
			for b.Loop() {
			}
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/key")
		})
	}
}

// BenchmarkIssue21Serial: one goroutine, keys visited in a scattered
// order, every key seen before the timer starts.
func BenchmarkIssue21Serial(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		ks := names(n)
		for _, p := range peersWith(ks, 2) {
			b.Run(fmt.Sprintf("keys=%d/%s", n, p.name), func(b *testing.B) {
				take, keep := p.make(n)
				for i := range n {
					take(i)
				}
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					take(i % n)
					i += 7919
				}
				runtime.KeepAlive(keep)
			})
		}
	}
}

// BenchmarkIssue21Parallel: one goroutine per CPU (scatter.Run) over
// 10k keys, and over one hot key.
//
// In keys=10000-random each goroutine draws its keys at random, from a
// stream of its own (scatter.Parallel): on 2 cores half of the decisions
// find their key's state last written by the other core.
// keys=10000-lockstep is the worst case beside it: every goroutine walks
// the same scattered order from another start (the serial benchmark's
// walk), so that each key is decided by the goroutines in turn and every
// decision finds its key's state last written by the other core.
func BenchmarkIssue21Parallel(b *testing.B) {
	const n = 10_000
	ks := names(n)
	for _, p := range peersWith(ks, 2) {
		b.Run("keys=10000-random/"+p.name, func(b *testing.B) {
			take, keep := p.make(n)
			for i := range n {
				take(i)
			}
			b.ReportAllocs()
			scatter.Parallel(b, 1, n, func(i int) error { take(i); return nil })
			runtime.KeepAlive(keep)
		})
		b.Run("keys=10000-lockstep/"+p.name, func(b *testing.B) {
			take, keep := p.make(n)
			for i := range n {
				take(i)
			}
			b.ReportAllocs()
			scatter.Run(b, 1, func(g, count int) {
				i := (g + 1) * 104729
				for range count {
					take(i % n)
					i += 7919
				}
			})
			runtime.KeepAlive(keep)
		})
		b.Run("hot-key/"+p.name, func(b *testing.B) {
			take, keep := p.make(1)
			b.ReportAllocs()
			scatter.Run(b, 1, func(_, count int) {
				for range count {
					take(0)
				}
			})
			runtime.KeepAlive(keep)
		})
	}
}

// BenchmarkIssue21SerialNewStrings is the serial benchmark of the
// common plan for a caller that passes a new string for a key on every
// request (a key lookup that allocates its IDs): the limiter's key
// table, which finds an entry by its key string's address, never finds
// one, and the decision hashes the key as it did before the table.
func BenchmarkIssue21SerialNewStrings(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10_000, 1_000_000} {
		ks, again := names(n), names(n) // equal keys, other strings
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{Capacity: 2 * n})
			now := time.Now()
			for i := range n {
				l.AllowAt(ctx, now, limiter.Request{Plan: planID, Key: ks[i], Limits: commonPlan})
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				l.AllowAt(ctx, now, limiter.Request{Plan: planID, Key: again[i%n], Limits: commonPlan})
				i += 7919
			}
		})
	}
}

// BenchmarkIssue21Limits: a plan with a bucket, three windows and a
// quota against a plan with a bucket and a quota, serial over 10k keys.
func BenchmarkIssue21Limits(b *testing.B) {
	ctx := context.Background()
	const n = 10_000
	ks := names(n)
	for _, c := range []struct {
		name string
		lim  limiter.Limits
	}{{"two-limits", commonPlan}, {"five-limits", fivePlan}} {
		b.Run(c.name, func(b *testing.B) {
			l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
			now := time.Now()
			for _, k := range ks {
				l.AllowAt(ctx, now, limiter.Request{Plan: planID, Key: k, Limits: c.lim})
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				l.AllowAt(ctx, now, limiter.Request{Plan: planID, Key: ks[i%n], Limits: c.lim})
				i += 7919
			}
		})
	}
}

// BenchmarkIssue21MemoryFive reports the heap per active key at 1M keys
// for the five-limit plan, against the two-limit plan (the cost of three
// windows).
func BenchmarkIssue21MemoryFive(b *testing.B) {
	ctx := context.Background()
	const n = 1_000_000
	ks := names(n)
	for _, c := range []struct {
		name string
		lim  limiter.Limits
	}{{"two-limits", commonPlan}, {"five-limits", fivePlan}} {
		b.Run(c.name, func(b *testing.B) {
			var before, after runtime.MemStats // measured once, as above
			runtime.GC()
			runtime.ReadMemStats(&before)
			l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{Capacity: n})
			now := time.Now()
			for _, k := range ks {
				l.AllowAt(ctx, now, limiter.Request{Plan: planID, Key: k, Limits: c.lim})
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(l)
			for b.Loop() {
			}
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/key")
		})
	}
}

// BenchmarkMachineScaling measures what two goroutines can gain on this
// machine at best: a loop of arithmetic that touches no shared memory,
// serial and in parallel (scatter.Run). The ratio of the two ns/op is the
// ceiling of any parallel speed-up here (on a machine whose cores are
// shared with other jobs it is below the core count); the parallel
// limiter benchmarks are read against it. b.RunParallel is the same
// loop under b.RunParallel: under -benchtime Nx it shows what that
// costs (a shared write every iteration or few; see scatter.Run), under
// a -benchtime of a duration it matches parallel.
func BenchmarkMachineScaling(b *testing.B) {
	work := func(x uint64) uint64 {
		for range 100 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		return x
	}
	var sink atomic.Uint64
	b.Run("serial", func(b *testing.B) {
		var x uint64
		for b.Loop() {
			x = work(x)
		}
		sink.Add(x)
	})
	b.Run("parallel", func(b *testing.B) {
		scatter.Run(b, 1, func(_, count int) {
			var x uint64
			for range count {
				x = work(x)
			}
			sink.Add(x)
		})
	})
	b.Run("b.RunParallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var x uint64
			for pb.Next() {
				x = work(x)
			}
			sink.Add(x)
		})
	})
}
