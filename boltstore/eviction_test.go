package boltstore

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// TestEvictionRefusesNoQuota: a real file, far more keys than the
// limiter keeps in memory (every request evicts another key, whose lease
// goes back to the file), each key well under its quota. No request may
// be refused for quota, and the file counts exactly what was admitted
// (issue 14: 7–397 spurious refusals with Capacity 8192 and 1M keys).
func TestEvictionRefusesNoQuota(t *testing.T) {
	s, _ := openTemp(t)
	l, err := limiter.New(s, limiter.Config{Capacity: 256, Prefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	const plan, keys, workers, perWorker = "usagePlan-evict001", 1000, 16, 500
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000, Period: limiter.Day} // leases of 10
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			i := w * 104729
			for range perWorker {
				d, err := l.AllowAt(ctx, now, limiter.Request{Plan: plan, Key: "AKID" + strconv.Itoa(i%keys), Limits: lim})
				switch {
				case err != nil:
					t.Error(err)
					return
				case d.Allowed:
					admitted.Add(1)
				default:
					refused.Add(1)
				}
				i += 7919
			}
		})
	}
	wg.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	start, _ := limiter.Day.Window(now, nil)
	byKey, err := s.PlanUsage(ctx, plan, start.Unix())
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, u := range byKey {
		sum += u
	}
	if refused.Load() != 0 || sum != admitted.Load() {
		t.Fatalf("refused %d (want 0); admitted %d, stored %d", refused.Load(), admitted.Load(), sum)
	}
}
