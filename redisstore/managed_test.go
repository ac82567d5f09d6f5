package redisstore

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// managedRegistries opens n managed registries on one Redis journal,
// each through its own client, as n instances would.
func managedRegistries(t testing.TB, n int) []*usageplan.Registry {
	t.Helper()
	js := journalClients(t, redisAddr, journalName(), n)
	regs := make([]*usageplan.Registry, n)
	for i, j := range js {
		r, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		regs[i] = r
	}
	return regs
}

// propagated waits until every registry of regs holds key id with
// status want, for at most bound after start, and returns how long it
// took since start.
func propagated(t testing.TB, regs []*usageplan.Registry, id string, want keys.Status, start time.Time, bound time.Duration) time.Duration {
	t.Helper()
	for _, r := range regs {
		for {
			if k, ok := r.Key(id); ok && k.Status == want {
				break
			}
			if time.Since(start) > bound {
				t.Fatalf("key %s not %s on every registry after %v", id, want, bound)
			}
			time.Sleep(20 * time.Microsecond) // polling the other goroutines' work, not waiting for time
		}
	}
	return time.Since(start)
}

// Three registries on one Redis: a key disabled on the first is refused
// (disabled in the snapshot the verifier reads) by the other two within
// one second, 100 times in a row, alternately disabled and enabled.
func TestManagedRegistriesOnRedis(t *testing.T) {
	regs := managedRegistries(t, 3)
	k, err := regs[0].GenerateKey("fleet")
	if err != nil {
		t.Fatal(err)
	}
	propagated(t, regs, k.ID, keys.Enabled, time.Now(), time.Second)
	for i := range 100 {
		start := time.Now()
		want := keys.Disabled
		var err error
		if i%2 == 0 {
			err = regs[0].DisableKey(k.ID)
		} else {
			want = keys.Enabled
			err = regs[0].EnableKey(k.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		propagated(t, regs[1:], k.ID, want, start, time.Second)
	}
	for i, r := range regs {
		if got := r.Snapshot().Revision(); got != 101 {
			t.Errorf("registry %d at revision %d, want 101", i, got)
		}
	}
}

// BenchmarkManagedPropagation measures, for each b.N, the time from
// DisableKey (or EnableKey) on one of three managed registries on one
// Redis to the other two holding the change. Run with -benchtime=100x
// for the p50/p99 over 100 changes.
func BenchmarkManagedPropagation(b *testing.B) {
	regs := managedRegistries(b, 3)
	k, err := regs[0].GenerateKey("fleet")
	if err != nil {
		b.Fatal(err)
	}
	propagated(b, regs, k.ID, keys.Enabled, time.Now(), time.Minute)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		want := keys.Disabled
		if i%2 == 0 {
			err = regs[0].DisableKey(k.ID)
		} else {
			want = keys.Enabled
			err = regs[0].EnableKey(k.ID)
		}
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, propagated(b, regs[1:], k.ID, want, start, time.Minute))
		i++
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

// Redis restarts, with its data, while one of three managed registries
// makes changes: a change that failed while Redis was down is made again,
// and afterwards every registry holds the same revisions and state.
func TestManagedRegistriesAcrossRedisRestart(t *testing.T) {
	srv := ownRedis(t, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
	js := journalClients(t, srv.addr, journalName(), 3)
	regs := make([]*usageplan.Registry, len(js))
	for i, j := range js {
		r, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		regs[i] = r
	}
	const changes = 60
	failed := 0
	for made := 0; made < changes; {
		if _, err := regs[0].GenerateKey("k" + strconv.Itoa(made)); err != nil {
			failed++
			waitABit() // Redis is down: make the change again
			continue
		}
		made++
		if made == changes/3 {
			srv.stop()
			s, err := startRedis(srv.dir, srv.port, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
			if err != nil {
				t.Fatal(err)
			}
			*srv = *s
		}
	}
	t.Logf("%d changes failed while Redis restarted", failed)
	// A change whose reply was lost is in the journal; the registry
	// applied it when it caught up, and made the next one after it: there
	// is one key per revision, and at least one per change made.
	want := regs[0].Snapshot()
	if want.Revision() < changes || uint64(want.KeyCount()) != want.Revision() {
		t.Fatalf("the changing registry is at revision %d with %d keys, want %d or more of each", want.Revision(), want.KeyCount(), changes)
	}
	for i, r := range regs[1:] {
		if err := r.Sync(ctx); err != nil {
			t.Fatalf("registry %d: %v", i+1, err)
		}
		if got := r.Snapshot(); got.Revision() != want.Revision() || !reflect.DeepEqual(got.Config(), want.Config()) {
			t.Fatalf("registry %d at revision %d does not hold the first's state", i+1, got.Revision())
		}
	}
}

// Two instances on one Redis race conflicting bindings (one key in two
// plans, each bound by one instance to the same service environment),
// 1000 times: exactly one wins each time, the loser gets the exclusivity
// error, and both end in the same state, where the key resolves to the
// winner's plan.
func TestManagedConflictingBindingsOnRedis(t *testing.T) {
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	release := binding.Target{Service: "service-abcd1234", Environment: "release"}
	for round := range rounds {
		regs := managedRegistries(t, 2)
		r := regs[0]
		_, err := r.PutService(usageplan.Service{ID: release.Service, Name: "orders", Environments: []string{"release"},
			APIs: []usageplan.API{{ID: "api-list0001", Name: "list", Method: "GET", Path: "/orders"}}})
		if err != nil {
			t.Fatal(err)
		}
		k, err := r.GenerateKey("k")
		if err != nil {
			t.Fatal(err)
		}
		var plans [2]usageplan.Plan
		for i := range plans {
			if plans[i], err = r.CreatePlan(usageplan.Plan{Name: "p" + strconv.Itoa(i), QPS: 10, Quota: 100}); err != nil {
				t.Fatal(err)
			}
			if err := r.BindKeys(plans[i].ID, k.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := regs[1].Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var errs [2]error
		var wg sync.WaitGroup
		for i := range regs {
			wg.Go(func() { errs[i] = regs[i].Bind(plans[i].ID, release) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: both or neither won: %v, %v", round, errs[0], errs[1])
		}
		winner := 0
		if errs[0] != nil {
			winner = 1
		}
		if !errors.Is(errs[1-winner], usageplan.ErrConflict) {
			t.Fatalf("round %d: the loser got %v, not the exclusivity error", round, errs[1-winner])
		}
		for i, r := range regs {
			if err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			p, ok := r.Snapshot().Resolve(release.Service, "release", "api-list0001", k.ID)
			if !ok || p.ID != plans[winner].ID {
				t.Fatalf("round %d: instance %d resolves the key to %v (%v), want %s", round, i, p, ok, plans[winner].ID)
			}
		}
		for _, r := range regs {
			r.Close()
		}
	}
}
