package redisstore

import (
	"context"
	"errors"
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
// Redis, each instance with go-redis's default pool and the store's
// default timeout: every decision is answered (no store error, which the
// middleware would turn into a 503), and QPS and quota stay exact.
func TestBurstAcrossThreeInstances(t *testing.T) {
	const clients = 1000
	prefix := fmt.Sprintf("burst%d-%d:", os.Getpid(), prefixes.Add(1))
	sent := &commandCounter{}
	var lims []*limiter.Limiter
	for range 3 {
		c := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1}) // the default pool
		c.AddHook(sent)
		t.Cleanup(func() { c.Close() })
		s, err := New(c, Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := limiter.New(s, limiter.Config{})
		lims = append(lims, l)
	}
	for _, tc := range []struct {
		name string
		lim  limiter.Limits
		want func(admitted int64, elapsed time.Duration) bool
	}{
		{"quota 300", limiter.Limits{QPS: 2000, Quota: 300, Period: limiter.Day},
			func(n int64, _ time.Duration) bool { return n == 300 }},
		{"qps 200", limiter.Limits{QPS: 200, Quota: limiter.Unlimited},
			func(n int64, d time.Duration) bool { return n >= 200 && n <= 200+int64(200*d.Seconds())+1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := sent.n.Load()
			var admitted, failed atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i := range clients {
				wg.Go(func() {
					<-gate
					d, err := lims[i%3].AllowAt(context.Background(), "p", tc.name, tc.lim, time.Now())
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
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
			t.Logf("%d decisions in %v: %d admitted, %d failed, %d round trips (%.3f per decision)",
				clients, elapsed, admitted.Load(), failed.Load(), trips, float64(trips)/clients)
			if failed.Load() != 0 {
				t.Fatalf("%d of %d decisions failed (503), first: %v", failed.Load(), clients, firstErr.Load())
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

var _ = errors.Is
