package metering_test

import (
	"testing"

	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

func TestMemoryHistoryConformance(t *testing.T) {
	historytest.Run(t, func(*testing.T) metering.HistoryStore { return &metering.MemoryHistory{} })
}
