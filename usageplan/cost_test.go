package usageplan

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func costDoc(costs string) string {
	return `{"services": [{"id": "service-abcd1234", "name": "ai", "environments": ["release"], "apis": [` + costs + `]}], "keys": [], "plans": []}`
}

// An API's cost loads (absent means 1), exports only when it is not 1,
// and reloads to the same registry.
func TestAPICostLoadsAndRoundTrips(t *testing.T) {
	reg, err := loadString(t, costDoc(`
	  {"id": "api-aaaa0001", "name": "gen", "method": "POST", "path": "/gen", "cost": 30},
	  {"id": "api-aaaa0002", "name": "list", "method": "GET", "path": "/list"}`))
	require.NoError(t, err)
	sv, ok := reg.Snapshot().Service("service-abcd1234")
	require.True(t, ok)
	gen, _ := sv.API("api-aaaa0001")
	list, _ := sv.API("api-aaaa0002")
	assert.Equal(t, int64(30), gen.Units())
	assert.Equal(t, int64(1), list.Units())

	var out bytes.Buffer
	require.NoError(t, reg.Export(&out))
	assert.Contains(t, out.String(), `"cost": 30`)
	assert.Equal(t, 1, bytes.Count(out.Bytes(), []byte(`"cost"`)), "a cost of 1 is not written")
	again, err := LoadConfig(bytes.NewReader(out.Bytes()), testOptions())
	require.NoError(t, err)
	assert.Equal(t, reg.Snapshot().model(), again.Snapshot().model())
}

// A cost outside 1..1000000, or not an integer, is reported at its path.
func TestAPICostIsValidatedWithItsPath(t *testing.T) {
	_, err := loadString(t, costDoc(`
	  {"id": "api-aaaa0001", "name": "a", "method": "GET", "path": "/a", "cost": 0},
	  {"id": "api-aaaa0002", "name": "b", "method": "GET", "path": "/b", "cost": -3},
	  {"id": "api-aaaa0003", "name": "c", "method": "GET", "path": "/c", "cost": 1000001},
	  {"id": "api-aaaa0004", "name": "d", "method": "GET", "path": "/d", "cost": 1.5},
	  {"id": "api-aaaa0005", "name": "e", "method": "GET", "path": "/e", "cost": "2"},
	  {"id": "api-aaaa0006", "name": "f", "method": "GET", "path": "/f", "cost": 1000000}`))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	paths := map[string]int{}
	for _, p := range ve.Problems {
		paths[p.Path]++
	}
	for i := range 5 {
		assert.Equal(t, 1, paths[index("services[0].apis", i)+".cost"], "apis[%d]: %v", i, err)
	}
	assert.Len(t, ve.Problems, 5, "%v", err)
}
