package middleware

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/limiter"
)

// A charge near math.MaxInt64 (a handler that
// charges a client-influenced count, e.g. tokens parsed from a request
// or an upstream answer) wraps the usage history's int64 counters: the
// request's admitted unit plus the charge overflow Counts.Units and
// Counts.Overage, and the billing history shows a negative usage.
// Charge accepts any units >= 0; neither it, ChargeAt nor
// metering.Counts.Add bounds or saturates them.
func TestChargeNearMaxInt64DoesNotWrapHistory(t *testing.T) {
	srv, rec := chargeServer(t, &limiter.MemoryStore{}, nil, nil)
	code, cerr := chargeDo(t, srv, "GET", "/release/list?charge="+strconv.FormatInt(math.MaxInt64, 10), true)
	require.Equal(t, 200, code)
	require.Empty(t, cerr)
	h := planHistory(t, rec)
	require.GreaterOrEqual(t, h.Units, int64(0), "history Units wrapped: %+v", h)
	require.GreaterOrEqual(t, h.Overage, int64(0), "history Overage wrapped: %+v", h)
}
