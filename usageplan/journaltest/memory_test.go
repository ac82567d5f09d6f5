package journaltest_test

import (
	"testing"

	"github.com/planguard/planguard/usageplan"
	"github.com/planguard/planguard/usageplan/journaltest"
)

func TestMemoryJournal(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) usageplan.Journal {
		j := usageplan.NewMemoryJournal()
		t.Cleanup(func() { j.Close() })
		return j
	})
}

func BenchmarkMemoryJournal(b *testing.B) {
	journaltest.Benchmark(b, func(*testing.B) usageplan.Journal { return usageplan.NewMemoryJournal() })
}
