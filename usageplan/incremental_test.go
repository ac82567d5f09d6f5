package usageplan

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// The per-change validation (which looks only at what a change touches)
// accepts exactly the changes whose result the whole-registry validation
// accepts: random changes to a small registry, each checked against
// validate over the whole model it would produce.
func TestPerChangeValidationMatchesWholeValidation(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	reg := NewRegistry(testOptions())
	apis := []string{"api-aaaa0001", "api-aaaa0002", "api-aaaa0003"}
	svc := Service{ID: "service-aaaa0001", Name: "s", Environments: []string{"release", "test"}}
	for i, a := range apis {
		svc.APIs = append(svc.APIs, API{ID: a, Name: "a" + strconv.Itoa(i), Method: "GET", Path: "/p" + strconv.Itoa(i)})
	}
	_, err := reg.PutService(svc)
	require.NoError(t, err)
	keyIDs := make([]string, 6)
	for i := range keyIDs {
		keyIDs[i] = "key_" + strconv.Itoa(i) + "xxxx"
		require.NoError(t, reg.AddKey(keys.Key{ID: keyIDs[i], Name: "k", Secret: keys.NewSecret("0123456789")}))
	}
	planIDs := []string{"usagePlan-aaaa0001", "usagePlan-aaaa0002", "usagePlan-aaaa0003", "usagePlan-aaaa0004"}
	for _, p := range planIDs {
		_, err := reg.CreatePlan(Plan{ID: p, Name: "p", QPS: 1, Quota: 1})
		require.NoError(t, err)
	}
	envs := []string{"release", "test"}
	randomTarget := func() binding.Target {
		t := binding.Target{Service: svc.ID, Environment: envs[rng.IntN(2)]}
		for _, a := range apis {
			if rng.IntN(3) == 0 {
				t.APIs = append(t.APIs, a)
			}
		}
		return t
	}
	accepted, refused := 0, 0
	for range 3000 {
		var c Change
		p := planIDs[rng.IntN(len(planIDs))]
		switch rng.IntN(6) {
		case 0, 1:
			c = KeysBound{Plan: p, Keys: []string{keyIDs[rng.IntN(len(keyIDs))]}}
		case 2:
			c = KeysUnbound{Plan: p, Keys: []string{keyIDs[rng.IntN(len(keyIDs))]}}
		case 3:
			c = PlanBound{Plan: p, Target: randomTarget()}
		case 4:
			c = PlanUnbound{Plan: p, Service: svc.ID, Environment: envs[rng.IntN(2)]}
		case 5:
			c = PlanDemoted{Plan: p, Service: svc.ID, Environment: envs[rng.IntN(2)]}
		}
		before := reg.Snapshot()
		// What the whole validation says of the result, applying the
		// change to a copy of the whole model.
		tx := newTxn(before.st, t0)
		applyErr := c.apply(tx)
		wholeOK := false
		if applyErr == nil {
			m := (&Snapshot{st: tx.st}).model()
			list, _ := validate(m, testOptions().ceilings(), nil)
			wholeOK = len(list) == 0
		}
		_, err := reg.Apply(ctx, c)
		if wholeOK {
			require.NoError(t, err, "%#v", c)
			accepted++
		} else {
			require.Error(t, err, "%#v: the whole validation refuses it", c)
			require.Same(t, before, reg.Snapshot())
			refused++
		}
	}
	require.Greater(t, accepted, 300)
	require.Greater(t, refused, 300)
}

// Two plans that share a key and bind disjoint APIs of one environment;
// widening one onto the other's API is a conflict found without visiting
// the plans' keys (their count of shared keys), and unbinding the shared
// key makes it allowed.
func TestRebindingAPlanChecksTheKeysItShares(t *testing.T) {
	reg := newTestRegistry(t)
	a, err := reg.CreatePlan(Plan{ID: "usagePlan-aaaa0001", Name: "a", QPS: 1, Quota: 1, Bindings: []binding.Target{{Service: svcID, Environment: "release", APIs: []string{apiList}}}}, akid, "key_two")
	require.NoError(t, err)
	b, err := reg.CreatePlan(Plan{ID: "usagePlan-bbbb0001", Name: "b", QPS: 1, Quota: 1, Bindings: []binding.Target{{Service: svcID, Environment: "release", APIs: []string{apiGet}}}}, akid)
	require.NoError(t, err)

	err = reg.Bind(a.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiGet}})
	require.ErrorIs(t, err, ErrConflict)
	var cf *binding.Conflict
	require.ErrorAs(t, err, &cf)
	require.Equal(t, akid, cf.Key)

	require.NoError(t, reg.UnbindKeys(b.ID, akid))
	require.NoError(t, reg.Bind(a.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiGet}}))
	require.NoError(t, reg.Unbind(a.ID, svcID, "release", apiGet))
	require.NoError(t, reg.BindKeys(b.ID, akid))
	require.ErrorIs(t, reg.Bind(a.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiGet}}), ErrConflict)
	require.NoError(t, reg.DeletePlan(mustUnbind(t, reg, b.ID)))
	require.NoError(t, reg.Bind(a.ID, binding.Target{Service: svcID, Environment: "release", APIs: []string{apiGet}}))
}

func mustUnbind(t *testing.T, reg *Registry, plan string) string {
	require.NoError(t, reg.Unbind(plan, svcID, "release"))
	return plan
}
