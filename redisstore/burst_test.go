package redisstore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// A burst of 1000 concurrent clients over three instances sharing one
// Redis, each instance with go-redis's default pool: every decision is
// answered (no store error, which the middleware would turn into a 503),
// QPS and quota stay exact, and the decisions share round trips (at most
// one per four decisions). Each burst comes twice: on a Redis that does
// not know the script yet (as after a deployment or a restart), and on
// one that does. The deadline is a generous one, not the 100 ms default:
// how fast a burst is answered is a benchmark's claim
// (BenchmarkBurst, with the default), not a unit test's on a loaded machine.
func TestBurstAcrossThreeInstances(t *testing.T) {
	const clients = 1000
	prefix := fmt.Sprintf("burst%d-%d:", os.Getpid(), prefixes.Add(1))
	sent := &commandCounter{}
	var lims []*limiter.Limiter
	for range 3 {
		c := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1}) // the default pool
		c.AddHook(sent)
		t.Cleanup(func() { c.Close() })
		s, err := New(c, Config{Prefix: prefix, Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := limiter.New(s, limiter.Config{})
		lims = append(lims, l)
	}
	admin := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { admin.Close() })
	for _, tc := range []struct {
		name string
		lim  limiter.Limits
		cold bool
		want func(admitted int64, elapsed time.Duration) bool
	}{
		{"quota 300 cold", limiter.Limits{QPS: 2000, Quota: 300, Period: limiter.Day}, true,
			func(n int64, _ time.Duration) bool { return n == 300 }},
		{"quota 300 warm", limiter.Limits{QPS: 2000, Quota: 300, Period: limiter.Day}, false,
			func(n int64, _ time.Duration) bool { return n == 300 }},
		{"qps 200 cold", limiter.Limits{QPS: 200, Quota: limiter.Unlimited}, true,
			func(n int64, d time.Duration) bool { return n >= 200 && n <= 200+int64(200*d.Seconds())+1 }},
		{"qps 200 warm", limiter.Limits{QPS: 200, Quota: limiter.Unlimited}, false,
			func(n int64, d time.Duration) bool { return n >= 200 && n <= 200+int64(200*d.Seconds())+1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cold {
				if err := admin.ScriptFlush(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
			}
			before := sent.n.Load()
			var admitted, failed, slowest atomic.Int64
			var firstErr atomic.Pointer[error] // errors of several types: not an atomic.Value
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i := range clients {
				wg.Go(func() {
					<-gate
					t0 := time.Now()
					d, err := lims[i%3].AllowAt(context.Background(), time.Now(), limiter.Request{Plan: "p", Key: tc.name, Limits: tc.lim})
					for took := int64(time.Since(t0)); ; {
						if old := slowest.Load(); took <= old || slowest.CompareAndSwap(old, took) {
							break
						}
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, &err)
					}
					if d.Allowed {
						admitted.Add(1)
					}
				})
			}
			start := time.Now()
			close(gate)
			wg.Wait()
			elapsed := time.Since(start)
			trips := sent.n.Load() - before
			t.Logf("%d decisions in %v (the slowest %v): %d admitted, %d failed, %d round trips (%.3f per decision)",
				clients, elapsed, time.Duration(slowest.Load()), admitted.Load(), failed.Load(), trips, float64(trips)/clients)
			if failed.Load() != 0 {
				t.Fatalf("%d of %d decisions failed (503), first: %v", failed.Load(), clients, *firstErr.Load())
			}
			if !tc.want(admitted.Load(), elapsed) {
				t.Fatalf("admitted %d in %v", admitted.Load(), elapsed)
			}
			if tc.lim.Quota != limiter.Unlimited {
				if used, err := lims[0].Usage(context.Background(), "p", tc.name, tc.lim, time.Now()); err != nil || used != tc.lim.Quota {
					t.Fatalf("stored usage %d, %v; want %d", used, err, tc.lim.Quota)
				}
			}
			if trips*4 > clients {
				t.Fatalf("%d round trips for %d concurrent decisions: they do not share round trips", trips, clients)
			}
		})
	}
}

// BenchmarkBurst measures what TestBurstAcrossThreeInstances does not
// time: a burst of 1000 concurrent decisions over three instances with
// the store's default deadline (100 ms). Each op is one burst; it reports
// the slowest decision and how many of the 1000 failed (503s).
func BenchmarkBurst(b *testing.B) {
	const clients = 1000
	prefix := fmt.Sprintf("burstbench%d-%d:", os.Getpid(), prefixes.Add(1))
	var lims []*limiter.Limiter
	for range 3 {
		c := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1})
		b.Cleanup(func() { c.Close() })
		s, err := New(c, Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		l, _ := limiter.New(s, limiter.Config{})
		lims = append(lims, l)
	}
	lim := limiter.Limits{QPS: 2000, Quota: limiter.Unlimited}
	var failed, slowest int64
	for n := 0; b.Loop(); n++ {
		var f, worst atomic.Int64
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				t0 := time.Now()
				_, err := lims[i%3].AllowAt(context.Background(), time.Now(), limiter.Request{Plan: "p", Key: fmt.Sprint(n), Limits: lim})
				for took := int64(time.Since(t0)); ; {
					if old := worst.Load(); took <= old || worst.CompareAndSwap(old, took) {
						break
					}
				}
				if err != nil {
					f.Add(1)
				}
			})
		}
		wg.Wait()
		failed += f.Load()
		slowest = max(slowest, worst.Load())
	}
	b.ReportMetric(float64(failed)/float64(b.N), "failed/burst")
	b.ReportMetric(float64(slowest)/1e6, "slowest-ms")
}
