package usageplan

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A revision that binds a key to a plan and then, in the same Apply,
// unbinds and deletes that key is a valid sequence of changes; finish()
// dereferences the deleted key's record and panics.
// A transaction that binds a key and later deletes it, or binds a key to
// a plan and later deletes the plan, applies: the final check of the
// bound pairs skips what was deleted (it dereferenced nil and panicked).
func TestApplyBindThenDeleteKey(t *testing.T) {
	reg := newTestRegistry(t)
	gold, err := reg.CreatePlan(Plan{Name: "gold", QPS: 10, Quota: 100})
	require.NoError(t, err)
	require.NotPanics(t, func() {
		_, err = reg.Apply(context.Background(),
			KeysBound{Plan: gold.ID, Keys: []string{akid}},
			KeysUnbound{Plan: gold.ID, Keys: []string{akid}},
			KeyDisabled{ID: akid},
			KeyDeleted{ID: akid})
	})
	require.NoError(t, err)
	_, ok := reg.Key(akid)
	require.False(t, ok)
}

// The same with the plan: bind a key that another plan also binds, then
// delete the (unbound to any service) plan in the same Apply.
func TestApplyBindThenDeletePlan(t *testing.T) {
	reg := newTestRegistry(t)
	gold, err := reg.CreatePlan(Plan{Name: "gold", QPS: 10, Quota: 100}, akid)
	require.NoError(t, err)
	silver, err := reg.CreatePlan(Plan{Name: "silver", QPS: 10, Quota: 100})
	require.NoError(t, err)
	require.NotPanics(t, func() {
		_, err = reg.Apply(context.Background(),
			KeysBound{Plan: silver.ID, Keys: []string{akid}},
			PlanDeleted{ID: silver.ID})
	})
	require.NoError(t, err)
	_, ok := reg.Snapshot().Plan(silver.ID)
	require.False(t, ok)
	_ = gold
}
