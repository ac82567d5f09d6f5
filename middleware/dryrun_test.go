package middleware

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Config.DryRun makes every plan a dry run: requests a limit refuses are
// served, reported in the headers as if enforced (without Retry-After),
// observed as the refusal they would have been, and consume nothing.
func TestDryRunServesAndReports(t *testing.T) {
	var mu sync.Mutex
	var seen []Event
	f := newFixture(t, Config{DryRun: true, Observer: func(_ context.Context, e *Event) {
		mu.Lock()
		seen = append(seen, *e)
		mu.Unlock()
	}}, nil)
	gold, _ := f.reg.Snapshot().Plan("usagePlan-gold0001")
	gold.QPS, gold.Quota = 2, 3
	require.NoError(t, f.reg.UpdatePlan(gold))
	for i := range 4 {
		r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
		require.Equal(t, 200, r.status, "request %d", i)
		assert.Empty(t, r.header.Get(HeaderRetryAfter), "request %d: served, so no Retry-After", i)
		if i >= 2 {
			assert.Equal(t, `"qps";r=0;t=1`, r.header.Get(HeaderRateLimitState), "request %d", i)
			assert.Equal(t, "1/3", r.header.Get(HeaderQuota), "request %d: the dry-run ones consume nothing", i)
		}
	}
	f.advance(time.Second) // the bucket is full again
	for i, want := range []string{"0/3", "0/3"} {
		r := f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
		require.Equal(t, 200, r.status)
		assert.Equal(t, want, r.header.Get(HeaderQuota), "request %d", i)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 6)
	want := []Reason{Admitted, Admitted, RefusedQPS, RefusedQPS, Admitted, RefusedQuota}
	for i, e := range seen {
		assert.Equal(t, want[i], e.Reason, "event %d", i)
		assert.Equal(t, want[i] != Admitted, e.DryRun, "event %d", i)
	}

	// Without the dry run, the same plan refuses.
	g := newFixture(t, Config{}, nil)
	require.NoError(t, g.reg.UpdatePlan(gold))
	for range 2 {
		require.Equal(t, 200, g.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	}
	r := g.do(t, "GET", "/release/orders", goldKey, goldSecret, nil)
	require.Equal(t, 429, r.status)
	assert.Equal(t, "1", r.header.Get(HeaderRetryAfter))
}
