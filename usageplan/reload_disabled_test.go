package usageplan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

const cfgDisabledUnbound = `{
  "services": [{"id": "service-abcd1234", "name": "orders", "environments": ["release"],
    "apis": [{"id": "api-list0001", "name": "list", "method": "GET", "path": "/orders"}]}],
  "keys": [{"id": "k_disabled", "name": "k", "secret": "0123456789", "status": "disabled"}],
  "plans": [{"id": "usagePlan-aaaa1111", "name": "gold", "qps": 10, "quota": 100}]
}`

// The documentation says a disabled key may be listed in a plan's keys
// "so that an exported registry reloads". A file that does so loads
// into an empty registry, but the same file is refused when reloaded
// into a registry in which that key is already disabled: the diff binds
// the key while it is still disabled.
// A file that binds a key disabled before and after the reload reloads,
// as it loads into an empty registry (the diff bound the disabled key,
// which was refused without a JSON path); the key stays disabled.
func TestReloadBindsAnAlreadyDisabledKey(t *testing.T) {
	bound := strings.Replace(cfgDisabledUnbound, `"quota": 100}`, `"quota": 100, "keys": ["k_disabled"]}`, 1)

	// The target file is valid on its own.
	fresh, err := LoadConfig(strings.NewReader(bound), testOptions())
	require.NoError(t, err)
	require.Equal(t, 1, fresh.Snapshot().PlanKeyCount("usagePlan-aaaa1111"))

	// Reloading it over the previous file is refused.
	reg, err := LoadConfig(strings.NewReader(cfgDisabledUnbound), testOptions())
	require.NoError(t, err)
	require.NoError(t, reg.Load(strings.NewReader(bound)), "a valid file that LoadConfig accepts must reload")
	require.Equal(t, 1, reg.Snapshot().PlanKeyCount("usagePlan-aaaa1111"))
	k, ok := reg.Key("k_disabled")
	require.True(t, ok)
	require.Equal(t, keys.Disabled, k.Status)
	require.NoError(t, reg.Load(strings.NewReader(bound)), "the same file again")
}
