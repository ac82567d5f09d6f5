package scale

import (
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkMapBuildFloor is the floor under BenchmarkLoadConfig's
// per-key scaling: the least any registry does per key, one heap record
// of the registry's size inserted in a Go map under the same key IDs,
// measured like BenchmarkLoadConfig (a GC before each round). Compare
// its ns/key at 1M against 10k with LoadConfig's ratio.
func BenchmarkMapBuildFloor(b *testing.B) {
	type record struct {
		id, secret string
		plans      []string
		_          [256]byte // about the registry's heap per key
	}
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = KeyID(i)
		}
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			var m map[string]*record
			for b.Loop() {
				m = nil
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				m = make(map[string]*record)
				for _, id := range ids {
					m[id] = &record{id: id, secret: id}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
			runtime.KeepAlive(m)
		})
	}
}
