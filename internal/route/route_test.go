package route

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func table(t *testing.T, apis ...[2]string) *Table[string] {
	t.Helper()
	tb := New[string]()
	for _, a := range apis {
		require.NoError(t, tb.Add(a[0], a[1], Pattern(a[0], a[1])))
	}
	return tb
}

// Route leaves the request as http.ServeMux would for the pattern, so the
// handler behind can call r.PathValue, and refuses what ServeMux would
// not serve or what could be read two ways.
func TestRoute(t *testing.T) {
	tb := table(t,
		[2]string{"GET", "/orders/{id}"},
		[2]string{"GET", "/a/{x}/b/{y}"},
		[2]string{"GET", "/files/{rest...}"},
		[2]string{"POST", "/esc/{n}"},
		[2]string{"GET", "/x/{$}"},
		[2]string{"ANY", "/any/{rest...}"},
	)
	cases := []struct {
		method, target string
		pattern        string // "" for no match
		want           map[string]string
	}{
		{"GET", "/orders/42", "GET /orders/{id}", map[string]string{"id": "42"}},
		{"HEAD", "/orders/42", "GET /orders/{id}", map[string]string{"id": "42"}},
		{"GET", "/a/1/b/2", "GET /a/{x}/b/{y}", map[string]string{"x": "1", "y": "2"}},
		{"GET", "/files/a/b%20c", "GET /files/{rest...}", map[string]string{"rest": "a/b c"}},
		{"GET", "/files/", "GET /files/{rest...}", map[string]string{"rest": ""}},
		{"POST", "/esc/a%20b", "POST /esc/{n}", map[string]string{"n": "a b"}},
		{"GET", "/x/", "GET /x/{$}", map[string]string{}},
		{"DELETE", "/any/q", "/any/{rest...}", map[string]string{"rest": "q"}},
		{"OPTIONS", "/any/q", "/any/{rest...}", map[string]string{"rest": "q"}},
		{"GET", "/x/y", "", nil},                 // {$} matches only the slash
		{"DELETE", "/orders/42", "", nil},        // ServeMux would answer 405
		{"GET", "/orders/../x/", "", nil},        // ServeMux would redirect
		{"GET", "/nothing", "", nil},             // ServeMux would answer 404
		{"GET", "/orders/42/more", "", nil},      // one segment only
		{"GET", "/esc/a%20b", "", nil},           // POST only
		{"GET", "/files", "", nil},               // redirect to /files/
		{"GET", "/a/1/b/2/", "", nil},            // trailing slash is another path
		{"GET", "/files/a/b%2Fc", "", nil},       // an encoded slash
		{"GET", "/files/%2e%2e/x", "", nil},      // an encoded dot segment
		{"GET", "/files/.%2E/x", "", nil},        // half encoded
		{"GET", "/files/%2e/x", "", nil},         // one dot
		{"GET", "/files/a//b", "", nil},          // an empty segment
		{"CONNECT", "/any/q", "", nil},           // ANY leaves CONNECT out
		{"TRACE", "/any/q", "", nil},             // and TRACE
		{"CONNECT", "/any/../orders/1", "", nil}, // not cleaned by ServeMux
		{"GET", "*", "", nil},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "http://example.com/", nil)
		u, err := url.ParseRequestURI(c.target)
		require.NoError(t, err)
		r.URL, r.RequestURI = u, c.target
		r.Pattern = "stale"
		v, ok := tb.Route(r, new(Probe[string]))
		if c.pattern == "" {
			assert.False(t, ok, "%s %s matched %s", c.method, c.target, v)
			assert.Empty(t, r.Pattern, "%s %s", c.method, c.target)
			continue
		}
		if assert.True(t, ok, "%s %s", c.method, c.target) {
			assert.Equal(t, c.pattern, v)
			assert.Equal(t, c.pattern, r.Pattern)
		}
		for k, want := range c.want {
			assert.Equal(t, want, r.PathValue(k), "%s %s %s", c.method, c.target, k)
		}
	}
}

// A CONNECT or TRACE API is routed CONNECT or TRACE requests.
func TestRouteNamedConnect(t *testing.T) {
	tb := table(t, [2]string{"CONNECT", "/tunnel/{to}"}, [2]string{"ANY", "/{rest...}"})
	r := httptest.NewRequest("CONNECT", "/tunnel/db", nil)
	v, ok := tb.Route(r, new(Probe[string]))
	require.True(t, ok)
	assert.Equal(t, "CONNECT /tunnel/{to}", v)
	_, ok = tb.Route(httptest.NewRequest("CONNECT", "/other", nil), new(Probe[string]))
	assert.False(t, ok)
}

func TestAddReportsConflictsAndInvalidPatterns(t *testing.T) {
	tb := table(t, [2]string{"GET", "/orders"}, [2]string{"GET", "/{x}/b"})
	err := tb.Add("GET", "/orders", "dup")
	var ce *ConflictError[string]
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "GET /orders", ce.Other)
	assert.Equal(t, "GET /orders", ce.OtherPattern)
	assert.NotContains(t, err.Error(), ".go:")

	err = tb.Add("ANY", "/a/{y}", "ambiguous")
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "GET /{x}/b", ce.Other)
	assert.Contains(t, ce.Detail, "/a/b")

	err = tb.Add("GET", "/y/{a", "bad")
	require.Error(t, err)
	assert.NotErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "not a valid")

	// The refused patterns are not in the table.
	_, ok := tb.Route(httptest.NewRequest("GET", "/a/c", nil), new(Probe[string]))
	assert.False(t, ok)
	v, ok := tb.Route(httptest.NewRequest("GET", "/orders", nil), new(Probe[string]))
	require.True(t, ok)
	assert.Equal(t, "GET /orders", v)
}

func TestCanonical(t *testing.T) {
	for target, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b%20c": true, "/a/%41": true, "/a.b/..c/c..": true, "/a/.well-known": true,
		"": false, "a": false, "//": false, "/a//b": false, "/.": false, "/..": false, "/a/./b": false, "/a/../b": false,
		"/a/%2e": false, "/a/%2e%2E/b": false, "/a%2fb": false, "/a%2Fb": false, "/a/b/..": false,
	} {
		u := &url.URL{Path: target}
		if target != "" {
			var err error
			u, err = url.Parse(target)
			require.NoError(t, err, target)
		}
		assert.Equal(t, want, Canonical(u), "%q", target)
	}
}

// An encoded slash is refused even where net/url ignores the RawPath
// that holds it (not a valid encoding as a whole).
func TestEncodedSlashInAnInvalidRawPath(t *testing.T) {
	tb := table(t, [2]string{"GET", "/public/{rest...}"})
	r := httptest.NewRequest("GET", `/public%2Fx/"`, nil)
	require.NotEqual(t, r.URL.RawPath, r.URL.EscapedPath(), "net/url used the RawPath; this test tests nothing")
	_, ok := tb.Route(r, new(Probe[string]))
	assert.False(t, ok)
	assert.False(t, Canonical(&url.URL{Path: "/a/b", RawPath: "/a%2fb"}))
	assert.True(t, Canonical(&url.URL{Path: "/a b", RawPath: "/a%20b"}))
}
