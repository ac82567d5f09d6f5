// Package scatter is the benchmarks' way of spreading parallel work over
// many keys, shared by the store modules and the comparison benchmarks.
// It is not API.
package scatter

import (
	"runtime"
	"sync"
	"testing"
)

// Run runs b.N iterations on GOMAXPROCS×p goroutines (p as in
// b.SetParallelism), each calling work(g, count) once, g its index and
// count its share of b.N, and restarts b's timer before they start: b
// reports the wall time per iteration, as under b.RunParallel.
//
// Not b.RunParallel: its goroutines take iterations from one shared
// counter, in grains sized by the previous run to about 100µs of work.
// Under -benchtime Nx the previous run is the single first iteration,
// tens to hundreds of microseconds (starting the goroutines, cold
// caches), so a grain is one to a few iterations, and every few
// iterations every core writes the counter's cache line: for work of
// about 100 ns, as much again (BENCHMARKS.md, "Session 12"). Here each
// goroutine's share is fixed, without balancing: a goroutine whose CPU
// is taken away sets the wall time.
func Run(b *testing.B, p int, work func(g, count int)) {
	n := runtime.GOMAXPROCS(0) * max(p, 1)
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range n {
		count := b.N / n
		if g < b.N%n {
			count++
		}
		wg.Go(func() { work(g, count) })
	}
	wg.Wait()
}

// Parallel is Run calling fn with indexes into n keys, each goroutine
// drawing them at random from a stream of its own (Keys), as a server's
// requests come: which goroutine serves a request says nothing of its
// key. fn's error stops its goroutine and fails the benchmark.
func Parallel(b *testing.B, p, n int, fn func(i int) error) {
	Run(b, p, func(g, count int) {
		keys := NewKeys(g, n)
		for range count {
			if err := fn(keys.Next()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Keys is one goroutine's stream of key indexes in [0, n): xorshift64,
// scaled by a multiply (Lemire's), a few nanoseconds an index.
type Keys struct{ x, n uint64 }

// NewKeys returns goroutine g's stream over n keys (n < 2³²).
func NewKeys(g, n int) Keys {
	return Keys{x: uint64(g+1) * 0x9e3779b97f4a7c15, n: uint64(n)} // odd constant: never 0
}

// Next returns the stream's next index.
func (k *Keys) Next() int {
	k.x ^= k.x << 13
	k.x ^= k.x >> 7
	k.x ^= k.x << 17
	return int((k.x >> 32) * k.n >> 32)
}
