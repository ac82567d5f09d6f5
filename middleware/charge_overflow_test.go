package middleware

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/limiter"
)

// A charge near math.MaxInt64 (a handler that charges a
// client-influenced count, e.g. tokens parsed from a request or an
// upstream answer) once wrapped the usage history's int64 counters: the
// request's admitted unit plus the charge overflowed Counts.Units and
// Counts.Overage, and the billing history showed a negative usage. A
// charge above limiter.MaxUnits is refused with a clear error and
// records nothing; the history never wraps.
func TestChargeNearMaxInt64DoesNotWrapHistory(t *testing.T) {
	srv, rec := chargeServer(t, &limiter.MemoryStore{}, nil, nil)
	code, cerr := chargeDo(t, srv, "GET", "/release/list?charge="+strconv.FormatInt(math.MaxInt64, 10), true)
	require.Equal(t, 200, code)
	require.Contains(t, cerr, "above MaxUnits (1099511627776)")
	h := planHistory(t, rec)
	require.GreaterOrEqual(t, h.Units, int64(0), "history Units wrapped: %+v", h)
	require.GreaterOrEqual(t, h.Overage, int64(0), "history Overage wrapped: %+v", h)
	require.Equal(t, int64(1), h.Units, "the refused charge recorded nothing: %+v", h)

	code, cerr = chargeDo(t, srv, "GET", "/release/list?charge="+strconv.FormatInt(limiter.MaxUnits+1, 10), true)
	require.Equal(t, 200, code)
	require.Contains(t, cerr, "above MaxUnits")
	code, cerr = chargeDo(t, srv, "GET", "/release/list?charge="+strconv.FormatInt(limiter.MaxUnits, 10), true)
	require.Equal(t, 200, code)
	require.Empty(t, cerr, "MaxUnits is charged")
	h = planHistory(t, rec)
	require.Equal(t, 2+1+int64(limiter.MaxUnits), h.Units, "%+v", h)
	require.Greater(t, h.Overage, int64(0), "%+v", h)
	require.LessOrEqual(t, h.Overage, int64(limiter.MaxUnits), "%+v", h)
}
