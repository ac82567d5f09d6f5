package usageplan

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Route leaves the request as http.ServeMux would for the API's pattern,
// so the handler behind can call r.PathValue.
func TestRoute(t *testing.T) {
	reg := NewRegistry(testOptions())
	_, err := reg.PutService(Service{ID: svcID, Name: "files", Environments: []string{"release"}, APIs: []API{
		{ID: "api-order001", Name: "order", Method: "GET", Path: "/orders/{id}"},
		{ID: "api-pair0001", Name: "pair", Method: "GET", Path: "/a/{x}/b/{y}"},
		{ID: "api-files001", Name: "files", Method: "GET", Path: "/files/{rest...}"},
		{ID: "api-escape01", Name: "escape", Method: "POST", Path: "/esc/{n}"},
		{ID: "api-exact001", Name: "exact", Method: "GET", Path: "/x/{$}"},
	}})
	require.NoError(t, err)
	snap := reg.Snapshot()

	cases := []struct {
		method, path string
		api          string // "" for no match
		want         map[string]string
	}{
		{"GET", "/orders/42", "api-order001", map[string]string{"id": "42"}},
		{"HEAD", "/orders/42", "api-order001", map[string]string{"id": "42"}},
		{"GET", "/a/1/b/2", "api-pair0001", map[string]string{"x": "1", "y": "2"}},
		{"GET", "/files/a/b%2Fc", "api-files001", map[string]string{"rest": "a/b/c"}},
		{"GET", "/files/", "api-files001", map[string]string{"rest": ""}},
		{"POST", "/esc/a%20b", "api-escape01", map[string]string{"n": "a b"}},
		{"GET", "/x/", "api-exact001", map[string]string{}},
		{"GET", "/x/y", "", nil},              // {$} matches only the slash
		{"DELETE", "/orders/42", "", nil},     // ServeMux would answer 405
		{"GET", "/orders/../x/", "", nil},     // ServeMux would redirect
		{"GET", "/nothing", "", nil},          // ServeMux would answer 404
		{"GET", "/orders/42/more", "", nil},   // one segment only
		{"POST", "/orders/42", "", nil},       // wrong method
		{"GET", "/esc/a%20b", "", nil},        // POST only
		{"GET", "/files", "", nil},            // redirect to /files/
		{"GET", "/a/1/b/2/", "", nil},         // trailing slash is another path
		{"GET", "/orders/%2e%2e/x/", "", nil}, // escaped dots stay one segment, then too many
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.path, nil)
		r.Pattern = "stale"
		matched, matchOK := snap.MatchAPI(svcID, r)
		assert.Equal(t, "stale", r.Pattern, "MatchAPI changed the request")
		api, ok := snap.Route(svcID, r)
		assert.Equal(t, ok, matchOK, "%s %s", c.method, c.path)
		if c.api == "" {
			assert.False(t, ok, "%s %s matched", c.method, c.path)
			assert.Nil(t, api)
			assert.Empty(t, r.Pattern, "%s %s", c.method, c.path)
			continue
		}
		if assert.True(t, ok, "%s %s", c.method, c.path) {
			assert.Equal(t, c.api, api.ID)
			assert.Equal(t, *api, matched)
			assert.Equal(t, api.pattern(), r.Pattern)
			// The snapshot's own API, not a copy (a per-snapshot cache
			// may key on it).
			assert.True(t, ownAPI(snap, api), "%s is not the snapshot's", api.ID)
		}
		for k, v := range c.want {
			assert.Equal(t, v, r.PathValue(k), "%s %s %s", c.method, c.path, k)
		}
	}

	_, ok := snap.Route("service-unknown1", httptest.NewRequest("GET", "/orders/1", nil))
	assert.False(t, ok)
}

// ownAPI reports whether a points at one of snap's APIs.
func ownAPI(snap *Snapshot, a *API) bool {
	for _, s := range snap.Services() {
		for j := range s.APIs {
			if &s.APIs[j] == a {
				return true
			}
		}
	}
	return false
}
