package limiter

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEvictionRefusesNoQuota hammers many more keys than the bucket cache
// holds, from many goroutines, each key far below its quota: with entries
// evicted (and their leases in flight back to the store) all the time, no
// request may be refused for quota, and the counts stay exact. Issue 14
// saw 7–397 spurious quota refusals with Capacity 8192 and 1M keys.
func TestEvictionRefusesNoQuota(t *testing.T) {
	// The memory store's whole-quota lease, small leases, and small
	// leases topped up in the background.
	for _, cfg := range []Config{{}, {LeaseSize: 5}, {LeaseSize: 5, Prefetch: true}} {
		t.Run(fmt.Sprintf("lease%d,prefetch=%v", cfg.LeaseSize, cfg.Prefetch), func(t *testing.T) {
			s := &MemoryStore{}
			cfg.Capacity = shardCount // one entry per shard
			l, err := New(s, cfg)
			require.NoError(t, err)
			const keys, workers, perWorker = 2000, 32, 4000
			lim := Limits{QPS: Unlimited, Quota: 1000, Period: Day}
			var admitted, quotaRefused atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					i := w * 104729
					for range perWorker {
						// Each key is asked about workers*perWorker/keys = 64 times, well under its quota.
						d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k" + strconv.Itoa(i%keys), Limits: lim})
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							admitted.Add(1)
						} else if d.Refused == LimitQuota {
							quotaRefused.Add(1)
						}
						i += 7919
					}
				})
			}
			wg.Wait()
			require.NoError(t, l.Close(ctx))
			byKey, err := s.PlanUsage(ctx, "p", counter("p", "", lim, t0).Window)
			require.NoError(t, err)
			var sum int64
			for _, u := range byKey {
				sum += u
			}
			require.Equal(t, admitted.Load(), sum, "stored usage is what was admitted")
			require.Zero(t, quotaRefused.Load(), "requests refused for quota although their keys had quota left")
			require.EqualValues(t, workers*perWorker, admitted.Load())
		})
	}
}
