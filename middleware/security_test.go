package middleware

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// securityConfig has an auth-NONE API whose wildcard reaches past its
// prefix if a path is re-interpreted, beside SECRET APIs of two services.
const securityConfig = `{
  "services": [
    {"id": "service-aaaa0001", "name": "public", "environments": ["release", "test"],
     "apis": [
       {"id": "api-pub00001", "name": "public", "method": "ANY", "path": "/public/{rest...}", "auth": "NONE"},
       {"id": "api-file0001", "name": "file", "method": "GET", "path": "/files/{name}", "auth": "NONE"}
     ]},
    {"id": "service-bbbb0001", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-ord00001", "name": "orders", "method": "GET", "path": "/orders"},
       {"id": "api-ord00002", "name": "order", "method": "GET", "path": "/orders/{id}"}
     ]}
  ],
  "keys": [
    {"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"},
    {"id": "` + loneKey + `", "name": "lone", "secret": "` + testSecret + `"}
  ],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold", "qps": 1000, "quota": 100,
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-bbbb0001", "environment": "release"},
                  {"service": "service-bbbb0001", "environment": "test"}]}
  ]
}`

// guarded is a middleware over doc whose handler records whether it was
// reached and the request it saw.
type guarded struct {
	h      http.Handler
	reg    *usageplan.Registry
	store  limiter.Store
	served *http.Request
}

func newGuarded(t testing.TB, doc string, cfg Config, store limiter.Store) *guarded {
	t.Helper()
	reg, err := usageplan.LoadConfig(strings.NewReader(doc), usageplan.RegistryConfig{})
	require.NoError(t, err)
	if store == nil {
		store = &limiter.MemoryStore{}
	}
	lim, err := limiter.New(store, limiter.Config{LeaseSize: 1})
	require.NoError(t, err)
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	mw, err := New(reg, lim, cfg)
	require.NoError(t, err)
	g := &guarded{reg: reg, store: store}
	g.h = mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.served = r
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
	}))
	return g
}

// serve sends r (signed by the gold key when sign is set) and returns the
// response; g.served is the handler's view, or nil.
func (g *guarded) serve(t testing.TB, r *http.Request, sign bool) *httptest.ResponseRecorder {
	t.Helper()
	g.served = nil
	if sign {
		s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
		require.NoError(t, s.SignAt(r, t0))
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

// Finding 1: in fixed-environment mode, an encoded dot segment or an
// encoded slash must not let the auth-NONE wildcard serve a path that
// the handler's view resolves to a SECRET API. (The same paths are
// refused in path-prefix mode.)
func TestEncodedDotSegmentsAreRefusedInFixedEnvironment(t *testing.T) {
	for _, mode := range []struct {
		cfg    Config
		prefix string
	}{{Config{Environment: "release"}, ""}, {Config{}, "/release"}} {
		g := newGuarded(t, securityConfig, mode.cfg, nil)
		for _, path := range []string{
			"/public/%2e%2e/orders",
			"/public/%2E%2E/orders",
			"/public/..%2forders",
			"/public/..%2Forders",
			"/public/.%2e/orders",
			"/public/%2e/x",
			"/public/a/%2e%2e/%2e%2e/orders",
			"/public/a%2fb",
			"/files/..%2forders",
			"/public/../orders",
			"/public/./x",
			"/public//x",
		} {
			w := g.serve(t, httptest.NewRequest("GET", mode.prefix+path, nil), false)
			assert.Equal(t, http.StatusNotFound, w.Code, "GET %s", mode.prefix+path)
			assert.True(t, g.served == nil, "GET %s reached the handler", mode.prefix+path)
		}
		// The canonical forms still work, escapes and all.
		w := g.serve(t, httptest.NewRequest("GET", mode.prefix+"/public/a/b%20c/%41", nil), false)
		require.Equal(t, 200, w.Code)
		assert.Equal(t, "a/b c/A", g.served.PathValue("rest"))
		assert.Equal(t, "/public/a/b c/A", g.served.URL.Path)
		assert.Equal(t, "/public/a/b%20c/%41", g.served.URL.EscapedPath())
		assert.Equal(t, 401, g.serve(t, httptest.NewRequest("GET", mode.prefix+"/orders", nil), false).Code)
	}
}

// Finding 2: CONNECT and TRACE are not cleaned by ServeMux, and an ANY API
// does not include them: in both environment modes they are refused.
func TestConnectAndTraceAreRefused(t *testing.T) {
	for _, mode := range []struct {
		cfg    Config
		prefix string
	}{{Config{}, "/release"}, {Config{Environment: "release"}, ""}} {
		g := newGuarded(t, securityConfig, mode.cfg, nil)
		for _, method := range []string{"CONNECT", "TRACE"} {
			for _, path := range []string{"/public/../orders", "/public/x", "/public/%2e%2e/orders"} {
				r := httptest.NewRequest(method, mode.prefix+path, nil)
				w := g.serve(t, r, false)
				assert.Equal(t, http.StatusNotFound, w.Code, "%s %s", method, mode.prefix+path)
				assert.True(t, g.served == nil, "%s %s reached the handler", method, mode.prefix+path)
			}
		}
		// Other methods still reach the ANY API.
		w := g.serve(t, httptest.NewRequest("DELETE", mode.prefix+"/public/x", nil), false)
		assert.Equal(t, 200, w.Code)
	}
}

// An API that names TRACE (or CONNECT) is routed that method's requests
// to its own path; an ANY API still is not, and the path must be
// canonical.
func TestAnAPIMayNameTrace(t *testing.T) {
	cfg := strings.Replace(securityConfig,
		`{"id": "api-file0001", "name": "file", "method": "GET", "path": "/files/{name}", "auth": "NONE"}`,
		`{"id": "api-file0001", "name": "file", "method": "GET", "path": "/files/{name}", "auth": "NONE"},
		 {"id": "api-trace001", "name": "trace", "method": "TRACE", "path": "/diag", "auth": "NONE"}`, 1)
	g := newGuarded(t, cfg, Config{}, nil)
	w := g.serve(t, httptest.NewRequest("TRACE", "/release/diag", nil), false)
	require.Equal(t, 200, w.Code)
	require.Equal(t, "/diag", g.served.URL.Path)
	for _, path := range []string{"/release/public/x", "/release/public/../diag", "/release/diag/"} {
		g.served = nil
		w = g.serve(t, httptest.NewRequest("TRACE", path, nil), false)
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.True(t, g.served == nil, "TRACE %s reached the handler", path)
	}
}

// cancellingStore fails, as a network store does, when the context it is
// given is done; it records whether it ever was.
type cancellingStore struct {
	limiter.MemoryStore
	sawDone bool
}

func (s *cancellingStore) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (int64, int64, error) {
	if err := ctx.Err(); err != nil {
		s.sawDone = true
		return 0, 0, err
	}
	return s.MemoryStore.Reserve(ctx, c, n, limit)
}

// Finding 3: a client that goes away (the server then cancels the
// request's context) must not make the store call fail, and so must not
// get its request served uncounted under fail-open.
func TestClientCancellationDoesNotReachTheStore(t *testing.T) {
	store := &cancellingStore{}
	g := newGuarded(t, securityConfig, Config{FailOpen: true}, store)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // what net/http does when the client half-closes its socket
	r := httptest.NewRequest("GET", "/release/orders", nil).WithContext(ctx)
	w := g.serve(t, r, true)
	require.Equal(t, 200, w.Code)
	assert.False(t, store.sawDone, "the store call inherited the client's cancellation")
	assert.Equal(t, "99/100", exact(w.Header(), HeaderQuota), "the request was served uncounted")
	used, err := store.Usage(context.Background(), limiter.Counter{Plan: "usagePlan-gold0001", Key: goldKey})
	require.NoError(t, err)
	assert.Equal(t, int64(1), used)
}

// Finding 5: several services in one environment form one routing table,
// so the most specific pattern wins across services: a lower-ID
// service's catch-all does not capture another service's SECRET API.
func TestServicesShareOneRoutingTable(t *testing.T) {
	// service-aaaa0001's catch-all and service-bbbb0001's SECRET APIs do
	// not conflict: /orders is more specific in method and in path.
	doc := strings.Replace(securityConfig, `{"id": "api-pub00001", "name": "public", "method": "ANY", "path": "/public/{rest...}", "auth": "NONE"},`, "", 1)
	doc = strings.Replace(doc, `"method": "GET", "path": "/files/{name}"`, `"method": "ANY", "path": "/{file...}"`, 1)
	g := newGuarded(t, doc, Config{}, nil)
	w := g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), false)
	assert.Equal(t, 401, w.Code, "the catch-all of service-aaaa0001 served service-bbbb0001's API")
	assert.True(t, g.served == nil, "reached the handler")
	w = g.serve(t, httptest.NewRequest("GET", "/release/orders/7", nil), true)
	require.Equal(t, 200, w.Code)
	c, _ := FromContext(g.served.Context())
	assert.Equal(t, "service-bbbb0001", c.Service)
	assert.Equal(t, "7", g.served.PathValue("id"))
	w = g.serve(t, httptest.NewRequest("GET", "/release/index.html", nil), false)
	require.Equal(t, 200, w.Code)
	c, _ = FromContext(g.served.Context())
	assert.Equal(t, "api-file0001", c.API.ID)

	// With Config.Service, the table holds that service's APIs only.
	g = newGuarded(t, doc, Config{Service: "service-aaaa0001"}, nil)
	w = g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), false)
	require.Equal(t, 200, w.Code)
	c, _ = FromContext(g.served.Context())
	assert.Equal(t, "api-file0001", c.API.ID)
}

// isIdentity reports whether a header name is one of the identity
// headers, ignoring case, '-' and '_' (as CGI does).
func isIdentityName(name string) bool {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
	return n == "xapisecretid" || n == "xapiusageplanid" || n == "xapiid" || n == "xapienvironment"
}

// Finding 6: no spelling of an identity header reaches the handler,
// whether as a header or as a trailer.
func TestIdentityHeadersCannotBeForged(t *testing.T) {
	forged := []string{
		"X_Api_SecretId", "x_api_secretid", "X-API-SECRETID", "X-Api_SecretId", "XApiSecretId",
		"X_Api_UsagePlanId", "x-api-usageplanid", "X_API_ID", "x_api-id", "X_Api_Environment",
		"X-Api-SecretId", "X-Api-ID",
		// A leading separator is dropped by the same mapping.
		"_xapiid", "-X-Api-Id", "__X_Api_SecretId",
	}
	for _, fwd := range []bool{false, true} {
		g := newGuarded(t, securityConfig, Config{ForwardHeaders: fwd}, nil)
		var seen, sent http.Header
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sent = r.Header.Clone()
			g.h.ServeHTTP(w, r)
			if g.served != nil {
				seen = g.served.Header
			}
		}))
		defer srv.Close()
		for _, path := range []string{"/release/orders", "/release/public/x"} {
			r, err := http.NewRequest("GET", srv.URL+path, nil)
			require.NoError(t, err)
			s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
			require.NoError(t, s.SignAt(r, t0))
			for _, name := range forged {
				r.Header[name] = []string{"forged"} // sent as spelled; the server canonicalises what it can
			}
			resp, err := srv.Client().Do(r)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode, path)
			require.NotNil(t, seen)
			assert.Contains(t, sent, "X_api_secretid", "the server keeps underscore names as sent (else this test tests nothing)")
			for name, vals := range seen {
				if isIdentityName(name) {
					assert.NotContains(t, vals, "forged", "%s reached the handler (ForwardHeaders %v, %s)", name, fwd, path)
				}
			}
		}
	}
}

func TestIdentityTrailersCannotBeForged(t *testing.T) {
	g := newGuarded(t, securityConfig, Config{}, nil)
	var trailer http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.h.ServeHTTP(w, r)
		if g.served != nil {
			trailer = g.served.Trailer
		}
	}))
	defer srv.Close()
	for _, name := range []string{"X-Api-SecretId", "X_Api_SecretId", "X-Other"} {
		req, err := http.NewRequest("POST", srv.URL+"/release/public/upload", io.NopCloser(strings.NewReader("body")))
		require.NoError(t, err)
		req.ContentLength = -1 // chunked, so trailers can follow
		req.Trailer = http.Header{name: {"forged"}}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		for k, vals := range trailer {
			if isIdentityName(k) {
				assert.NotContains(t, vals, "forged", "trailer %s reached the handler", k)
			}
		}
		if name == "X-Other" {
			assert.Equal(t, "forged", trailer.Get("X-Other"), "an ordinary trailer is kept")
		}
	}
}

// Finding 7: in path-prefix mode the environment segment is literal:
// an encoded slash or letter in it is refused, not decoded.
func TestEncodedEnvironmentSegmentIsRefused(t *testing.T) {
	g := newGuarded(t, securityConfig, Config{}, nil)
	for _, path := range []string{"/release%2Forders", "/release%2forders", "/rel%65ase/orders", "/release%2Fpublic/x", `/release%2Fpublic/"`, "/%2e%2e/release/public/x"} {
		w := g.serve(t, httptest.NewRequest("GET", path, nil), true)
		assert.Equal(t, http.StatusNotFound, w.Code, path)
		assert.True(t, g.served == nil, "%s reached the handler", path)
	}
	require.Equal(t, 200, g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), true).Code)
}

// Finding 8: X-Api-ID is on admitted and throttled responses only, so a
// refusal does not map the API catalogue for anyone.
func TestAPIIDOnlyOnAdmittedAndThrottledResponses(t *testing.T) {
	doc := strings.Replace(securityConfig, `"qps": 1000, "quota": 100,`, `"qps": 1000, "quota": 1,`, 1)
	g := newGuarded(t, doc, Config{}, nil)
	unsigned := g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), false)
	require.Equal(t, 401, unsigned.Code)
	assert.Empty(t, unsigned.Header()[HeaderAPIID], "on a 401")

	r := httptest.NewRequest("GET", "/release/orders", nil)
	s := &keys.Signer{ID: loneKey, Secret: keys.NewSecret(testSecret)}
	require.NoError(t, s.SignAt(r, t0))
	noPlan := g.serve(t, r, false)
	require.Equal(t, 403, noPlan.Code)
	assert.Empty(t, noPlan.Header()[HeaderAPIID], "on a 403")

	admitted := g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), true)
	require.Equal(t, 200, admitted.Code)
	assert.Equal(t, "api-ord00001", exact(admitted.Header(), HeaderAPIID))
	throttled := g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), true)
	require.Equal(t, 429, throttled.Code)
	assert.Equal(t, "api-ord00001", exact(throttled.Header(), HeaderAPIID))
	public := g.serve(t, httptest.NewRequest("GET", "/release/public/x", nil), false)
	require.Equal(t, 200, public.Code)
	assert.Equal(t, "api-pub00001", exact(public.Header(), HeaderAPIID))
}

// StripAuthorization hides the signature from the handler; by default it
// sees it, as backends of the old gateway did. Verification reads the
// client's request either way.
func TestStripAuthorization(t *testing.T) {
	for _, strip := range []bool{false, true} {
		g := newGuarded(t, securityConfig, Config{StripAuthorization: strip}, nil)
		r := httptest.NewRequest("GET", "/release/orders", nil)
		w := g.serve(t, r, true)
		require.Equal(t, 200, w.Code)
		assert.Equal(t, !strip, g.served.Header.Get("Authorization") != "", "StripAuthorization %v", strip)
		assert.NotEmpty(t, r.Header.Get("Authorization"), "the given request was changed")
	}
}

// blockingStore answers only when the context it is given ends.
type blockingStore struct{ limiter.MemoryStore }

func (*blockingStore) Reserve(ctx context.Context, _ limiter.Counter, _, _ int64) (int64, int64, error) {
	<-ctx.Done()
	return 0, 0, ctx.Err()
}

// StoreTimeout gives the store call a deadline of its own: a store that
// hangs is a store failure after it (503, or served with fail-open),
// whatever the client's context says.
func TestStoreTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, failOpen := range []bool{false, true} {
			g := newGuarded(t, securityConfig, Config{StoreTimeout: 2 * time.Second, FailOpen: failOpen}, &blockingStore{})
			start := time.Now()
			w := g.serve(t, httptest.NewRequest("GET", "/release/orders", nil), true)
			assert.Equal(t, 2*time.Second, time.Since(start))
			if failOpen {
				assert.Equal(t, 200, w.Code)
				assert.Equal(t, "api-ord00001", exact(w.Header(), HeaderAPIID))
			} else {
				assert.Equal(t, 503, w.Code)
				assert.Empty(t, w.Header()[HeaderAPIID])
			}
		}
	})
}

// gatedStore holds a reservation until released, then fails, as a
// network store does, if the context it was given is done by then.
type gatedStore struct {
	limiter.MemoryStore
	entered, release chan struct{}
	sawDone          atomic.Bool
}

func (s *gatedStore) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (int64, int64, error) {
	s.entered <- struct{}{}
	<-s.release
	if err := ctx.Err(); err != nil {
		s.sawDone.Store(true)
		return 0, 0, err
	}
	return s.MemoryStore.Reserve(ctx, c, n, limit)
}

// Finding 3 over a real connection: a client that half-closes its socket
// while the quota is checked (net/http then cancels the request's
// context) still reads its response, and the request is counted.
func TestHalfClosedClientIsCounted(t *testing.T) {
	store := &gatedStore{entered: make(chan struct{}), release: make(chan struct{})}
	g := newGuarded(t, securityConfig, Config{FailOpen: true}, store)
	ctxs := make(chan context.Context, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxs <- r.Context()
		g.h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	req, err := http.NewRequest("GET", srv.URL+"/release/orders", nil)
	require.NoError(t, err)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
	require.NoError(t, s.SignAt(req, t0))
	require.NoError(t, req.Write(conn))
	reqCtx := <-ctxs
	<-store.entered
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	<-reqCtx.Done() // the server saw the half-close
	close(store.release)

	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.False(t, store.sawDone.Load(), "the store call inherited the client's cancellation")
	assert.Equal(t, "99/100", resp.Header.Get(HeaderQuota), "served uncounted")
}
