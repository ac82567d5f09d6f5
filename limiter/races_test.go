package limiter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// resetHookStore is a MemoryStore (not seen as one by New) with a lease
// size, whose SetUsage runs hook once before its work: what another
// goroutine does while a reset is on its way to the store. reserved
// counts its reservations.
type resetHookStore struct {
	MemoryStore
	lease    int64
	once     sync.Once
	hook     func()
	reserved atomic.Int64
}

func (s *resetHookStore) LeaseSize() int64 { return s.lease }

func (s *resetHookStore) Reserve(ctx context.Context, c Counter, n, limit int64) (int64, int64, error) {
	s.reserved.Add(1)
	return s.MemoryStore.Reserve(ctx, c, n, limit)
}

func (s *resetHookStore) SetUsage(ctx context.Context, c Counter, used int64) error {
	s.once.Do(s.hook)
	return s.MemoryStore.SetUsage(ctx, c, used)
}

// A reset of a key that has no entry holds the key's entry (made for
// it) until the store has the new count: the key's first request,
// arriving meanwhile, waits, and reserves after the reset. Were it to
// reserve before, the store would forget its lease and the key would
// admit the lease twice. A quota of 1000 admits 1000 after the reset,
// and the one request that raced it at most.
func TestResetRacingFirstRequest(t *testing.T) {
	for _, lease := range []int64{10, 1 << 62} {
		s := &resetHookStore{lease: lease}
		l, err := New(s, Config{})
		require.NoError(t, err)
		const quota = 1000
		lim := Limits{QPS: Unlimited, Quota: quota, Period: Day}
		r := Request{Plan: "p", Key: "k", Limits: lim}
		var admitted atomic.Int64
		allow := func() {
			d, err := l.AllowAt(ctx, t0, r)
			require.NoError(t, err)
			if d.Allowed {
				admitted.Add(1)
			}
		}
		done := make(chan struct{})
		s.hook = func() {
			go func() {
				defer close(done)
				allow()
			}()
			// Until the request reserved, or waits for the reset.
			for s.reserved.Load() == 0 && !blockedIn("limiter.(*shard).hold", "limiter.(*Limiter).takeQuota") {
				runtime.Gosched()
			}
		}
		require.NoError(t, l.ResetUsage(ctx, "p", "k", lim, t0))
		<-done
		for range 3 * quota {
			allow()
		}
		require.NoError(t, l.Close(ctx))
		require.LessOrEqual(t, admitted.Load(), int64(quota+1), "lease %d", lease)
	}
}

// The same race on the default MemoryStore (the Limiter leases the
// whole quota), with real goroutines: resets of new keys race their
// first request, and no key admits more than its quota and the request
// that raced the reset.
func TestResetRacingFirstRequestMemoryStore(t *testing.T) {
	l, err := New(&MemoryStore{}, Config{})
	require.NoError(t, err)
	defer l.Close(ctx)
	const quota = 50
	lim := Limits{QPS: Unlimited, Quota: quota, Period: Day}
	for i := range 2000 {
		key := fmt.Sprint("key-", i)
		r := Request{Plan: "p", Key: key, Limits: lim}
		var n atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			if d, err := l.AllowAt(ctx, t0, r); err == nil && d.Allowed {
				n.Add(1)
			}
		})
		wg.Go(func() { require.NoError(t, l.ResetUsage(ctx, "p", key, lim, t0)) })
		wg.Wait()
		for range 2 * quota {
			d, err := l.AllowAt(ctx, t0, r)
			require.NoError(t, err)
			if d.Allowed {
				n.Add(1)
			}
		}
		require.LessOrEqual(t, n.Load(), int64(quota+1), "key %s", key)
	}
}

// A decision waiting for its entry's background reservation (awaitFetch
// lets go of the quota meanwhile) goes on only with a live entry: the
// reservation, landing on an entry evicted meanwhile, releases it, and
// a decision that then reserved on the dead entry would strand the
// lease (no eviction nor Close gives it back). Here the key's last 2
// units: the store would count 1000 with 998 admitted.
func TestAwaitFetchOnAnEntryReleasedMeanwhile(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := &gatedStore{lease: 10, started: make(chan struct{}), open: make(chan struct{})}
	l, err := New(s, Config{Prefetch: true})
	require.NoError(t, err)
	const quota = 1000
	lim := Limits{QPS: Unlimited, Quota: quota, Period: Day}
	r := Request{Plan: "p", Key: "k", Limits: lim}
	c := counter("p", "k", lim, t0)
	require.NoError(t, s.MemoryStore.SetUsage(ctx, c, 988))
	admitted := int64(0)
	allow := func(r Request) bool {
		d, err := l.AllowAt(ctx, t0, r)
		require.NoError(t, err)
		if d.Allowed {
			admitted += r.units()
		}
		return d.Allowed
	}
	for range 5 {
		require.True(t, allow(r)) // a lease of 10 (the store at 998); 5 left
	}
	s.armed.Store(true)
	require.True(t, allow(r)) // 4 left: the prefetch of 6 starts, held at the store
	<-s.started
	for range 4 {
		require.True(t, allow(r)) // the lease is spent: 998 admitted
	}
	big := r
	big.Units = 5
	done := make(chan bool)
	go func() { done <- allow(big) }() // waits for the prefetch
	for !blockedIn("limiter.(*Limiter).awaitFetch") {
		runtime.Gosched()
	}
	l.release(ctx, evictByHand(l, "p", "k")) // left in the limbo: its prefetch is in flight
	close(s.open)
	require.False(t, <-done) // 2 units left for 5
	require.NoError(t, l.Close(ctx))
	used, err := s.MemoryStore.Usage(ctx, c)
	require.NoError(t, err)
	require.Equal(t, int64(10), admitted)
	require.Equal(t, 988+admitted, used, "the store counts units no request was admitted for, and no entry holds")
}

// Prefetch under eviction (a capacity of 4 for 40 keys), 16 goroutines
// deciding and charging, new strings and throttled plans mixed in:
// after Close every key's store count is what was admitted and charged,
// and each alert threshold fired once.
func TestPrefetchEvictionDecisionsAndCharges(t *testing.T) {
	for seed := range 12 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			store := &gatedStore{lease: 10}
			cfg := Config{Capacity: 4, Prefetch: true}
			type alertKey struct {
				key       string
				threshold int
			}
			var mu sync.Mutex
			alerts := map[alertKey]int{}
			cfg.OnAlert = func(a Alert) {
				mu.Lock()
				alerts[alertKey{a.Key, a.Threshold}]++
				mu.Unlock()
			}
			l, err := New(store, cfg)
			require.NoError(t, err)
			const quota, nkeys = 1000, 40
			keys := make([]string, nkeys)
			for i := range keys {
				keys[i] = fmt.Sprint("key-", i)
			}
			var used [nkeys]atomic.Int64
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(seed), uint64(g)))
					for range 3000 {
						i := rng.IntN(nkeys)
						k := keys[i]
						if rng.IntN(2) == 0 {
							k = string([]byte(k)) // a new string
						}
						lim := Limits{QPS: Unlimited, Quota: quota, Period: Day, Alerts: []int{50, 90, 100}}
						if rng.IntN(3) == 0 {
							lim.QPS, lim.Burst, lim.Throttle = 1e9, 1e9, Throttle{QPS: 1e9, Burst: 1e9}
						}
						u := int64(1 + rng.IntN(5))
						r := Request{Plan: "p", Key: k, Limits: lim, Units: u, API: "a"}
						if rng.IntN(4) == 0 {
							over, err := l.ChargeAt(ctx, t0, r)
							require.NoError(t, err)
							used[i].Add(u - over)
							continue
						}
						d, err := l.AllowAt(ctx, t0, r)
						require.NoError(t, err)
						if d.Allowed {
							used[i].Add(u)
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, l.Close(ctx))
			for i, k := range keys {
				got, err := store.Usage(ctx, counter("p", k, Limits{Period: Day}, t0))
				require.NoError(t, err)
				require.LessOrEqual(t, used[i].Load(), int64(quota), k)
				require.Equal(t, used[i].Load(), got, k)
				for _, th := range []int{50, 90, 100} {
					want := 0
					if used[i].Load() >= alertLevel(quota, th) {
						want = 1
					}
					require.Equal(t, want, alerts[alertKey{k, th}], "%s %d%%", k, th)
				}
			}
		})
	}
}

// A grant made while a key's prefetch is in flight waits for it to
// land: the reply would otherwise bring back the count from before the
// grant (consumption read high: Remaining too low, an alert too early),
// and a grant past the usage would take the reservation's units from the
// store (which lowers a count to 0 at most) while the entry keeps them
// as a lease the store no longer counts.
func TestGrantWhilePrefetchInFlight(t *testing.T) {
	for _, tc := range []struct {
		grant, consumed int64 // the grant, and what is consumed after it and the next request
	}{{500, 407}, {5000, 1}} {
		s := &gatedStore{lease: 10, landed: true, started: make(chan struct{}), open: make(chan struct{})}
		l, err := New(s, Config{Prefetch: true})
		require.NoError(t, err)
		const quota = 1000
		lim := Limits{QPS: Unlimited, Quota: quota, Period: Day}
		require.NoError(t, s.MemoryStore.SetUsage(ctx, counter("p", "k", lim, t0), 900))
		admitted := int64(0)
		allow := func() Decision {
			d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
			require.NoError(t, err)
			if d.Allowed {
				admitted++
			}
			return d
		}
		for range 5 {
			allow() // a lease of 10 (the store at 910): 905 consumed
		}
		s.armed.Store(true)
		allow() // 906 consumed, 4 leased: a prefetch of 6 lands in the store (916) and waits
		<-s.started
		granted := make(chan error, 1)
		go func() {
			_, err := l.GrantUsage(ctx, "p", "k", lim, t0, tc.grant)
			granted <- err
		}()
		for len(granted) == 0 && !blockedIn("limiter.(*Limiter).awaitFetch", "limiter.(*Limiter).grant") {
			runtime.Gosched() // until the grant waits for the prefetch, or is done
		}
		close(s.open)
		require.NoError(t, <-granted)
		d := allow()
		require.Equal(t, quota-tc.consumed, d.Remaining, "grant %d", tc.grant)
		used, err := l.Usage(ctx, "p", "k", lim, t0)
		require.NoError(t, err)
		require.Equal(t, tc.consumed, used, "grant %d", tc.grant)
		admitted = 0
		for range 2 * quota {
			allow()
		}
		require.Equal(t, quota-tc.consumed, admitted, "grant %d: admitted after it", tc.grant)
		require.NoError(t, l.Close(ctx))
	}
}

// yieldingStore is a MemoryStore (not seen as one by New) whose
// reservations yield the processor a few times first, so that a key's
// quota stays held while its other decisions run.
type yieldingStore struct{ MemoryStore }

func (s *yieldingStore) Reserve(ctx context.Context, c Counter, n, limit int64) (int64, int64, error) {
	for range 20 {
		runtime.Gosched()
	}
	return s.MemoryStore.Reserve(ctx, c, n, limit)
}

// With a frozen clock a key's tightest bucket (the QPS bucket, or a
// window) admits exactly its burst, whichever variant of its plan (with
// a quota, decided the general way while the quota is held, or without,
// on the shorter path) each request brings, while reservations,
// prefetches, resets and charges hold its quota.
func TestBucketExactWhileQuotaHeld(t *testing.T) {
	const burst = 2000
	for _, tc := range []struct {
		name string
		lim  Limits
	}{
		{"qps", Limits{QPS: 1, Burst: burst, Quota: 100_000, Period: Day, Windows: []Window{{Name: "w", Requests: 2 * burst, Per: time.Hour}}}},
		{"window", Limits{QPS: 1, Burst: 2 * burst, Quota: 100_000, Period: Day, Windows: []Window{{Name: "w", Requests: burst, Per: time.Hour}}}},
	} {
		for _, prefetch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/prefetch=%v", tc.name, prefetch), func(t *testing.T) {
				l, err := New(&yieldingStore{}, Config{LeaseSize: 4, Prefetch: prefetch})
				require.NoError(t, err)
				defer l.Close(ctx)
				withQuota := tc.lim
				noQuota := withQuota
				noQuota.Quota = Unlimited
				var admitted atomic.Int64
				var wg sync.WaitGroup
				for g := range 4 {
					wg.Go(func() {
						for i := range 1000 {
							lim := noQuota
							if (i+g)%2 == 0 {
								lim = withQuota
							}
							d, err := l.AllowAt(ctx, t0, Request{Plan: "p", Key: "k", Limits: lim})
							if err != nil {
								t.Error(err)
								return
							}
							if d.Allowed {
								admitted.Add(1)
							}
						}
					})
				}
				wg.Go(func() {
					for range 50 {
						require.NoError(t, l.SetUsage(ctx, "p", "k", withQuota, t0, 0))
						_, err := l.ChargeAt(ctx, t0, Request{Plan: "p", Key: "k", Units: 1, Limits: withQuota})
						require.NoError(t, err)
					}
				})
				wg.Wait()
				require.Equal(t, int64(burst), admitted.Load())
			})
		}
	}
}
