package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/usageplan"
)

const costConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "ai", "environments": ["release"],
     "apis": [
       {"id": "api-cost0001", "name": "generate", "method": "POST", "path": "/generate", "cost": 30},
       {"id": "api-list0001", "name": "list", "method": "GET", "path": "/list"}
     ]}
  ],
  "keys": [{"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"}],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold", "qps": 1000, "quota": 100, "quotaPeriod": "day",
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]}
  ]
}`

// costServer serves costConfig through the middleware, with history in
// the returned recorder; handler is the protected handler.
func costServer(t *testing.T, store limiter.Store, handler http.Handler) (*httptest.Server, *metering.Recorder) {
	t.Helper()
	reg, err := usageplan.LoadConfig(strings.NewReader(costConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	lim, err := limiter.New(store, limiter.Config{LeaseSize: 1})
	require.NoError(t, err)
	rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	mw, err := New(reg, lim, Config{Now: func() time.Time { return t0 }, Meter: rec})
	require.NoError(t, err)
	srv := httptest.NewServer(mw.Wrap(handler))
	t.Cleanup(srv.Close)
	return srv, rec
}

func signedDo(t *testing.T, srv *httptest.Server, method, path string) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	require.NoError(t, err)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "test"}
	require.NoError(t, s.SignAt(req, t0))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func planHistory(t *testing.T, rec *metering.Recorder) metering.Counts {
	t.Helper()
	require.NoError(t, rec.Flush(context.Background()))
	rows, err := rec.History(context.Background(), metering.Query{Plan: "usagePlan-gold0001", Granularity: metering.Hour, From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	require.NoError(t, err)
	var c metering.Counts
	for _, r := range rows {
		c.Add(r.Counts)
	}
	return c
}

// An API's cost is what one of its requests takes from the quota and
// what the history records as its units; a request is admitted only if
// the quota has its whole cost left.
func TestCostCountsAgainstQuotaAndHistory(t *testing.T) {
	srv, rec := costServer(t, &limiter.MemoryStore{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i := range 3 {
		require.Equal(t, 200, signedDo(t, srv, "POST", "/release/generate"), "request %d: %d of 100 units taken", i, 30*i)
	}
	require.Equal(t, 429, signedDo(t, srv, "POST", "/release/generate"), "10 units left, the request costs 30")
	for range 10 {
		require.Equal(t, 200, signedDo(t, srv, "GET", "/release/list"), "cost 1 fits in what is left")
	}
	require.Equal(t, 429, signedDo(t, srv, "GET", "/release/list"))
	require.Equal(t, metering.Counts{Requests: 13, Units: 100, RefusedQuota: 2}, planHistory(t, rec))
}
