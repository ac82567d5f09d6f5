package usageplan

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

func TestReloadOfAnUnchangedConfigChangesNothing(t *testing.T) {
	data, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	reg := specRegistry(t)
	before := reg.Snapshot()
	require.NoError(t, reg.Load(bytes.NewReader(data)))
	require.Same(t, before, reg.Snapshot(), "no new revision, not even a new snapshot")

	// Its own export, in another order, is the same config too.
	var exp bytes.Buffer
	require.NoError(t, reg.Export(&exp))
	require.NoError(t, reg.Load(&exp))
	require.Same(t, before, reg.Snapshot())
}

func TestReloadAppliesTheDifferenceAsOneRevision(t *testing.T) {
	data, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	reg := specRegistry(t)
	before := reg.Snapshot().Revision()

	doc := string(data)
	doc = strings.Replace(doc, `"qps": 1000`, `"qps": 500`, 1)                            // a plan's settings
	doc = strings.Replace(doc, `"status": "disabled"`, `"status": "enabled"`, 1)          // a key enabled
	doc = strings.Replace(doc, `"name": "test01"`, `"name": "test02"`, 1)                 // a key renamed
	doc = strings.Replace(doc, `"apis": ["api-get00001"]`, `"apis": ["api-list0001"]`, 1) // a binding
	rev, err := reg.ApplyConfigContext(t.Context(), mustDecode(t, doc))
	require.NoError(t, err)
	require.Equal(t, before+1, rev)

	recs, err := reg.Changes(before)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.ElementsMatch(t, []string{KindKeyUpdated, KindKeyEnabled, KindPlanUpdated, KindPlanUnbound, KindPlanBound}, kindsOf(recs[0].Changes))

	snap := reg.Snapshot()
	p, _ := snap.Plan("usagePlan-kgf82zcd")
	require.Equal(t, int64(500), p.QPS)
	k, _ := snap.Key("partner_key_1")
	require.Equal(t, keys.Enabled, k.Status)
	got, ok := snap.Resolve(svcID, "test", apiList, akid)
	require.True(t, ok)
	require.Equal(t, p.ID, got.ID)
	_, ok = snap.Resolve(svcID, "test", apiGet, akid)
	require.False(t, ok)

	// Dropping everything is one revision too, in an order that passes
	// every precondition (unbind, delete the plan, disable and delete
	// the keys, delete the service).
	rev, err = reg.ApplyConfigContext(t.Context(), &Config{})
	require.NoError(t, err)
	require.Equal(t, before+2, rev)
	require.Empty(t, reg.Snapshot().Keys())
	require.Empty(t, reg.Snapshot().Services())

	// And loading it all back is one more.
	require.NoError(t, reg.Load(bytes.NewReader(data)))
	require.Equal(t, before+3, reg.Snapshot().Revision())
	var a bytes.Buffer
	require.NoError(t, reg.Export(&a))
	require.NoError(t, specRegistry(t).Export(&bytes.Buffer{}))
	b := &bytes.Buffer{}
	require.NoError(t, specRegistry(t).Export(b))
	require.JSONEq(t, b.String(), a.String())
}

func mustDecode(t *testing.T, doc string) *Config {
	t.Helper()
	cfg, ps := decodeConfig([]byte(doc))
	require.NoError(t, ps.err())
	return cfg
}

// A reloaded file that lists a key twice in a plan, or binds one key to
// two plans in one service environment, is refused with the path of the
// problem, as a first load is: the changes find it, the whole file says
// where.
func TestReloadRefusesKeyRulesWithPaths(t *testing.T) {
	data, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	reg := specRegistry(t)
	before := reg.Snapshot()

	twice := strings.Replace(string(data), `"keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"]`,
		`"keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"]`, 1)
	err = reg.Load(strings.NewReader(twice))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "plans[0].keys[1]", ve.Problems[0].Path)
	require.Same(t, before, reg.Snapshot())

	conflict := strings.Replace(string(data), `"plans": [`, `"plans": [
    {"id": "usagePlan-aaaaaaaa", "name": "other", "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]},`, 1)
	err = reg.Load(strings.NewReader(conflict))
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Problems[0].Path, "plans[")
	require.Contains(t, ve.Problems[0].Path, ".bindings[")
	require.Same(t, before, reg.Snapshot())
}
