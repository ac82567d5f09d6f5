package middleware

import (
	"context"
	"errors"
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
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/usageplan"
)

const chargeConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "ai", "environments": ["release"],
     "apis": [
       {"id": "api-cost0001", "name": "generate", "method": "POST", "path": "/generate", "cost": 3},
       {"id": "api-list0001", "name": "list", "method": "GET", "path": "/list"},
       {"id": "api-open0001", "name": "open", "method": "GET", "path": "/open", "auth": "NONE"}
     ]}
  ],
  "keys": [{"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"}],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold", "qps": -1, "quota": 1500, "quotaPeriod": "day", "alerts": [50, 100],
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]}
  ]
}`

// chargeServer serves chargeConfig on store; its handler charges the
// units of the query's "charge" and reports Charge's error in the
// X-Charge-Error header.
func chargeServer(t *testing.T, store limiter.Store, onAlert func(limiter.Alert), charged *atomic.Int64) (*httptest.Server, *metering.Recorder) {
	t.Helper()
	return chargeServerWith(t, store, onAlert, charged, Config{})
}

// chargeServerWith is chargeServer with the middleware's cfg (its Now
// and Meter set).
func chargeServerWith(t *testing.T, store limiter.Store, onAlert func(limiter.Alert), charged *atomic.Int64, cfg Config) (*httptest.Server, *metering.Recorder) {
	t.Helper()
	mw, rec := chargeMiddleware(t, store, onAlert, cfg)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("charge"), 10, 64)
		if err := Charge(r.Context(), n); err != nil {
			w.Header().Set("X-Charge-Error", err.Error())
			return
		}
		if charged != nil {
			charged.Add(n)
		}
	})))
	t.Cleanup(srv.Close)
	return srv, rec
}

// chargeMiddleware is chargeServer's middleware and usage history.
func chargeMiddleware(t *testing.T, store limiter.Store, onAlert func(limiter.Alert), cfg Config) (*Middleware, *metering.Recorder) {
	t.Helper()
	reg, err := usageplan.LoadConfig(strings.NewReader(chargeConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(store, limiter.Config{OnAlert: onAlert})
	require.NoError(t, err)
	t.Cleanup(func() { lim.Close(context.Background()) })
	rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	cfg.Now, cfg.Meter = func() time.Time { return t0 }, rec
	mw, err := New(reg, lim, cfg)
	require.NoError(t, err)
	return mw, rec
}

func chargeDo(t *testing.T, srv *httptest.Server, method, path string, sign bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	if sign {
		s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "test"}
		require.NoError(t, s.SignAt(req, t0))
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Charge-Error")
}

// Charge errors only without an admitted caller, and for negative units,
// recording nothing of them.
func TestChargeNeedsAnAdmittedCaller(t *testing.T) {
	require.ErrorIs(t, Charge(context.Background(), 5), ErrNotCharged)
	ctx := NewContext(context.Background(), Caller{SecretID: goldKey})
	require.ErrorIs(t, Charge(ctx, 5), ErrNotCharged, "NewContext's caller has no limiter")

	srv, rec := chargeServer(t, &limiter.MemoryStore{}, nil, nil)
	code, cerr := chargeDo(t, srv, "GET", "/release/open?charge=5", false)
	require.Equal(t, 200, code)
	require.Contains(t, cerr, ErrNotCharged.Error(), "auth NONE: no plan to charge")
	code, cerr = chargeDo(t, srv, "GET", "/release/list?charge=-1", true)
	require.Equal(t, 200, code)
	require.Contains(t, cerr, "Units -1 is negative")
	code, cerr = chargeDo(t, srv, "GET", "/release/list?charge=0", true)
	require.Equal(t, 200, code)
	require.Empty(t, cerr, "0 units charge nothing")
	require.Equal(t, metering.Counts{Requests: 2, Units: 2}, planHistory(t, rec))
}

// A dry run serves what it would refuse as if it were refused: it
// consumes nothing. The history records such a request as the refusal
// it would have been, without units, and its handler's charge charges
// and records nothing; what the dry run admits is charged as usual.
func TestDryRunRefusalConsumesNothing(t *testing.T) {
	store := &limiter.MemoryStore{}
	srv, rec := chargeServerWith(t, store, nil, nil, Config{DryRun: true})
	for _, req := range [][2]string{{"GET", "/release/list?charge=1496"}, {"POST", "/release/generate?charge=7"}} { // 3 left, then spent and 7 over
		code, cerr := chargeDo(t, srv, req[0], req[1], true)
		require.Equal(t, 200, code)
		require.Empty(t, cerr)
	}
	code, cerr := chargeDo(t, srv, "GET", "/release/list?charge=5", true) // refused for the quota, served
	require.Equal(t, 200, code)
	require.Empty(t, cerr, "a dry run's charge is not an error")
	code, cerr = chargeDo(t, srv, "GET", "/release/list?charge=-1", true)
	require.Equal(t, 200, code)
	require.Contains(t, cerr, "Units -1 is negative", "a negative charge is refused, dry run or not")
	code, cerr = chargeDo(t, srv, "GET", "/release/list?charge="+strconv.FormatInt(limiter.MaxUnits+1, 10), true)
	require.Equal(t, 200, code)
	require.Contains(t, cerr, "invalid limits", "so is one above MaxUnits")
	require.Equal(t, metering.Counts{Requests: 2, Units: 1507, Overage: 7, RefusedQuota: 3}, planHistory(t, rec))
}

// A charge takes the quota to 0 at most and records the rest as
// overage; then the key is refused, and the history records every unit.
func TestChargeOverageOverHTTP(t *testing.T) {
	srv, rec := chargeServer(t, &limiter.MemoryStore{}, nil, nil)
	code, _ := chargeDo(t, srv, "POST", "/release/generate?charge=1000", true)
	require.Equal(t, 200, code)
	code, _ = chargeDo(t, srv, "POST", "/release/generate?charge=600", true) // 497 left: 103 over
	require.Equal(t, 200, code)
	code, _ = chargeDo(t, srv, "GET", "/release/list", true)
	require.Equal(t, 429, code)
	require.Equal(t, metering.Counts{Requests: 2, Units: 1606, Overage: 106, RefusedQuota: 1}, planHistory(t, rec))
}

// Under 1000 concurrent requests whose handlers charge, the history
// records exactly the units admitted plus the units charged, the
// overage is exactly what went past the quota, no handler runs once a
// charge spent the quota, and each alert threshold is reported once.
func TestChargeExactOverHTTP(t *testing.T) {
	var mu sync.Mutex
	alerts := map[int]int{}
	var charged, admitted atomic.Int64
	var spent atomic.Bool
	srv, rec := chargeServer(t, &limiter.MemoryStore{}, func(a limiter.Alert) {
		mu.Lock()
		alerts[a.Threshold]++
		mu.Unlock()
		if a.Threshold == 100 {
			spent.Store(true)
		}
	}, &charged)
	var wg sync.WaitGroup
	var lateAdmits atomic.Int64
	for i := range 1000 {
		wg.Go(func() {
			method, path, cost := "GET", "/release/list", int64(1)
			if i%2 == 0 {
				method, path, cost = "POST", "/release/generate", 3
			}
			wasSpent := spent.Load()
			code, cerr := chargeDo(t, srv, method, path+"?charge="+strconv.Itoa(i%5*7), true)
			assert.Empty(t, cerr)
			if code == 200 {
				admitted.Add(cost)
				if wasSpent {
					lateAdmits.Add(1)
				}
			}
		})
	}
	wg.Wait()
	h := planHistory(t, rec)
	a, c := admitted.Load(), charged.Load()
	require.Equal(t, a+c, h.Units, "units recorded = admitted + charged")
	require.Equal(t, max(a+c-1500, 0), h.Overage, "overage = what went past the quota")
	// The quota is spent, but not always past it: when the charges of the
	// admitted requests land before the last cost-1 admissions fill the
	// quota exactly, the overage is 0.
	require.GreaterOrEqual(t, a+c, int64(1500), "the load spends the quota")
	require.Zero(t, lateAdmits.Load(), "admitted after the quota was spent")
	require.Equal(t, map[int]int{50: 1, 100: 1}, alerts)
}

func TestChargeStoreFailure(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(chargeConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(&failingStore{}, limiter.Config{LeaseSize: 1})
	require.NoError(t, err)
	rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	mw, err := New(reg, lim, Config{Now: func() time.Time { return t0 }, Meter: rec, FailOpen: true})
	require.NoError(t, err)
	var got error
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = Charge(r.Context(), 7) }))
	req := httptest.NewRequest("GET", "/release/list", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "test"}
	require.NoError(t, s.SignAt(req, t0))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, 200, w.Code, "served: fail open")
	require.Error(t, got)
	require.False(t, errors.Is(got, ErrNotCharged))
	require.Equal(t, metering.Counts{Requests: 1, Units: 8}, planHistory(t, rec), "the work was done: its units are recorded")
}

// A charge the limiter refuses as invalid (ErrInvalidLimits: units
// below 0 or above limiter.MaxUnits, or invalid Limits) charges nothing,
// so the history records nothing of it either: charge, the code below
// Charge's early returns, keeps the usage history consistent with the
// quota by itself.
func TestChargeRefusedByLimiterRecordsNothing(t *testing.T) {
	mw, rec := chargeMiddleware(t, &limiter.MemoryStore{}, nil, Config{})
	var errs []error
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, _ := r.Context().Value(chargeKey{}).(*request)
		if q == nil || q.charged.lim == nil {
			t.Error("no admitted caller in the handler's context")
			return
		}
		for _, units := range []int64{-3, limiter.MaxUnits + 1} {
			errs = append(errs, q.charged.m.charge(q, units))
		}
		q.charged.lim = &limitState{limits: limiter.Limits{QPS: 0, Quota: 10}} // QPS 0: invalid
		errs = append(errs, q.charged.m.charge(q, 5))
	}))
	req := httptest.NewRequest("GET", "/release/list", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "test"}
	require.NoError(t, s.SignAt(req, t0))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, 200, w.Code)
	require.Len(t, errs, 3)
	for i, err := range errs {
		require.ErrorIs(t, err, limiter.ErrInvalidLimits, "charge %d", i)
	}
	require.Equal(t, metering.Counts{Requests: 1, Units: 1}, planHistory(t, rec), "only the admitted request is recorded")
}
