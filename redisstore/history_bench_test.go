package redisstore

import (
	"testing"

	"github.com/planguard/planguard/metering/historytest"
)

// BenchmarkHistoryFlush: see boltstore's.
func BenchmarkHistoryFlush(b *testing.B) {
	for _, mode := range []historytest.Mode{historytest.PerInterval, historytest.PerRequest} {
		b.Run(mode.String(), func(b *testing.B) {
			s, _ := newStore(b, redisAddr, Config{})
			historytest.BenchmarkSteadyLoad(b, s, mode)
		})
	}
}
