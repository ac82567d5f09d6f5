package journaltest_test

import (
	"testing"

	"github.com/planguard/planguard/usageplan"
	"github.com/planguard/planguard/usageplan/journaltest"
)

// A journal engine's own tests run the suite, with a fresh, empty
// journal for each subtest. (This example is compiled, not run: the
// suite needs the *testing.T of a test.)
func ExampleRun() {
	_ = func(t *testing.T) { // func TestJournal(t *testing.T) in the engine's package
		journaltest.Run(t, func(t *testing.T) usageplan.Journal { return usageplan.NewMemoryJournal() })
	}
}
