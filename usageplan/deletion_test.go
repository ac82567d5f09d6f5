package usageplan

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

type recordingResetter struct {
	mu    sync.Mutex
	calls []string // key: plans of the snapshot
	err   error
}

func (r *recordingResetter) ResetKeyUsage(_ context.Context, snap *Snapshot, key string) error {
	var plans []string
	for _, p := range snap.Plans() {
		plans = append(plans, p.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, key+": "+strings.Join(plans, ","))
	return r.err
}

// DeleteKey forgets the key's usage in every plan before the key goes; a
// failure keeps the key, so the deletion can be retried.
func TestDeleteKeyForgetsUsageFirst(t *testing.T) {
	reg := specRegistry(t)
	u := &recordingResetter{err: errors.New("store down")}
	reg.ResetUsageWith(u)
	require.ErrorIs(t, reg.DeleteKey("AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"), keys.ErrEnabled, "checked before any reset")
	assert.Empty(t, u.calls)

	err := reg.DeleteKey("partner_key_1")
	require.ErrorContains(t, err, "store down")
	_, ok := reg.Key("partner_key_1")
	require.True(t, ok, "a failed reset deletes nothing")

	u.err = nil
	require.NoError(t, reg.DeleteKey("partner_key_1"))
	_, ok = reg.Key("partner_key_1")
	require.False(t, ok)
	assert.Equal(t, []string{"partner_key_1: usagePlan-kgf82zcd", "partner_key_1: usagePlan-kgf82zcd"}, u.calls)
}

// A reload that drops a key forgets its usage; one that keeps every key
// resets nothing.
func TestReloadDroppingAKeyForgetsItsUsage(t *testing.T) {
	reg := specRegistry(t)
	u := &recordingResetter{}
	reg.ResetUsageWith(u)
	full := reg.Snapshot().Config()
	require.NoError(t, reg.ApplyConfig(full))
	assert.Empty(t, u.calls)

	cfg := reg.Snapshot().Config()
	cfg.Keys = cfg.Keys[:1]
	require.NoError(t, reg.ApplyConfig(cfg))
	assert.Equal(t, []string{"partner_key_1: usagePlan-kgf82zcd"}, u.calls)
}
