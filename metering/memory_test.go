package metering_test

import (
	"testing"

	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

func TestMemoryHistoryConformance(t *testing.T) {
	historytest.Run(t, func(*testing.T) metering.HistoryStore { return &metering.MemoryHistory{} })
}

// Counts.Add saturates each count instead of wrapping it.
func TestCountsAddSaturates(t *testing.T) {
	const maxInt64, minInt64 = 1<<63 - 1, -1 << 63
	c := metering.Counts{Requests: 1, Units: maxInt64 - 1, Overage: maxInt64, RefusedRate: minInt64 + 1, RefusedQuota: 5}
	c.Add(metering.Counts{Requests: 2, Units: 2, Overage: maxInt64, RefusedRate: -2, RefusedQuota: -7})
	want := metering.Counts{Requests: 3, Units: maxInt64, Overage: maxInt64, RefusedRate: minInt64, RefusedQuota: -2}
	if c != want {
		t.Fatalf("Add: got %+v, want %+v", c, want)
	}
}
