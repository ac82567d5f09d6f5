package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/planguard/planguard/metering/historytest"
)

// BenchmarkHistoryFlush: a steady load on 100 keys, one op per interval
// (1,000 requests recorded, then one flush); and the same requests each
// written to the file as it comes, as a store round trip per request
// would.
func BenchmarkHistoryFlush(b *testing.B) {
	for _, mode := range []historytest.Mode{historytest.PerInterval, historytest.PerRequest} {
		b.Run(mode.String(), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "usage.db"), Config{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			historytest.BenchmarkSteadyLoad(b, s, mode)
		})
	}
}
