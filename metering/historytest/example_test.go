package historytest_test

import (
	"testing"

	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

// A history store's own tests run the suite, with a fresh, empty store
// for each subtest. (This example is compiled, not run: the suite needs
// the *testing.T of a test.)
func ExampleRun() {
	_ = func(t *testing.T) { // func TestHistoryConformance(t *testing.T) in the store's package
		historytest.Run(t, func(t *testing.T) metering.HistoryStore { return &metering.MemoryHistory{} })
	}
}
