package redisstore

import (
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

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
		r, err := usageplan.OpenManaged(ctx, j, usageplan.Options{})
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
		r, err := usageplan.OpenManaged(ctx, j, usageplan.Options{})
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
