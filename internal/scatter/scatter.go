// Package scatter is the benchmarks' way of spreading parallel work over
// many keys, shared by the store modules and the comparison benchmarks.
// It is not API.
package scatter

import (
	"sync/atomic"
	"testing"
)

// Parallel calls fn from b.RunParallel's goroutines with indexes into n
// keys. Each goroutine walks its own scattered sequence (strides of
// primes), so that the goroutines do not move in step over the same keys
// and consecutive decisions of one goroutine touch unrelated entries, as
// a server's requests from many clients do. fn's error stops the
// goroutine and fails the benchmark.
func Parallel(b *testing.B, n int, fn func(i int) error) {
	var seed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1)) * 104729
		for pb.Next() {
			if err := fn(i % n); err != nil {
				b.Error(err)
				return
			}
			i += 7919
		}
	})
}
