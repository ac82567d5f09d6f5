package usageplan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

// twoServices is a configuration of two services in one environment,
// with the APIs given as JSON.
func twoServices(envA, apisA, envB, apisB string) string {
	return `{"services": [
	  {"id": "service-aaaa0001", "name": "a", "environments": [` + envA + `], "apis": [` + apisA + `]},
	  {"id": "service-bbbb0001", "name": "b", "environments": [` + envB + `], "apis": [` + apisB + `]}
	]}`
}

// Two services whose patterns conflict in an environment they share are
// a configuration error that names both APIs and where they are.
func TestPatternsConflictAcrossServices(t *testing.T) {
	cases := []struct {
		name         string
		apisA, apisB string
	}{
		{"same pattern",
			`{"id": "api-aaaa0001", "name": "x", "method": "GET", "path": "/orders"}`,
			`{"id": "api-bbbb0001", "name": "y", "method": "GET", "path": "/orders"}`},
		{"neither more specific",
			`{"id": "api-aaaa0001", "name": "x", "method": "GET", "path": "/{any}/b"}`,
			`{"id": "api-bbbb0001", "name": "y", "method": "GET", "path": "/a/{any}"}`},
		{"method against path",
			`{"id": "api-aaaa0001", "name": "x", "method": "GET", "path": "/{file...}"}`,
			`{"id": "api-bbbb0001", "name": "y", "method": "ANY", "path": "/orders"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadString(t, twoServices(`"release", "test"`, tc.apisA, `"release"`, tc.apisB))
			require.Error(t, err, "the config loaded")
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Len(t, ve.Problems, 1, "one problem, not one per environment: %v", err)
			p := ve.Problems[0]
			assert.Equal(t, "services[1].apis[0].path", p.Path)
			for _, want := range []string{"api-bbbb0001", "api-aaaa0001", "services[0].apis[0]", `"release"`} {
				assert.Contains(t, p.Error(), want)
			}
			assert.NotContains(t, p.Error(), ".go:", "no source locations of our own")
			var rc *RouteConflictError
			require.ErrorAs(t, err, &rc)
			assert.Equal(t, RouteConflictError{
				Environment: "release", API: "api-bbbb0001", Pattern: rc.Pattern,
				Other: "api-aaaa0001", OtherPath: "services[0].apis[0]", OtherPattern: rc.OtherPattern, Detail: rc.Detail,
			}, *rc)
			assert.NotEmpty(t, rc.Detail)

			// In different environments they do not meet.
			_, err = loadString(t, twoServices(`"test"`, tc.apisA, `"release"`, tc.apisB))
			require.NoError(t, err)
		})
	}
}

// A catch-all of one service and a more specific pattern of another do
// not conflict: the more specific one wins, as in one http.ServeMux.
func TestSpecificPatternsOfAnotherServiceDoNotConflict(t *testing.T) {
	reg, err := loadString(t, twoServices(`"release"`,
		`{"id": "api-aaaa0001", "name": "files", "method": "ANY", "path": "/{file...}", "auth": "NONE"}`,
		`"release"`,
		`{"id": "api-bbbb0001", "name": "orders", "method": "GET", "path": "/orders"}`))
	require.NoError(t, err)
	ex, err := reg.Snapshot().Explain(Request{Service: "service-bbbb0001", Environment: "release", Method: "GET", Path: "/orders"})
	require.ErrorIs(t, err, keys.ErrNotFound, "routed, then no key given")
	assert.Equal(t, "api-bbbb0001", ex.API.ID)
	// The catch-all's service does not serve /orders in release: the
	// environment routes it to the other service.
	_, err = reg.Snapshot().Explain(Request{Service: "service-aaaa0001", Environment: "release", Method: "GET", Path: "/orders"})
	require.ErrorIs(t, err, ErrNoAPI)
	assert.True(t, strings.Contains(err.Error(), "api-bbbb0001"), err.Error())
	ex, err = reg.Snapshot().Explain(Request{Service: "service-aaaa0001", Environment: "release", Method: "GET", Path: "/index.html"})
	require.NoError(t, err)
	assert.Equal(t, "api-aaaa0001", ex.API.ID)
}
