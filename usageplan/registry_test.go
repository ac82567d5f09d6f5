package usageplan

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

const (
	svcID   = "service-abcd1234"
	akid    = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	apiList = "api-list0001"
	apiGet  = "api-get00001"
)

func newTestRegistry(t *testing.T) *Registry {
	opts := testOptions()
	opts.Rand = rand.NewChaCha8([32]byte{7})
	reg := NewRegistry(opts)
	_, err := reg.PutService(Service{ID: svcID, Name: "orders", Environments: []string{"release", "test"}, APIs: []API{
		{ID: apiList, Name: "list", Method: "GET", Path: "/orders"},
		{ID: apiGet, Name: "get", Method: "GET", Path: "/orders/{id}"},
	}})
	require.NoError(t, err)
	require.NoError(t, reg.AddKey(keys.Key{ID: akid, Name: "k1", Secret: keys.NewSecret("0123456789")}))
	require.NoError(t, reg.AddKey(keys.Key{ID: "key_two", Name: "k2", Secret: keys.NewSecret("0123456789")}))
	return reg
}

func TestRegistryLifecycle(t *testing.T) {
	reg := newTestRegistry(t)
	gold, err := reg.CreatePlan(Plan{Name: "gold", QPS: 10, Quota: 100})
	require.NoError(t, err)
	require.True(t, validID(PlanPrefix, gold.ID), gold.ID)
	require.Equal(t, limiter.Total, gold.QuotaPeriod)

	require.NoError(t, reg.BindKeys(gold.ID, akid))
	require.NoError(t, reg.Bind(gold.ID, binding.Target{Service: svcID, Environment: "release"}))
	p, ok := reg.Snapshot().Resolve(svcID, "release", apiGet, akid)
	require.True(t, ok)
	require.Equal(t, gold.ID, p.ID)

	silver, err := reg.CreatePlan(Plan{Name: "silver", QPS: limiter.Unlimited, Quota: limiter.Unlimited})
	require.NoError(t, err)
	require.NoError(t, reg.BindKeys(silver.ID, akid))

	// A second service-wide plan with the same key in the same environment.
	err = reg.Bind(silver.ID, binding.Target{Service: svcID, Environment: "release"})
	var c *binding.Conflict
	require.ErrorAs(t, err, &c)
	assert.Contains(t, err.Error(), silver.ID)
	assert.Contains(t, err.Error(), gold.ID)
	assert.Contains(t, err.Error(), akid)
	assert.Contains(t, err.Error(), svcID+"/release")

	// API-scoped next to service-wide: refused until demoted.
	err = reg.Bind(silver.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiList}})
	var mixed *binding.MixedScopeError
	require.ErrorAs(t, err, &mixed)
	require.NoError(t, reg.Demote(gold.ID, svcID, "release"))
	err = reg.Bind(silver.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiList}})
	require.ErrorAs(t, err, &c, "gold now binds api-list0001 for the same key")
	require.NoError(t, reg.Unbind(gold.ID, svcID, "release", apiList))
	require.NoError(t, reg.Bind(silver.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiList}}))

	snap := reg.Snapshot()
	p, _ = snap.Resolve(svcID, "release", apiList, akid)
	require.Equal(t, silver.ID, p.ID)
	p, _ = snap.Resolve(svcID, "release", apiGet, akid)
	require.Equal(t, gold.ID, p.ID)
	pr, _ := snap.st.plans.Get(gold.ID)
	require.Same(t, &pr.plan, p, "Resolve returns the snapshot's own plan")

	// In use: neither the plan nor the key can be deleted.
	require.ErrorIs(t, reg.DeletePlan(gold.ID), ErrInUse)
	require.ErrorIs(t, reg.DeleteKey(akid), keys.ErrEnabled)
	require.NoError(t, reg.DisableKey(akid))
	require.ErrorIs(t, reg.DeleteKey(akid), keys.ErrInUse)
	_, err = reg.RotateKey(akid)
	require.ErrorIs(t, err, keys.ErrDisabled)
	require.ErrorIs(t, reg.BindKeys(silver.ID, "key_two", akid), keys.ErrDisabled)
	require.ErrorIs(t, reg.DeleteService(svcID), ErrInUse)

	require.NoError(t, reg.EnableKey(akid))
	rotated, err := reg.RotateKey(akid)
	require.NoError(t, err)
	require.Len(t, rotated.Secret.Reveal(), keys.AutoSecretLen)
	p, _ = reg.Snapshot().Resolve(svcID, "release", apiGet, akid)
	require.Equal(t, gold.ID, p.ID, "rotation keeps bindings")

	require.NoError(t, reg.Unbind(gold.ID, svcID, "release"))
	require.NoError(t, reg.DeletePlan(gold.ID))
	require.NoError(t, reg.Unbind(silver.ID, svcID, "release"))
	require.NoError(t, reg.UnbindKeys(silver.ID, akid))
	require.NoError(t, reg.DisableKey(akid))
	require.NoError(t, reg.DeleteKey(akid))
	require.NoError(t, reg.DeleteService(svcID))
	_, ok = reg.Snapshot().Key(akid)
	require.False(t, ok)
}

func TestRefusedChangesLeaveNothing(t *testing.T) {
	reg := newTestRegistry(t)
	gold, err := reg.CreatePlan(Plan{Name: "gold", QPS: 10, Quota: 100, Bindings: []binding.Target{{Service: svcID, Environment: "release"}}}, akid)
	require.NoError(t, err)

	cases := []struct {
		name   string
		change func() error
		is     error
	}{
		{"plan with qps 0", func() error { _, err := reg.CreatePlan(Plan{Name: "x", QPS: 0, Quota: 1}); return err }, nil},
		{"plan with quota above ceiling", func() error {
			_, err := reg.CreatePlan(Plan{Name: "x", QPS: 1, Quota: DefaultMaxQuota + 1})
			return err
		}, nil},
		{"duplicate plan ID", func() error { _, err := reg.CreatePlan(Plan{ID: gold.ID, Name: "x", QPS: 1, Quota: 1}); return err }, ErrExists},
		{"update to negative quota", func() error { return reg.UpdatePlan(Plan{ID: gold.ID, Name: "gold", QPS: 1, Quota: -5}) }, nil},
		{"bind unknown key", func() error { return reg.BindKeys(gold.ID, "nobody") }, keys.ErrNotFound},
		{"bind a key twice", func() error { return reg.BindKeys(gold.ID, akid) }, nil},
		{"bind unknown service", func() error {
			return reg.Bind(gold.ID, binding.Target{Service: "service-zzzzzzzz", Environment: "release"})
		}, ErrNotFound},
		{"bind unpublished environment", func() error {
			return reg.Bind(gold.ID, binding.Target{Service: svcID, Environment: "prepub"})
		}, ErrNotFound},
		{"bind unknown API", func() error {
			return reg.Bind(gold.ID, binding.Target{Service: svcID, Environment: "test", APIs: []string{"api-zzzzzzzz"}})
		}, ErrNotFound},
		{"service drops a bound environment", func() error {
			_, err := reg.PutService(Service{ID: svcID, Name: "orders", Environments: []string{"test"}})
			return err
		}, ErrNotFound},
		{"service with conflicting patterns", func() error {
			_, err := reg.PutService(Service{ID: svcID, Name: "orders", Environments: []string{"release"}, APIs: []API{
				{Name: "a", Method: "GET", Path: "/x/{a}"}, {Name: "b", Method: "GET", Path: "/x/{b}"}}})
			return err
		}, nil},
		{"add duplicate key", func() error {
			return reg.AddKey(keys.Key{ID: akid, Name: "again", Secret: keys.NewSecret("0123456789")})
		}, keys.ErrExists},
		{"add invalid key", func() error { return reg.AddKey(keys.Key{ID: "k", Name: "k", Secret: keys.NewSecret("0123456789")}) }, nil},
		{"delete plan in use", func() error { return reg.DeletePlan(gold.ID) }, ErrInUse},
		{"unbind what is not bound", func() error { return reg.Unbind(gold.ID, svcID, "test") }, ErrNotFound},
		{"demote what is not bound", func() error { return reg.Demote(gold.ID, svcID, "test") }, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := reg.Snapshot()
			err := tc.change()
			require.Error(t, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			require.Same(t, before, reg.Snapshot(), "a refused change publishes nothing")
		})
	}
}

func TestWideningCeilings(t *testing.T) {
	opts := testOptions()
	opts.MaxQPS, opts.MaxQuota = 100_000, 1<<40
	reg := NewRegistry(opts)
	_, err := reg.CreatePlan(Plan{Name: "big", QPS: 50_000, Quota: 1 << 39})
	require.NoError(t, err)
	_, err = NewRegistry(testOptions()).CreatePlan(Plan{Name: "big", QPS: 50_000, Quota: 1})
	require.ErrorContains(t, err, "qps must be -1 (unlimited) or 1–2000, got 50000")
}

// Writers flip a key between two plans (unbind from one, bind to the
// other: two changes) and toggle a second plan's binding, while readers
// resolve requests. Each snapshot must be one that some sequence of whole
// changes produced: the key resolves to at most one plan, and the version
// never goes backwards.
func TestConcurrentReadersSeeConsistentSnapshots(t *testing.T) {
	reg := newTestRegistry(t)
	a, err := reg.CreatePlan(Plan{Name: "a", QPS: 1, Quota: 1, Bindings: []binding.Target{{Service: svcID, Environment: "release"}}}, akid)
	require.NoError(t, err)
	b, err := reg.CreatePlan(Plan{Name: "b", QPS: 2, Quota: 2,
		Bindings: []binding.Target{{Service: svcID, Environment: "release"}}})
	require.NoError(t, err)

	base := reg.Snapshot().Version()
	var stop atomic.Bool
	var writers, readers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 300; i++ {
				if w == 0 {
					from, to := a.ID, b.ID
					if i%2 == 1 {
						from, to = to, from
					}
					assert.NoError(t, reg.UnbindKeys(from, akid))
					assert.NoError(t, reg.BindKeys(to, akid))
				} else {
					assert.NoError(t, reg.DisableKey("key_two"))
					assert.NoError(t, reg.EnableKey("key_two"))
				}
			}
		}()
	}
	var reads, resolved atomic.Int64
	for range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var last uint64
			for !stop.Load() {
				s := reg.Snapshot()
				if s.Version() < last {
					t.Errorf("version went back from %d to %d", last, s.Version())
					return
				}
				last = s.Version()
				if p, ok := s.Resolve(svcID, "release", apiGet, akid); ok {
					// The plan found lists the key in the same snapshot,
					// and the other plan does not.
					other := a.ID
					if p.ID == a.ID {
						other = b.ID
					}
					if !assert.Contains(t, slices.Collect(s.PlanKeys(p.ID)), akid) || !assert.NotContains(t, slices.Collect(s.PlanKeys(other)), akid) {
						return
					}
					resolved.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	require.Positive(t, reads.Load())
	require.Positive(t, resolved.Load())
	require.Equal(t, base+1200, reg.Snapshot().Version())
}

func TestLookupErrorsAreTyped(t *testing.T) {
	reg := newTestRegistry(t)
	require.True(t, errors.Is(reg.DisableKey("nobody"), keys.ErrNotFound))
	require.True(t, errors.Is(reg.DeletePlan("usagePlan-zzzzzzzz"), ErrNotFound))
}

// A plan's keys are the snapshot's to tell (PlanKeys, PlanKeyCount,
// KeyPlans), not part of the Plan value: reading a plan costs the same
// with one key or a thousand. CreatePlan binds the keys it is given in
// the same revision, all or nothing.
func TestPlanKeysAreTheSnapshots(t *testing.T) {
	reg := newTestRegistry(t)
	_, err := reg.CreatePlan(Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 1, Quota: 1}, akid, "key_none")
	require.ErrorIs(t, err, ErrNotFound)
	_, ok := reg.Snapshot().Plan("usagePlan-gold0001")
	require.False(t, ok, "a refused key refuses the plan")

	rev := reg.Snapshot().Revision()
	gold, err := reg.CreatePlan(Plan{ID: "usagePlan-gold0001", Name: "gold", QPS: 1, Quota: 1}, akid, "key_two")
	require.NoError(t, err)
	snap := reg.Snapshot()
	require.Equal(t, rev+1, snap.Revision(), "the plan and its keys in one revision")
	require.Equal(t, 2, snap.PlanKeyCount(gold.ID))
	require.ElementsMatch(t, []string{akid, "key_two"}, slices.Collect(snap.PlanKeys(gold.ID)))
	require.Equal(t, []string{gold.ID}, slices.Collect(snap.KeyPlans(akid)))
	require.Zero(t, snap.PlanKeyCount("usagePlan-none0001"))
	require.Empty(t, slices.Collect(snap.PlanKeys("usagePlan-none0001")))

	// The cost of reading the plan does not grow with its keys.
	bytesPerPlan := func() uint64 {
		snap := reg.Snapshot()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range 100 {
			p, _ := snap.Plan(gold.ID)
			sink = p
		}
		runtime.ReadMemStats(&m1)
		return (m1.TotalAlloc - m0.TotalAlloc) / 100
	}
	before := bytesPerPlan()
	for i := range 1000 {
		id := fmt.Sprintf("key_%04d", i)
		require.NoError(t, reg.AddKey(keys.Key{ID: id, Name: "k", Secret: keys.NewSecret("0123456789")}))
		require.NoError(t, reg.BindKeys(gold.ID, id))
	}
	require.Equal(t, 1002, reg.Snapshot().PlanKeyCount(gold.ID))
	after := bytesPerPlan()
	require.Less(t, after, before+1024, "Plan allocates %d bytes with 2 keys and %d with 1002", before, after)
}

var sink Plan
