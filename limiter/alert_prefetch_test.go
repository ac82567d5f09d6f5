package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/planguard/planguard/limiter"
)

type fgKey struct{}

// prefetchGatedStore is a MemoryStore (not shared, not owned: a lease store like
// boltstore) whose first background Reserve (a prefetch: its context is
// not the test's) lands in the store and then waits for the test; later
// background reserves fail (no more prefetches). Its reply comes back a
// second later: in the test's synctest bubble, once every goroutine
// waits.
type prefetchGatedStore struct {
	*limiter.MemoryStore
	mu     sync.Mutex
	bgSeen int
	landed chan struct{} // closed once the first prefetch is in the store
}

func (s *prefetchGatedStore) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (int64, int64, error) {
	if ctx.Value(fgKey{}) != nil {
		return s.MemoryStore.Reserve(ctx, c, n, limit)
	}
	s.mu.Lock()
	s.bgSeen++
	first := s.bgSeen == 1
	s.mu.Unlock()
	if !first {
		return 0, 0, errors.New("no more prefetches in this test")
	}
	g, u, err := s.MemoryStore.Reserve(ctx, c, n, limit)
	close(s.landed)
	<-time.After(time.Second) // in the test's bubble: once every goroutine waits
	return g, u, err
}

// A key's entry is evicted while its prefetched lease is in flight: the
// entry stays in the limbo until the reservation lands and gives its
// units back, so that the key's next decision finds it, not a new entry
// that would take those units, still counted in the store, for
// consumption. That reported the 49% threshold early (the key at 484
// units, Used=490) and again at 490.
func TestAlertsWithPrefetchAndEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &prefetchGatedStore{MemoryStore: &limiter.MemoryStore{}, landed: make(chan struct{})}
		alerts := map[int]int{}
		var log []string
		var amu sync.Mutex
		l, err := limiter.New(store, limiter.Config{Capacity: 1, LeaseSize: 10, Prefetch: true, OnAlert: func(a limiter.Alert) {
			amu.Lock()
			alerts[a.Threshold]++
			log = append(log, fmt.Sprintf("%d%% Used=%d", a.Threshold, a.Used))
			amu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close(context.Background())
		fg := context.WithValue(context.Background(), fgKey{}, true)
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000, Period: limiter.Day, Alerts: []int{49, 50}}
		const plan, key = "usagePlan-a", "AKIDk"
		consumed := int64(0)
		allow := func(k string, units int64) {
			t.Helper()
			d, err := l.AllowAt(fg, now, limiter.Request{Plan: plan, Key: k, Units: units, Limits: lim})
			if err != nil || !d.Allowed {
				t.Fatalf("AllowAt %s: %+v, %v", k, d, err)
			}
			if k == key {
				consumed += units
			}
		}
		allow(key, 1) // a lease of 10, 9 left
		over, err := l.ChargeAt(fg, now, limiter.Request{Plan: plan, Key: key, Units: 470, Limits: lim})
		if err != nil || over != 0 {
			t.Fatal(over, err)
		}
		consumed += 470
		for range 6 { // a new lease of 10; at 4 left, a prefetch of 6
			allow(key, 1)
		}
		<-store.landed // the prefetch's 6 units are in the store, its reply not back
		// Other keys push the key's entry out (Capacity 1: one entry per
		// shard; 10,000 keys over the shards leave none of them unvisited).
		for i := range 10_000 {
			allow(fmt.Sprintf("AKIDother%d", i), 1)
		}
		// The key again, while its old entry's prefetch is in flight.
		for range 7 {
			allow(key, 1)
		}
		time.Sleep(2 * time.Second) // the bubble's clock: the prefetch's reply is back
		synctest.Wait()
		for consumed < 600 {
			allow(key, 1)
		}
		if err := l.Close(context.Background()); err != nil { // waits for the prefetch
			t.Fatal(err)
		}
		amu.Lock()
		defer amu.Unlock()
		for _, th := range lim.Alerts {
			if alerts[th] != 1 {
				t.Errorf("threshold %d%% reported %d times; the key consumed %d of 1000 units in one period, crossing it once (alerts: %v)", th, alerts[th], consumed, log)
			}
		}
	})
}
