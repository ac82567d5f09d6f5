package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

const (
	goldKey    = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	goldSecret = "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"
	loneKey    = "lone_key1"
	offKey     = "off_key01"
	testSecret = "secret-0123456789"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const testConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"},
       {"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"},
       {"id": "api-post0001", "name": "postOrder", "method": "POST", "path": "/orders"},
       {"id": "api-hlth0001", "name": "health", "method": "GET", "path": "/health", "auth": "NONE"}
     ]}
  ],
  "keys": [
    {"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"},
    {"id": "` + loneKey + `", "name": "lone", "secret": "` + testSecret + `"},
    {"id": "` + offKey + `", "name": "off", "secret": "` + testSecret + `", "status": "disabled"}
  ],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold", "qps": 1000, "quota": 100, "quotaPeriod": "day",
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]},
    {"id": "usagePlan-slow0001", "name": "slow", "qps": 1, "quota": -1,
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "test"}]}
  ]
}`

type fixture struct {
	reg *usageplan.Registry
	lim *limiter.Limiter
	srv *httptest.Server
	now time.Time
	mu  sync.Mutex
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newFixture(t testing.TB, cfg Config, store limiter.Store) *fixture {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	if store == nil {
		store = &limiter.MemoryStore{}
	}
	lim, err := limiter.New(store, limiter.Config{LeaseSize: 1})
	require.NoError(t, err)
	f := &fixture{reg: reg, lim: lim, now: t0}
	cfg.Now = f.clock
	mw, err := New(reg, lim, cfg)
	require.NoError(t, err)
	f.srv = httptest.NewServer(mw.Wrap(http.HandlerFunc(echo)))
	t.Cleanup(f.srv.Close)
	return f
}

// echo answers with what the middleware told it.
func echo(w http.ResponseWriter, r *http.Request) {
	c, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no caller", 500)
		return
	}
	plan := "" // auth NONE: no plan
	if c.Plan != nil {
		plan = c.Plan.ID
	}
	_ = json.NewEncoder(w).Encode(map[string]string{
		"api": c.API.ID, "plan": plan, "key": c.SecretID, "env": c.Environment, "path": r.URL.Path,
		"fwd": r.Header.Get(HeaderSecretID), "id": r.PathValue("id"), "pattern": r.Pattern,
	})
}

type reply struct {
	status int
	header http.Header
	body   map[string]string
}

func (f *fixture) do(t testing.TB, method, path, id, secret string, edit func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	require.NoError(t, err)
	if id != "" {
		s := &keys.Signer{ID: id, Secret: keys.NewSecret(secret), Source: "test"}
		require.NoError(t, s.SignAt(req, f.clock()))
	}
	if edit != nil {
		edit(req)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	rep := reply{status: resp.StatusCode, header: resp.Header, body: map[string]string{}}
	_ = json.Unmarshal(data, &rep.body)
	return rep
}

func TestEverySpecRow(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	authz := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }
	cases := []struct {
		name, method, path, id, secret string
		edit                           func(*http.Request)
		status                         int
		message                        string
	}{
		{"admitted", "GET", "/release/orders/42", goldKey, goldSecret, nil, 200, ""},
		{"no authorization", "GET", "/release/orders", "", "", nil, 401, "HMAC signature cannot be verified, a validate authorization header is required"},
		{"malformed", "GET", "/release/orders", "", "", authz("hmac nonsense"), 401, "HMAC authorization format error."},
		{"id missing", "GET", "/release/orders", "", "", authz(`hmac algorithm="hmac-sha1", headers="x-date", signature="abc="`), 401, "HMAC id or signature missing."},
		{"no signed date", "GET", "/release/orders", goldKey, goldSecret, func(r *http.Request) {
			a, _ := keys.ParseAuthorization(r.Header.Get("Authorization"))
			a.Headers = "source"
			r.Header.Set("Authorization", a.String())
		}, 401, "HMAC signature cannot be verified, a valid date or x-date header is required."},
		{"date out of window", "GET", "/release/orders", goldKey, goldSecret, func(r *http.Request) {
			r.Header.Set("X-Date", t0.Add(-time.Hour).Format(http.TimeFormat))
		}, 401, "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication."},
		{"listed header absent", "GET", "/release/orders", goldKey, goldSecret, func(r *http.Request) { r.Header.Del("Source") }, 401, "HMAC signature cannot be verified, a valid source header is required."},
		{"signed header twice", "GET", "/release/orders", goldKey, goldSecret, func(r *http.Request) { r.Header.Add("Source", "again") }, 401, "HMAC do not support multiple HTTP header."},
		{"unsupported algorithm", "GET", "/release/orders", goldKey, goldSecret, func(r *http.Request) {
			a, _ := keys.ParseAuthorization(r.Header.Get("Authorization"))
			a.Algorithm = "hmac-md5"
			r.Header.Set("Authorization", a.String())
		}, 401, "HMAC algorithm hmac-md5 not supported."},
		{"unknown key", "GET", "/release/orders", "nobody_key", testSecret, nil, 401, "HMAC signature cannot be verified."},
		{"disabled key", "GET", "/release/orders", offKey, testSecret, nil, 401, "HMAC signature cannot be verified."},
		{"wrong signature", "GET", "/release/orders", goldKey, "wrong-secret-000", nil, 401, "HMAC signature does not match."},
		{"no plan binds the key", "GET", "/release/orders", loneKey, testSecret, nil, 403, "Found no validate usage plan."},
		{"no api", "GET", "/release/nothing", goldKey, goldSecret, nil, 404, "There is no api match uri[/release/nothing]."},
		{"wrong method", "DELETE", "/release/orders", goldKey, goldSecret, nil, 404, "There is no api match uri[/release/orders]."},
		{"unknown environment", "GET", "/prepub/orders", goldKey, goldSecret, nil, 404, "There is no api match uri[/prepub/orders]."},
		{"no environment", "GET", "/", goldKey, goldSecret, nil, 404, "There is no api match uri[/]."},
		{"NONE auth needs no key", "GET", "/release/health", "", "", nil, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := f.do(t, tc.method, tc.path, tc.id, tc.secret, tc.edit)
			require.Equal(t, tc.status, rep.status, rep.body)
			if tc.message != "" {
				require.Equal(t, tc.message, rep.body["message"])
				require.NotContains(t, rep.body["message"], goldSecret)
			}
		})
	}
}

func TestAdmittedHeadersAndContext(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	rep := f.do(t, "GET", "/release/orders/42", goldKey, goldSecret, func(r *http.Request) {
		r.Header.Set(HeaderSecretID, "impersonated")
	})
	require.Equal(t, 200, rep.status)
	assert.Equal(t, "99/100", rep.header.Get(HeaderQuota))
	assert.Equal(t, "1000", rep.header.Get(HeaderRateLimit))
	assert.Equal(t, "api-get00001", rep.header.Get(HeaderAPIID))
	assert.Equal(t, `"qps";q=1000;w=1, "quota";q=100;w=86400`, rep.header.Get(HeaderRateLimitPolicy))
	assert.Equal(t, `"quota";r=99;t=43200`, rep.header.Get(HeaderRateLimitState))
	assert.Equal(t, map[string]string{
		"api": "api-get00001", "plan": "usagePlan-gold0001", "key": goldKey, "env": "release",
		"path": "/orders/42", "fwd": "", "id": "42", "pattern": "GET /orders/{id}",
	}, rep.body, "the handler sees the path without the environment, and no impersonated header")
}

func TestForwardHeaders(t *testing.T) {
	f := newFixture(t, Config{ForwardHeaders: true}, nil)
	rep := f.do(t, "GET", "/release/orders", goldKey, goldSecret, func(r *http.Request) { r.Header.Set(HeaderSecretID, "x") })
	require.Equal(t, goldKey, rep.body["fwd"])
}

// Stripping and forwarding headers changes the handler's view only: the
// request the middleware was given keeps the headers the client sent.
func TestForwardHeadersLeaveTheGivenRequestAlone(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	mw, err := New(reg, lim, Config{ForwardHeaders: true, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/release/orders", nil)
	r.Header.Set(HeaderUsagePlanID, "usagePlan-forged01")
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
	require.NoError(t, s.SignAt(r, t0))
	var seen http.Header
	w := httptest.NewRecorder()
	mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header })).ServeHTTP(w, r)
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "usagePlan-gold0001", seen.Get(HeaderUsagePlanID))
	assert.Equal(t, goldKey, seen.Get(HeaderSecretID))
	assert.Equal(t, "usagePlan-forged01", r.Header.Get(HeaderUsagePlanID), "the given request was changed")
	assert.Empty(t, r.Header.Get(HeaderSecretID), "the given request was changed")
}

func TestKeyBoundInOneEnvironmentOnly(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	require.Equal(t, 200, f.do(t, "GET", "/test/orders", goldKey, goldSecret, nil).status)
	// The test environment's plan allows 1 QPS.
	rep := f.do(t, "GET", "/test/orders", goldKey, goldSecret, nil)
	require.Equal(t, 429, rep.status)
	require.Equal(t, "API rate limit exceeded.", rep.body["message"])
	require.Equal(t, "1", rep.header.Get("Retry-After"))
	require.Equal(t, "unlimited", rep.header.Get(HeaderQuota))
	f.advance(time.Second)
	require.Equal(t, 200, f.do(t, "GET", "/test/orders", goldKey, goldSecret, nil).status)

	// lone_key1 exists but is bound nowhere; rebind it and it works at once.
	require.Equal(t, 403, f.do(t, "GET", "/release/orders", loneKey, testSecret, nil).status)
	require.NoError(t, f.reg.BindKeys("usagePlan-gold0001", loneKey))
	rep = f.do(t, "GET", "/release/orders", loneKey, testSecret, nil)
	require.Equal(t, 200, rep.status)
	require.Equal(t, "usagePlan-gold0001", rep.body["plan"])
}

func TestFixedEnvironment(t *testing.T) {
	f := newFixture(t, Config{Environment: "release", Service: "service-abcd1234"}, nil)
	rep := f.do(t, "GET", "/orders/7", goldKey, goldSecret, nil)
	require.Equal(t, 200, rep.status)
	require.Equal(t, "/orders/7", rep.body["path"])
	require.Equal(t, "7", rep.body["id"])
	require.Equal(t, "GET /orders/{id}", rep.body["pattern"])
	require.Equal(t, 404, f.do(t, "GET", "/release/orders/7", goldKey, goldSecret, nil).status)
}

// A fixed service routes only in the environments it is published to,
// and an unknown service routes nowhere.
func TestFixedServiceOutsideItsEnvironments(t *testing.T) {
	for _, cfg := range []Config{
		{Environment: "prepub", Service: "service-abcd1234"},
		{Environment: "release", Service: "service-unknown1"},
		{Service: "service-unknown1"},
	} {
		f := newFixture(t, cfg, nil)
		path := "/orders/7"
		if cfg.Environment == "" {
			path = "/release/orders/7"
		}
		require.Equal(t, 404, f.do(t, "GET", path, goldKey, goldSecret, nil).status, "%+v", cfg)
	}
}

func TestRuntimeChanges(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	require.NoError(t, f.reg.DisableKey(goldKey))
	require.Equal(t, 401, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	require.NoError(t, f.reg.EnableKey(goldKey))

	// Move the key from gold to a new plan: the next request resolves to it.
	silver, err := f.reg.CreatePlan(usageplan.Plan{Name: "silver", QPS: 5, Quota: 10})
	require.NoError(t, err)
	require.NoError(t, f.reg.UnbindKeys("usagePlan-gold0001", goldKey))
	require.NoError(t, f.reg.BindKeys(silver.ID, goldKey))
	require.NoError(t, f.reg.Demote("usagePlan-gold0001", "service-abcd1234", "release"))
	require.NoError(t, f.reg.Unbind("usagePlan-gold0001", "service-abcd1234", "release", "api-list0001"))
	require.NoError(t, f.reg.Bind(silver.ID, bindingTarget("service-abcd1234", "release", "api-list0001")))
	rep := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, rep.status)
	require.Equal(t, silver.ID, rep.body["plan"])
	require.Equal(t, "9/10", rep.header.Get(HeaderQuota))
}

// A Caller is the snapshot the request was served under: a plan change
// applies to the next request and leaves a Caller already handed out,
// and the headers and limits derived from the plan, as they were.
func TestCallerKeepsItsSnapshot(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	mw, err := New(reg, lim, Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	var seen []Caller
	h := mw.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		c, _ := FromContext(r.Context())
		seen = append(seen, c)
	}))
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/release/orders/42", nil)
		s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
		require.NoError(t, s.SignAt(r, t0))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, 200, w.Code)
		return w
	}

	serve()
	gold, _ := reg.Snapshot().Plan("usagePlan-gold0001")
	gold.QPS, gold.Quota = 7, 50
	require.NoError(t, reg.UpdatePlan(gold))
	w := serve()

	require.Len(t, seen, 2)
	assert.Equal(t, int64(1000), seen[0].Plan.QPS, "the first caller keeps its plan")
	assert.Equal(t, int64(100), seen[0].Plan.Quota)
	assert.Equal(t, int64(7), seen[1].Plan.QPS)
	assert.Equal(t, "7", exact(w.Header(), HeaderRateLimit))
	assert.Equal(t, "48/50", exact(w.Header(), HeaderQuota), "the new quota counts the request served under the old one")
	serve()
	assert.Same(t, seen[1].API, seen[2].API, "one API value per snapshot, not a copy per request")
	assert.Equal(t, "api-get00001", seen[1].API.ID)
}

// Requests served while the registry changes each see one snapshot: the
// usage headers agree with the plan the handler is given, X-Api-ID is
// always there, and nothing races (run with -race).
func TestServeDuringRegistryChanges(t *testing.T) {
	cfg := strings.Replace(testConfig, `"qps": 1000, "quota": 100,`, `"qps": 100000, "quota": 99999999,`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.RegistryConfig{MaxQPS: 100_001})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	// 10 µs per request at 100,000 QPS: the bucket never runs dry, and a
	// request whose clock reading is stale (its goroutine paused while
	// others went on) is refused only if it is a whole bucket (1 s, that
	// is 100,000 requests) behind.
	var tick atomic.Int64
	mw, err := New(reg, lim, Config{
		Verifier: keys.VerifierConfig{ClockSkew: time.Hour},
		Now:      func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * 10 * time.Microsecond) },
	})
	require.NoError(t, err)
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := FromContext(r.Context())
		w.Header().Set("X-Seen-QPS", strconv.FormatInt(c.Plan.QPS, 10))
		w.WriteHeader(200)
	}))
	signed := httptest.NewRequest("GET", "/release/orders/42", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)}
	require.NoError(t, s.SignAt(signed, t0))

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		gold, _ := reg.Snapshot().Plan("usagePlan-gold0001")
		for i := range 200 {
			gold.QPS = int64(100_000 + i%2)
			if err := reg.UpdatePlan(gold); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for served := 0; ; served++ {
				select {
				case <-done:
					if served > 0 {
						return
					}
				default:
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, signed.Clone(context.Background()))
				if !assert.Equal(t, 200, w.Code, "%v %s", w.Header(), w.Body) {
					return
				}
				assert.Equal(t, w.Header().Get("X-Seen-QPS"), exact(w.Header(), HeaderRateLimit))
				assert.Equal(t, "api-get00001", exact(w.Header(), HeaderAPIID))
			}
		})
	}
	wg.Wait()
}

func TestQuotaExactOverHTTP(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	var mu sync.Mutex
	counts := map[int]int{}
	messages := map[string]int{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 4 {
				rep := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
				mu.Lock()
				counts[rep.status]++
				if rep.status != 200 {
					messages[rep.body["message"]]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, map[int]int{200: 100, 429: 100}, counts)
	require.Equal(t, map[string]int{"API quota exceeded.": 100}, messages)
}

type failingStore struct{ limiter.MemoryStore }

func (*failingStore) Reserve(context.Context, limiter.Counter, int64, int64) (int64, int64, error) {
	return 0, 0, errors.New("disk on fire")
}

func TestStoreFailurePolicy(t *testing.T) {
	closed := newFixture(t, Config{}, &failingStore{})
	rep := closed.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 503, rep.status)
	require.Equal(t, "Usage plan store unavailable.", rep.body["message"])

	open := newFixture(t, Config{FailOpen: true}, &failingStore{})
	served := open.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 200, served.status)
	// What the plan decides, not what the store would have said.
	require.NotEmpty(t, served.header.Get(HeaderRateLimit))
	require.NotEmpty(t, served.header.Get("RateLimit-Policy"))
	require.Empty(t, served.header.Get(HeaderQuota), "the remaining quota is not known")
	require.Empty(t, served.header.Get("RateLimit"))
}

func TestProblemJSON(t *testing.T) {
	f := newFixture(t, Config{ErrorHandler: WriteProblem}, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/release/orders", nil)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	require.EqualValues(t, 401, p["status"])
	require.Equal(t, "HMAC signature cannot be verified, a validate authorization header is required", p["detail"])
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(nil, nil, Config{})
	require.Error(t, err)
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	_, err = New(reg, lim, Config{Verifier: keys.VerifierConfig{ClockSkew: -1}})
	require.Error(t, err)
}

// HMAC's keyed states are cached with the secret: a rotation must make
// the old secret fail at once and the new one work.
func TestRotationTakesEffectAtOnce(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	require.Equal(t, 200, f.do(t, "GET", "/release/orders/1", goldKey, goldSecret, nil).status)
	const next = "NewSecretValue0123456789"
	_, err := f.reg.RotateKeyTo(goldKey, keys.NewSecret(next))
	require.NoError(t, err)
	require.Equal(t, 401, f.do(t, "GET", "/release/orders/1", goldKey, goldSecret, nil).status)
	require.Equal(t, 200, f.do(t, "GET", "/release/orders/1", goldKey, next, nil).status)
}
