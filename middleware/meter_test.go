package middleware

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/metering"
)

func meterFixture(t *testing.T, cfg Config, store *failingStore) (*fixture, *metering.Recorder) {
	rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	cfg.Meter = rec
	if store == nil {
		return newFixture(t, cfg, nil), rec
	}
	return newFixture(t, cfg, store), rec
}

func usage(t *testing.T, rec *metering.Recorder, plan string, g metering.Granularity) metering.Counts {
	t.Helper()
	require.NoError(t, rec.Flush(context.Background()))
	rows, err := rec.History(context.Background(), metering.Query{Plan: plan, Granularity: g, From: t0.Add(-48 * time.Hour), To: t0.Add(48 * time.Hour)})
	require.NoError(t, err)
	var c metering.Counts
	for _, r := range rows {
		require.Equal(t, goldKey, r.Key)
		c.Add(r.Counts)
	}
	return c
}

// The history counts what the limiter decided, per plan and key:
// admitted requests and their units, quota and QPS refusals; requests
// refused before a plan was found are not counted.
func TestMeterRecordsDecisions(t *testing.T) {
	f, rec := meterFixture(t, Config{}, nil)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 4 {
				f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
			}
		})
	}
	wg.Wait()
	f.do(t, "GET", "/release/health", "", "", nil)                  // auth NONE
	f.do(t, "GET", "/release/orders", goldKey, "wrong-secret", nil) // 401
	f.do(t, "GET", "/release/orders", loneKey, testSecret, nil)     // 403: no plan
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		require.Equal(t, metering.Counts{Requests: 100, Units: 100, RefusedQuota: 100}, usage(t, rec, "usagePlan-gold0001", g), g.String())
	}
	// The slow plan (1 QPS): three requests in the same instant.
	for range 3 {
		f.do(t, "GET", "/test/orders", goldKey, goldSecret, nil)
	}
	require.Equal(t, metering.Counts{Requests: 1, Units: 1, RefusedRate: 2}, usage(t, rec, "usagePlan-slow0001", metering.Hour))
}

// A store failure refused (fail closed) records nothing; served (fail
// open), it records the request as admitted.
func TestMeterStoreFailure(t *testing.T) {
	f, rec := meterFixture(t, Config{}, &failingStore{})
	require.Equal(t, 503, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	require.Equal(t, metering.Counts{}, usage(t, rec, "usagePlan-gold0001", metering.Hour))

	f, rec = meterFixture(t, Config{FailOpen: true}, &failingStore{})
	require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	require.Equal(t, metering.Counts{Requests: 1, Units: 1}, usage(t, rec, "usagePlan-gold0001", metering.Hour))
}
