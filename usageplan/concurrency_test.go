package usageplan

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// Writers apply thousands of changes per second to a registry of ten
// thousand keys — a key moved between two plans in one Apply, keys
// disabled and enabled, keys added — while readers take snapshots: every
// snapshot resolves the moved key to exactly one plan whose keys include
// it, and a newer snapshot always has a higher revision.
func TestReadersSeeOnlyWholeRevisions(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	var changes []Change
	for i := range 10_000 {
		changes = append(changes, KeyAdded{Key: keys.Key{ID: fmt.Sprintf("key_%05d", i), Name: "k", Secret: keys.NewSecret("0123456789")}})
	}
	_, err := reg.Apply(ctx, changes...)
	require.NoError(t, err)
	a, err := reg.CreatePlan(Plan{Name: "a", QPS: 1, Quota: 1, Bindings: []binding.Target{{Service: svcID, Environment: "release"}}}, akid)
	require.NoError(t, err)
	b, err := reg.CreatePlan(Plan{Name: "b", QPS: 1, Quota: 1, Bindings: []binding.Target{{Service: svcID, Environment: "release"}}})
	require.NoError(t, err)

	const perWriter = 2000
	var stop atomic.Bool
	var writers, readers sync.WaitGroup
	start := time.Now()
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range perWriter {
				var err error
				switch w {
				case 0:
					from, to := a.ID, b.ID
					if i%2 == 1 {
						from, to = to, from
					}
					_, err = reg.Apply(ctx, KeysUnbound{Plan: from, Keys: []string{akid}}, KeysBound{Plan: to, Keys: []string{akid}})
				case 1:
					id := fmt.Sprintf("key_%05d", i%10_000)
					if i%2 == 0 {
						err = reg.DisableKey(id)
					} else {
						err = reg.EnableKey(id)
					}
				case 2:
					err = reg.AddKey(keys.Key{ID: fmt.Sprintf("new_%05d", i), Name: "n", Secret: keys.NewSecret("0123456789")})
				}
				if !assert.NoError(t, err) {
					return
				}
			}
		}()
	}
	var reads atomic.Int64
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last *Snapshot
			for !stop.Load() {
				s := reg.Snapshot()
				if last != nil && s != last && s.Revision() <= last.Revision() {
					t.Errorf("a newer snapshot has revision %d after %d", s.Revision(), last.Revision())
					return
				}
				last = s
				p, ok := s.Resolve(svcID, "release", apiGet, akid)
				if !assert.True(t, ok, "revision %d resolves the key to no plan", s.Revision()) {
					return
				}
				other := a.ID
				if p.ID == a.ID {
					other = b.ID
				}
				mine, theirs := 0, 0
				for k := range s.PlanKeys(p.ID) {
					if k == akid {
						mine++
					}
				}
				for k := range s.PlanKeys(other) {
					if k == akid {
						theirs++
					}
				}
				if !assert.Equal(t, 1, mine) || !assert.Zero(t, theirs, "revision %d: the key is in both plans", s.Revision()) {
					return
				}
				reads.Add(1)
			}
		}()
	}
	writers.Wait()
	elapsed := time.Since(start)
	stop.Store(true)
	readers.Wait()
	t.Logf("%d changes in %v (%.0f/s), %d consistent reads", 3*perWriter, elapsed, float64(3*perWriter)/elapsed.Seconds(), reads.Load())
	require.Positive(t, reads.Load())
	require.Equal(t, 10_000+2+perWriter, reg.Snapshot().KeyCount(), "the ten thousand, the two of newTestRegistry, the added")
}

// RegistryConfig.Rand need not be safe for concurrent use: the registry
// reads it under a lock of its own, so that a seeded math/rand source
// (not safe for concurrent use) serves a registry whose mutators run on
// many goroutines. The race detector fails this test if two goroutines
// read Rand at once; every generated key and plan ID is distinct.
func TestRandIsReadOneCallerAtATime(t *testing.T) {
	reg := newTestRegistry(t) // Rand: a math/rand/v2 ChaCha8
	var wg sync.WaitGroup
	ids := make([][]string, 8)
	for g := range ids {
		wg.Go(func() {
			for range 20 {
				k, err := reg.GenerateKey("k")
				if !assert.NoError(t, err) {
					return
				}
				p, err := reg.CreatePlan(Plan{Name: "p", QPS: 1, Quota: 1})
				if !assert.NoError(t, err) {
					return
				}
				ids[g] = append(ids[g], k.ID, p.ID)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			require.False(t, seen[id], "generated twice: %s", id)
			seen[id] = true
		}
	}
	require.Len(t, seen, 8*20*2)
}
