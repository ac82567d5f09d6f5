package prometheus

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

const (
	goldKey    = "AKIDgold000000000001"
	goldSecret = "gold-secret-0123456789"
	loneKey    = "AKIDlone000000000001"
	loneSecret = "lone-secret-0123456789"
)

const testConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"},
       {"id": "api-hlth0001", "name": "health", "method": "GET", "path": "/health", "auth": "NONE"}
     ]}
  ],
  "keys": [
    {"id": "` + goldKey + `", "name": "gold", "secret": "` + goldSecret + `"},
    {"id": "` + loneKey + `", "name": "lone", "secret": "` + loneSecret + `"}
  ],
  "plans": [
    {"id": "usagePlan-gold0001", "name": "gold", "qps": 1000, "quota": 5, "quotaPeriod": "day",
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]},
    {"id": "usagePlan-slow0001", "name": "slow", "qps": 1, "quota": -1,
     "keys": ["` + goldKey + `"],
     "bindings": [{"service": "service-abcd1234", "environment": "test"}]}
  ]
}`

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// switchStore fails its quota calls while fail is set.
type switchStore struct {
	limiter.MemoryStore
	fail atomic.Bool
}

func (s *switchStore) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (int64, int64, error) {
	if s.fail.Load() {
		return 0, 0, errors.New("connection refused")
	}
	return s.MemoryStore.Reserve(ctx, c, n, limit)
}

type fixture struct {
	reg   *usageplan.Registry
	store *switchStore
	col   *Collector
	srv   *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	require.NoError(t, err)
	store := &switchStore{}
	lim, err := limiter.New(store, limiter.Config{LeaseSize: 1})
	require.NoError(t, err)
	col := New(Config{Registry: reg})
	mw, err := middleware.New(reg, lim, middleware.Config{Observer: col.Observe, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	srv := httptest.NewServer(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	t.Cleanup(srv.Close)
	return &fixture{reg, store, col, srv}
}

func (f *fixture) get(t *testing.T, path, id, secret string) int {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	require.NoError(t, err)
	if id != "" {
		s := &keys.Signer{ID: id, Secret: keys.NewSecret(secret), Source: "test"}
		require.NoError(t, s.SignAt(req, t0))
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestCollectorCountsRequestsByResult sends requests of every result
// over real HTTP and checks the counters equal what was sent.
func TestCollectorCountsRequestsByResult(t *testing.T) {
	f := newFixture(t)
	send := func(n int, status int, path, id, secret string) {
		for range n {
			require.Equal(t, status, f.get(t, path, id, secret), path)
		}
	}
	f.store.fail.Store(true)
	send(2, 503, "/release/orders", goldKey, goldSecret) // store failure
	f.store.fail.Store(false)
	send(5, 200, "/release/orders", goldKey, goldSecret)  // the gold quota (5)
	send(2, 429, "/release/orders", goldKey, goldSecret)  // quota
	send(3, 200, "/release/health", "", "")               // auth NONE
	send(4, 404, "/release/nothing", goldKey, goldSecret) // not found
	send(1, 404, "/nowhere/orders", goldKey, goldSecret)  // not found, unknown environment
	send(2, 401, "/release/orders", "", "")               // no Authorization
	send(1, 401, "/release/orders", goldKey, "wrong")     // signature mismatch
	send(3, 403, "/release/orders", loneKey, loneSecret)  // no plan
	send(1, 200, "/test/orders", goldKey, goldSecret)     // slow: its one token
	send(2, 429, "/test/orders", goldKey, goldSecret)     // QPS (the clock stands still)

	const svc, gold, slow = "service-abcd1234", "usagePlan-gold0001", "usagePlan-slow0001"
	count := func(labels ...string) float64 { return testutil.ToFloat64(f.col.requests.WithLabelValues(labels...)) }
	require.Equal(t, 5.0, count("admitted", "release", svc, "api-list0001", gold))
	require.Equal(t, 2.0, count("quota", "release", svc, "api-list0001", gold))
	require.Equal(t, 3.0, count("admitted", "release", svc, "api-hlth0001", ""))
	require.Equal(t, 4.0, count("not_found", "release", "", "", ""))
	require.Equal(t, 1.0, count("not_found", "", "", "", ""))
	require.Equal(t, 3.0, count("auth", "release", svc, "api-list0001", ""))
	require.Equal(t, 3.0, count("no_plan", "release", svc, "api-list0001", ""))
	require.Equal(t, 1.0, count("admitted", "test", svc, "api-list0001", slow))
	require.Equal(t, 2.0, count("qps", "test", svc, "api-list0001", slow))
	require.Equal(t, 2.0, count("store_failure", "release", svc, "api-list0001", gold))
	require.Equal(t, 10, testutil.CollectAndCount(f.col.requests), "no other series")

	require.Equal(t, 2.0, testutil.ToFloat64(f.col.authRefused.WithLabelValues("no_authorization")))
	require.Equal(t, 1.0, testutil.ToFloat64(f.col.authRefused.WithLabelValues("signature_mismatch")))
	require.Equal(t, 2.0, testutil.ToFloat64(f.col.storeErrors))

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(f.col))
	families, err := reg.Gather()
	require.NoError(t, err)
	var total, storeCalls uint64
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				require.NotContains(t, l.GetValue(), "AKID", "no metric is labelled by key")
			}
			switch mf.GetName() {
			case "planguard_request_duration_seconds":
				total += m.GetHistogram().GetSampleCount()
			case "planguard_store_call_duration_seconds":
				storeCalls += m.GetHistogram().GetSampleCount()
			}
		}
	}
	require.EqualValues(t, 26, total, "one latency sample per request")
	require.EqualValues(t, 5+2+1+2+2, storeCalls, "one store sample per request that reached the limiter")

	// The revision follows the registry at scrape time.
	rev := f.reg.Snapshot().Version()
	require.NoError(t, testutil.CollectAndCompare(f.col, strings.NewReader(revisionText(rev)), "planguard_registry_revision"))
	require.NoError(t, f.reg.DisableKey(loneKey))
	require.NoError(t, testutil.CollectAndCompare(f.col, strings.NewReader(revisionText(rev+1)), "planguard_registry_revision"))
}

func revisionText(v uint64) string {
	return "# HELP planguard_registry_revision Changes applied to the registry (its snapshot's Revision).\n" +
		"# TYPE planguard_registry_revision gauge\n" +
		"planguard_registry_revision " + strconv.FormatUint(v, 10) + "\n"
}

// TestCollectorLints runs the Prometheus naming lint over every metric.
func TestCollectorLints(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, 200, f.get(t, "/release/orders", goldKey, goldSecret))
	problems, err := testutil.CollectAndLint(f.col)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// A managed registry that cannot read its journal is reported with the
// time its errors began; 0 once it reads again.
func TestJournalUnreachableSince(t *testing.T) {
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	j := &closableJournal{MemoryJournal: usageplan.NewMemoryJournal()}
	reg, err := usageplan.OpenManaged(context.Background(), j, usageplan.RegistryConfig{Now: func() time.Time { return at }})
	require.NoError(t, err)
	defer reg.Close()
	col := New(Config{Registry: reg})
	text := func(v string) *strings.Reader {
		return strings.NewReader("# HELP planguard_journal_unreachable_since_seconds Unix time since which a managed registry cannot read or apply its journal; 0 while it can.\n" +
			"# TYPE planguard_journal_unreachable_since_seconds gauge\n" +
			"planguard_journal_unreachable_since_seconds " + v + "\n")
	}
	require.NoError(t, testutil.CollectAndCompare(col, text("0"), "planguard_journal_unreachable_since_seconds"))
	j.down.Store(true)
	require.Error(t, reg.Sync(context.Background()))
	require.NoError(t, testutil.CollectAndCompare(col, text(strconv.FormatInt(at.Unix(), 10)), "planguard_journal_unreachable_since_seconds"))
	j.down.Store(false)
	require.NoError(t, reg.Sync(context.Background()))
	require.NoError(t, testutil.CollectAndCompare(col, text("0"), "planguard_journal_unreachable_since_seconds"))
}

// closableJournal is a MemoryJournal whose reads fail while down.
type closableJournal struct {
	*usageplan.MemoryJournal
	down atomic.Bool
}

func (j *closableJournal) Read(ctx context.Context, after uint64, limit int) ([]usageplan.JournalEntry, error) {
	if j.down.Load() {
		return nil, errors.New("journal unreachable")
	}
	return j.MemoryJournal.Read(ctx, after, limit)
}

// Alerts are counted by plan and threshold, never by key: three keys
// reaching the same threshold are one series.
func TestCollectorCountsAlerts(t *testing.T) {
	col := New(Config{})
	for _, key := range []string{goldKey, loneKey, "AKIDthird"} {
		col.Alert(limiter.Alert{Plan: "usagePlan-gold0001", Key: key, Threshold: 80, Used: 80, Quota: 100})
	}
	col.Alert(limiter.Alert{Plan: "usagePlan-gold0001", Key: goldKey, Threshold: 100, Used: 100, Quota: 100})
	want := "# HELP planguard_quota_alerts_total Keys whose quota consumption in a period reached one of their plan's alert thresholds, by plan and threshold (percent of the quota).\n" +
		"# TYPE planguard_quota_alerts_total counter\n" +
		"planguard_quota_alerts_total{plan=\"usagePlan-gold0001\",threshold=\"100\"} 1\n" +
		"planguard_quota_alerts_total{plan=\"usagePlan-gold0001\",threshold=\"80\"} 3\n"
	require.NoError(t, testutil.CollectAndCompare(col, strings.NewReader(want), "planguard_quota_alerts_total"))
	problems, err := testutil.CollectAndLint(col, "planguard_quota_alerts_total")
	require.NoError(t, err)
	require.Empty(t, problems)
}

// A managed registry that cannot apply a revision it read (an instance
// run with lower ceilings than the one that committed it) is reported
// with how many revisions it lags and since when; a registry that
// follows reports 0 for both.
func TestJournalLag(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	j := usageplan.NewMemoryJournal()
	a, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{Now: func() time.Time { return at }, MaxBurst: 20_000})
	require.NoError(t, err)
	defer a.Close()
	b, err := usageplan.OpenManaged(ctx, j, usageplan.RegistryConfig{})
	require.NoError(t, err)
	defer b.Close()
	text := func(revisions, since string) *strings.Reader {
		return strings.NewReader("# HELP planguard_journal_lag_revisions Revisions a managed registry read from its journal and has not applied.\n" +
			"# TYPE planguard_journal_lag_revisions gauge\n" +
			"planguard_journal_lag_revisions " + revisions + "\n" +
			"# HELP planguard_journal_lagging_since_seconds Unix time at which the oldest revision a managed registry read and has not applied was committed; 0 when it lags none.\n" +
			"# TYPE planguard_journal_lagging_since_seconds gauge\n" +
			"planguard_journal_lagging_since_seconds " + since + "\n")
	}
	names := []string{"planguard_journal_lag_revisions", "planguard_journal_lagging_since_seconds"}
	_, err = a.CreatePlan(usageplan.Plan{Name: "narrow", QPS: 10, Burst: 5, Quota: -1})
	require.NoError(t, err)
	require.NoError(t, b.Sync(ctx))
	require.NoError(t, testutil.CollectAndCompare(New(Config{Registry: b}), text("0", "0"), names...))

	_, err = a.CreatePlan(usageplan.Plan{Name: "wide", QPS: 10, Burst: 15_000, Quota: -1}) // over b's burst ceiling
	require.NoError(t, err)
	_, err = a.CreatePlan(usageplan.Plan{Name: "after", QPS: 10, Quota: -1})
	require.NoError(t, err)
	require.Error(t, b.Sync(ctx))
	require.NoError(t, testutil.CollectAndCompare(New(Config{Registry: b}), text("2", strconv.FormatInt(at.Unix(), 10)), names...))
	require.NoError(t, testutil.CollectAndCompare(New(Config{Registry: a}), text("0", "0"), names...))
}
