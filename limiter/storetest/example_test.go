package storetest_test

import (
	"testing"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/storetest"
)

// A store's own tests run the suite, with a fresh, empty store for each
// subtest. (This example is compiled, not run: the suite needs the
// *testing.T of a test; limiter's tests run it on MemoryStore.)
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T) in the store's package
		storetest.Run(t, func(t *testing.T) limiter.Store { return &limiter.MemoryStore{} })
	}
}
