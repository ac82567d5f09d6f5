package planguardtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

const (
	partner  = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	stranger = "stranger_key"
	off      = "off_key01"
	secret   = "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"
)

// scenarioConfig has every kind of limit and outcome: a throttled API, a
// window, a daily quota, a dry-run plan, an API without auth, a key that
// no plan binds and a disabled key.
const scenarioConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"},
       {"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"},
       {"id": "api-post0001", "name": "createOrder", "method": "POST", "path": "/orders"},
       {"id": "api-file0001", "name": "getFile", "method": "ANY", "path": "/files/{path...}"},
       {"id": "api-hlth0001", "name": "health", "method": "GET", "path": "/health", "auth": "NONE"}
     ]}
  ],
  "keys": [
    {"id": "` + partner + `", "name": "partner", "secret": "` + secret + `"},
    {"id": "` + stranger + `", "name": "stranger", "secret": "` + secret + `"},
    {"id": "` + off + `", "name": "off", "secret": "` + secret + `", "status": "disabled"}
  ],
  "plans": [
    {"id": "usagePlan-shaped01", "name": "shaped", "qps": 10, "burst": 20, "quota": 300, "quotaPeriod": "day",
     "limits": [{"name": "per_10s", "requests": 60, "per": "10s"}],
     "throttles": {"api-get00001": {"qps": 1, "burst": 2}},
     "keys": ["` + partner + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]},
    {"id": "usagePlan-trial001", "name": "trial", "qps": 2, "quota": 5, "enforce": false,
     "keys": ["` + partner + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "test"}]}
  ]
}`

// scenario is a script that meets every limit and outcome.
var scenario = []Traffic{
	{Key: partner, API: "listOrders", Rate: 20, For: 30 * time.Second},                    // QPS, window
	{Key: partner, API: "getOrder", Rate: 5, For: 4 * time.Second},                        // the API's throttle
	{Key: partner, API: "createOrder", Count: 3, After: 10 * time.Second},                 // burst
	{Key: partner, API: "getFile", Path: "/files/a/b.txt", Method: "PUT"},                 // ANY, explicit path
	{Key: partner, API: "listOrders", Environment: "test", Rate: 4, For: 3 * time.Second}, // dry run
	{API: "health", Count: 2},                                                          // no auth
	{Key: stranger, API: "listOrders", Count: 2},                                       // no plan
	{Key: off, API: "listOrders"},                                                      // disabled
	{Key: partner, Secret: "wrong-secret-123", API: "listOrders"},                      // wrong secret
	{Key: "AKIDunknown000000000000000000000000000", Secret: secret, API: "listOrders"}, // unknown key
	{API: "listOrders"},                                                                // unsigned
	{Key: partner, Path: "/nothing/here"},                                              // no API
	{Key: partner, API: "listOrders", Rate: 50, For: time.Minute, After: time.Hour},    // the quota
}

func newKit(t *testing.T, cfg Config) *Kit {
	t.Helper()
	if cfg.JSON == "" && cfg.Registry == nil {
		cfg.JSON = scenarioConfig
	}
	k, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.Close()) })
	return k
}

// The scenario meets every outcome, so that the comparisons below
// compare something.
func TestScenarioMeetsEveryOutcome(t *testing.T) {
	res := newKit(t, Config{}).Run(scenario...)
	counts := res.Counts()
	for _, r := range []middleware.Reason{middleware.Admitted, middleware.RefusedNoAPI, middleware.RefusedAuth,
		middleware.RefusedNoPlan, middleware.RefusedQPS, middleware.RefusedQuota} {
		require.NotZero(t, counts[r], "%s in %v", r, res)
	}
	refused := map[limiter.Limit]bool{}
	dry := 0
	for _, r := range res.Responses {
		refused[r.Decision.Refused] = true
		if r.DryRun {
			dry++
			require.Equal(t, http.StatusOK, r.Status)
		}
	}
	for _, l := range []limiter.Limit{limiter.LimitQPS, limiter.LimitWindow, limiter.LimitThrottle, limiter.LimitQuota} {
		require.True(t, refused[l], "no refusal by %s", l)
	}
	require.NotZero(t, dry)
	require.Equal(t, len(res.Responses), res.Count(middleware.Admitted)+res.Count(middleware.RefusedNoAPI)+
		res.Count(middleware.RefusedAuth)+res.Count(middleware.RefusedNoPlan)+res.Count(middleware.RefusedQPS)+
		res.Count(middleware.RefusedQuota))
}

// The kit gives what the real middleware gives over loopback: the same
// scenario, sent by hand through a net/http client with a signing
// Transport to middleware.New's handler on an httptest.Server, gets the
// same statuses, bodies and middleware headers, request by request.
func TestRunMatchesTheMiddlewareOverLoopback(t *testing.T) {
	got := newKit(t, Config{}).Run(scenario...)

	// The same stack, built by hand.
	reg, err := usageplan.LoadConfig(strings.NewReader(scenarioConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	require.NoError(t, err)
	defer lim.Close(t.Context())
	clock := NewManualClock(Start())
	mw, err := middleware.New(reg, lim, middleware.Config{Now: clock.Now})
	require.NoError(t, err)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()

	type sent struct {
		status int
		body   string
		header http.Header
		at     time.Time
	}
	var want []sent
	send := func(method, path, id, sec string) {
		client := srv.Client()
		if id != "" {
			client = &http.Client{Transport: &keys.Transport{Signer: &keys.Signer{ID: id, Secret: keys.NewSecret(sec)}, Now: clock.Now}}
		}
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want = append(want, sent{resp.StatusCode, string(body), resp.Header, clock.Now()})
	}
	// The scenario's steps, spelled out.
	at := func(rate float64, d time.Duration, f func()) {
		n := int(rate * d.Seconds())
		step := time.Duration(float64(time.Second) / rate)
		for range n {
			f()
			clock.Advance(step)
		}
	}
	list := func(id, sec string) func() { return func() { send("GET", "/release/orders", id, sec) } }
	at(20, 30*time.Second, list(partner, secret))
	at(5, 4*time.Second, func() { send("GET", "/release/orders/1", partner, secret) })
	clock.Advance(10 * time.Second)
	for range 3 {
		send("POST", "/release/orders", partner, secret)
	}
	send("PUT", "/release/files/a/b.txt", partner, secret)
	at(4, 3*time.Second, func() { send("GET", "/test/orders", partner, secret) })
	send("GET", "/release/health", "", "")
	send("GET", "/release/health", "", "")
	list(stranger, secret)()
	list(stranger, secret)()
	list(off, secret)()
	list(partner, "wrong-secret-123")()
	list("AKIDunknown000000000000000000000000000", secret)()
	list("", "")()
	send("GET", "/release/nothing/here", partner, secret)
	clock.Advance(time.Hour)
	at(50, time.Minute, list(partner, secret))

	require.Len(t, got.Responses, len(want))
	for i, w := range want {
		g := got.Responses[i]
		require.Equal(t, w.status, g.Status, "request %d", i)
		require.Equal(t, w.body, string(g.Body), "request %d", i)
		require.True(t, w.at.Equal(g.At), "request %d at %v, want %v", i, g.At, w.at)
		require.Equal(t, serverless(w.header), g.Header, "request %d", i)
	}
}

// serverless is h without the headers net/http's server adds, which an
// in-process response does not have.
func serverless(h http.Header) http.Header {
	h = h.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return h
}

// Config.Loopback sends the requests over TCP and gets the same
// responses, outcomes and decisions as in process.
func TestLoopbackMatchesInProcess(t *testing.T) {
	in := newKit(t, Config{}).Run(scenario...)
	over := newKit(t, Config{Loopback: true}).Run(scenario...)
	require.Len(t, over.Responses, len(in.Responses))
	for i := range in.Responses {
		a, b := in.Responses[i], over.Responses[i]
		require.NoError(t, b.Err)
		require.True(t, b.Observed)
		require.Equal(t, a.Status, b.Status, "request %d", i)
		require.Equal(t, a.Body, b.Body, "request %d", i)
		require.Equal(t, a.Header, serverless(b.Header), "request %d", i)
		require.Equal(t, a.Reason, b.Reason, "request %d", i)
		require.Equal(t, a.DryRun, b.DryRun, "request %d", i)
		require.Equal(t, a.Decision, b.Decision, "request %d", i)
		require.Equal(t, a.Caller.SecretID, b.Caller.SecretID, "request %d", i)
	}
	require.Equal(t, in.String(), over.String())
}

// RunLimiter decides as the middleware does: the same outcomes and
// decisions for every request the limiter sees, and the same statuses.
func TestRunLimiterMatchesRun(t *testing.T) {
	var steps []Traffic
	for _, s := range scenario {
		if s.API != "" && s.Secret == "" { // RunLimiter checks no signature
			steps = append(steps, s)
		}
	}
	viaMiddleware := newKit(t, Config{}).Run(steps...)
	direct := newKit(t, Config{}).RunLimiter(steps...)
	require.Len(t, direct.Responses, len(viaMiddleware.Responses))
	for i := range direct.Responses {
		a, b := viaMiddleware.Responses[i], direct.Responses[i]
		require.Equal(t, a.Status, b.Status, "request %d (step %d)", i, a.Step)
		require.Equal(t, a.Reason, b.Reason, "request %d (step %d)", i, a.Step)
		require.Equal(t, a.DryRun, b.DryRun, "request %d", i)
		require.Equal(t, a.Decision, b.Decision, "request %d", i)
		require.Equal(t, a.Caller.KeyName, b.Caller.KeyName, "request %d", i)
		require.Equal(t, a.Caller.Decision, b.Caller.Decision, "request %d", i)
		if a.Caller.Plan != nil {
			require.Equal(t, a.Caller.Plan.ID, b.Caller.Plan.ID, "request %d", i)
		}
	}
	require.Equal(t, viaMiddleware.String(), direct.String())
}

// Inside a testing/synctest bubble, SystemClock's sleeps advance the
// bubble's clock at once: a minute of traffic gets what it gets on a
// ManualClock, and the bubble's clock ends a minute later.
func TestSyncTest(t *testing.T) {
	steps := []Traffic{{Key: partner, API: "listOrders", Rate: 20, For: time.Minute}, {Key: partner, API: "listOrders", Count: 5}}
	manual := newKit(t, Config{}).Run(steps...)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		k, err := New(Config{JSON: scenarioConfig, Clock: SystemClock{}})
		require.NoError(t, err)
		defer k.Close()
		res := k.Run(steps...)
		require.Equal(t, time.Minute, time.Since(start))
		require.Equal(t, manual.String(), res.String())
		require.Equal(t, manual.Statuses(), res.Statuses())
		for i := range res.Responses {
			require.Equal(t, res.Responses[i].At.Sub(start), manual.Responses[i].At.Sub(Start()), "request %d", i)
		}
	})
}

// A step's requests go at i/Rate from its start, after After; the step
// ends Count/Rate after its start; a step without Rate sends at once.
func TestTrafficTiming(t *testing.T) {
	k := newKit(t, Config{})
	res := k.Run(
		Traffic{API: "health", Rate: 3, For: 2 * time.Second},
		Traffic{API: "health", Count: 2, After: time.Minute},
		Traffic{API: "health", Count: 2, Rate: 4},
		Traffic{API: "health"},
	)
	t0 := Start()
	var offsets []time.Duration
	for _, r := range res.Responses {
		offsets = append(offsets, r.At.Sub(t0))
	}
	third := time.Duration(333333333)
	require.Equal(t, []time.Duration{
		0, third, 2*third + 1, time.Second, time.Second + third, time.Second + 2*third + 1, // 6 at 3 rps
		62 * time.Second, 62 * time.Second, // after a minute, at once
		62 * time.Second, 62*time.Second + 250*time.Millisecond, // 2 at 4 rps
		62*time.Second + 500*time.Millisecond,
	}, offsets)
	require.Equal(t, []int{0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3}, steps(res))
	require.Equal(t, 2, len(res.Step(2).Responses))
	require.Equal(t, t0.Add(62*time.Second+500*time.Millisecond), k.Clock.Now())
}

func steps(r Result) []int {
	var out []int
	for _, resp := range r.Responses {
		out = append(out, resp.Step)
	}
	return out
}

// A script that cannot be sent is a mistake in the test: Run panics and
// says why.
func TestScriptMistakesPanic(t *testing.T) {
	k := newKit(t, Config{})
	cases := []struct {
		name string
		step Traffic
		msg  string
	}{
		{"unknown API", Traffic{API: "nope"}, `no API has the ID or name "nope"`},
		{"unknown key", Traffic{Key: "AKIDnobody", API: "listOrders"}, `no key "AKIDnobody"`},
		{"negative count", Traffic{API: "health", Count: -1}, "must not be negative"},
		{"negative rate", Traffic{API: "health", Rate: -1}, "must not be negative"},
		{"for without rate", Traffic{API: "health", For: time.Second}, "For needs a Rate"},
		{"nothing to call", Traffic{Key: partner}, "needs an API or a Path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r)
				require.Contains(t, r, tc.msg)
			}()
			k.Run(tc.step)
		})
	}
	noRelease := strings.Replace(scenarioConfig, `"environments": ["release", "test"]`, `"environments": ["prepub", "test"]`, 1)
	noRelease = strings.ReplaceAll(noRelease, `"environment": "release"`, `"environment": "prepub"`)
	require.PanicsWithValue(t, "planguardtest: step 0: set Traffic.Environment: the kit cannot pick one",
		func() { newKit(t, Config{JSON: noRelease}).Run(Traffic{API: "health"}) })
	ambiguous := strings.Replace(scenarioConfig, `"name": "getFile"`, `"name": "getOrder"`, 1)
	k2 := newKit(t, Config{JSON: ambiguous})
	require.PanicsWithValue(t, `planguardtest: step 0: 2 APIs are named "getOrder": name it by its ID`, func() { k2.Run(Traffic{API: "getOrder"}) })
	require.Equal(t, 200, k2.Run(Traffic{Key: partner, API: "api-get00001"}).Last().Status)
	require.PanicsWithValue(t, "planguardtest: step 0: RunLimiter needs Traffic.API", func() { k.RunLimiter(Traffic{Key: partner, Path: "/orders"}) })
}

// New reports every problem of an invalid configuration with its JSON
// path, and refuses settings that do not make a kit.
func TestNewErrors(t *testing.T) {
	_, err := New(Config{JSON: `{"plans": [{"id": "usagePlan-bad00001", "name": "bad", "qps": 0, "quota": -7}]}`})
	var ve *usageplan.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Contains(t, err.Error(), "plans[0].qps")
	require.Contains(t, err.Error(), "plans[0].quota")

	_, err = New(Config{})
	require.ErrorContains(t, err, "JSON or Config.Registry is required")
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	_, err = New(Config{JSON: scenarioConfig, Registry: reg})
	require.ErrorContains(t, err, "exclusive")
	_, err = New(Config{Registry: reg, Limiter: limiter.Config{Capacity: -1}})
	require.Error(t, err)
}

// A kit serves a registry the test built, and a change to it applies
// from the next request.
func TestRegistryChangesApplyNextRequest(t *testing.T) {
	base := newKit(t, Config{})
	k := newKit(t, Config{Registry: base.Registry})
	require.Equal(t, 200, k.Run(Traffic{Key: partner, API: "createOrder"}).Last().Status)
	require.NoError(t, k.Registry.DisableKey(partner))
	last := k.Run(Traffic{Key: partner, API: "createOrder"}).Last()
	require.Equal(t, 401, last.Status)
	require.Equal(t, middleware.RefusedAuth, last.Reason)
}

// Do serves a request the test built and Sign signed; the headers are
// read with Header.Get and the middleware's constants; the handler and
// the kit see the same Caller.
func TestDoAndSign(t *testing.T) {
	var mu sync.Mutex
	var handlerSaw middleware.Caller
	var observed int
	k := newKit(t, Config{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			handlerSaw, _ = middleware.FromContext(r.Context())
			mu.Unlock()
			w.Write([]byte("order " + r.PathValue("id")))
		}),
		Middleware: middleware.Config{Observer: func(_ context.Context, _ *middleware.Event) { observed++ }},
	})
	r := httptest.NewRequest("GET", "/release/orders/42", nil)
	require.NoError(t, k.Sign(r, partner))
	resp := k.Do(r)
	require.Equal(t, 200, resp.Status)
	require.Equal(t, "order 42", string(resp.Body))
	require.Equal(t, "299/300", resp.Header.Get(middleware.HeaderQuota))
	require.Equal(t, "10", resp.Header.Get(middleware.HeaderRateLimit))
	require.Equal(t, "api-get00001", resp.Header.Get(middleware.HeaderAPIID))
	require.NotEmpty(t, resp.Header.Get(middleware.HeaderRateLimitPolicy))
	require.Equal(t, handlerSaw, resp.Caller)
	require.Equal(t, "partner", resp.Caller.KeyName)
	require.Equal(t, int64(299), resp.Decision.Remaining)
	require.Equal(t, 1, observed, "the user's Observer is called too")

	require.ErrorContains(t, k.Sign(httptest.NewRequest("GET", "/", nil), "AKIDnobody"), "no key")
	_, ok := k.Signer("AKIDnobody")
	require.False(t, ok)
}

func TestFillPattern(t *testing.T) {
	for pattern, want := range map[string]string{
		"/orders":           "/orders",
		"/orders/{id}":      "/orders/1",
		"/a/{x}/b/{y}":      "/a/1/b/1",
		"/files/{path...}":  "/files/1",
		"/{$}":              "/",
		"/orders/{id}/{$}":  "/orders/1/",
		"/broken/{unclosed": "/broken/{unclosed",
	} {
		require.Equal(t, want, fillPattern(pattern), pattern)
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(Start())
	c.Advance(time.Second)
	c.Sleep(time.Second)
	c.Advance(-time.Hour)
	require.Equal(t, Start().Add(2*time.Second), c.Now())
	c.Set(Start())
	require.Equal(t, Start().Add(2*time.Second), c.Now(), "time does not go back")
	c.Set(Start().Add(time.Hour))
	require.Equal(t, Start().Add(time.Hour), c.Now())
	require.Equal(t, time.Monday, Start().Weekday())
}

// With the middleware's environment fixed, paths carry no environment
// segment, and a step that names another environment is a mistake.
func TestFixedEnvironment(t *testing.T) {
	k := newKit(t, Config{Middleware: middleware.Config{Environment: "test"}})
	res := k.Run(Traffic{Key: partner, API: "listOrders", Count: 3})
	require.Equal(t, "admitted=2 qps=1 dry_run=1", res.String(), "the trial plan, in test")
	require.Equal(t, "test", res.Last().Caller.Environment)
	direct := newKit(t, Config{Middleware: middleware.Config{Environment: "test"}}).RunLimiter(Traffic{Key: partner, API: "listOrders", Count: 3})
	require.Equal(t, res.String(), direct.String())
	r := httptest.NewRequest("GET", "/orders", nil)
	require.NoError(t, k.Sign(r, partner))
	require.Equal(t, "test", k.Do(r).Caller.Environment)
	require.PanicsWithValue(t, `planguardtest: step 0: the middleware serves environment "test" only (Config.Middleware.Environment), not "release"`,
		func() { k.Run(Traffic{Key: partner, API: "listOrders", Environment: "release"}) })
}

// Usage reads what a key consumed in the current period; the next day
// starts afresh.
func TestUsage(t *testing.T) {
	k := newKit(t, Config{})
	k.Run(Traffic{Key: partner, API: "createOrder", Count: 7})
	used, err := k.Usage("usagePlan-shaped01", partner)
	require.NoError(t, err)
	require.Equal(t, int64(7), used)
	k.Clock.Sleep(24 * time.Hour)
	used, err = k.Usage("usagePlan-shaped01", partner)
	require.NoError(t, err)
	require.Zero(t, used)
	_, err = k.Usage("usagePlan-nope0001", partner)
	require.ErrorIs(t, err, usageplan.ErrNotFound)
	require.ErrorContains(t, err, "no usage plan usagePlan-nope0001")
}

// Run, RunLimiter and Do may be called from several goroutines: each
// request's outcome stays with its response (the -race detector checks
// the rest). Both keys share one quota counter per key, so the totals
// are exact whatever the interleaving.
func TestConcurrentUse(t *testing.T) {
	for _, loopback := range []bool{false, true} {
		k := newKit(t, Config{Loopback: loopback})
		var wg sync.WaitGroup
		results := make([]Result, 4)
		for i := range results {
			wg.Go(func() {
				if i%2 == 0 {
					results[i] = k.Run(Traffic{Key: partner, API: "createOrder", Count: 50})
				} else {
					results[i] = k.RunLimiter(Traffic{Key: partner, API: "createOrder", Count: 50})
				}
			})
		}
		wg.Wait()
		admitted := 0
		for _, res := range results {
			for _, r := range res.Responses {
				require.True(t, r.Observed)
				require.Equal(t, r.Reason == middleware.Admitted, r.Status == 200, "loopback %v: %+v", loopback, r.Reason)
				if r.Reason == middleware.Admitted {
					require.Equal(t, "partner", r.Caller.KeyName)
					admitted++
				}
			}
		}
		used, err := k.Usage("usagePlan-shaped01", partner)
		require.NoError(t, err)
		require.Equal(t, int64(admitted), used, "loopback %v", loopback)
		require.Equal(t, 20, admitted, "the plan's burst of 20 at one instant")
	}
}
