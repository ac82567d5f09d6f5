package middleware

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// A key that reuses a deleted key's manual ID starts with the whole
// quota, and the plan's totals stop counting the deleted key.
func TestDeletedKeyForgetsItsUsage(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	const plan = "usagePlan-gold0001"
	for range 4 {
		require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	}
	usage := LimiterUsage(f.lim, f.reg.Snapshot, f.clock)
	d := usageplan.Describer{Snapshot: f.reg.Snapshot(), Usage: usage}
	info, err := d.UsagePlan(context.Background(), plan)
	require.NoError(t, err)
	require.EqualValues(t, 4, info.InUseRequestNum)

	require.NoError(t, f.reg.UnbindKeys(plan, goldKey))
	require.NoError(t, f.reg.UnbindKeys("usagePlan-slow0001", goldKey))
	require.NoError(t, f.reg.DisableKey(goldKey))
	require.NoError(t, f.reg.DeleteKey(goldKey))

	d = usageplan.Describer{Snapshot: f.reg.Snapshot(), Usage: usage}
	info, err = d.UsagePlan(context.Background(), plan)
	require.NoError(t, err)
	assert.EqualValues(t, 0, info.InUseRequestNum, "the plan no longer counts the deleted key")

	require.NoError(t, f.reg.AddKey(keys.Key{ID: goldKey, Name: "again", Secret: keys.NewSecret(goldSecret)}))
	require.NoError(t, f.reg.BindKeys(plan, goldKey))
	r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "99/100", r.header.Get(HeaderQuota), "the new key starts afresh")
	snap := f.reg.Snapshot()
	p, _ := snap.Plan(plan)
	used, err := f.lim.Usage(context.Background(), plan, goldKey, limitsOf(snap, &p), f.clock())
	require.NoError(t, err)
	assert.EqualValues(t, 1, used)
}

// A key dropped by a config reload is deleted too: its usage goes.
func TestKeyDroppedByReloadForgetsItsUsage(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	const plan = "usagePlan-gold0001"
	for range 3 {
		require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	}
	cfg := f.reg.Snapshot().Config()
	full := f.reg.Snapshot().Config()
	for i := range cfg.Plans {
		cfg.Plans[i].Keys = nil
	}
	cfg.Keys = cfg.Keys[1:] // goldKey sorts first
	require.Equal(t, "lone_key1", cfg.Keys[0].ID)
	require.NoError(t, f.reg.ApplyConfig(cfg))
	require.NoError(t, f.reg.ApplyConfig(full))
	r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "99/100", r.header.Get(HeaderQuota))
}
