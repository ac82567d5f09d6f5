// Package scatter is the benchmarks' way of spreading parallel work over
// many keys and of serving requests in parallel, shared by the core's
// packages, the store and observability modules and the comparison
// benchmarks. It is not API.
package scatter

import (
	"net/http"
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
// caches), so a grain is one to a few iterations, and each grain moves
// the counter's cache line to the core that takes it: a transfer between
// cores every iteration or few, on work of about 100 ns (BENCHMARKS.md,
// "Session 12"). Here each goroutine's share is fixed, without
// balancing: a goroutine whose CPU is taken away sets the wall time.
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

// Serve sends reqs through h on Run's goroutines (p per CPU), each with
// a Discard of its own: every goroutine sends the one request, or, of
// several, draws them at random (Keys). A status other than want fails
// the benchmark.
func Serve(b *testing.B, p int, h http.Handler, want int, reqs ...*http.Request) {
	b.ReportAllocs()
	Run(b, p, func(g, count int) {
		keys := NewKeys(g, len(reqs))
		w := NewDiscard()
		for range count {
			r := reqs[0]
			if len(reqs) > 1 {
				r = reqs[keys.Next()]
			}
			w.Reset()
			h.ServeHTTP(w, r)
			if w.Code != want {
				b.Errorf("status %d, want %d", w.Code, want)
				return
			}
		}
	})
}

// Discard is a ResponseWriter that keeps only the headers and the
// status, so that a benchmark measures the handler and not a recorder.
// The body is dropped.
type Discard struct {
	h    http.Header
	Code int // 0 until WriteHeader or Write
}

// NewDiscard returns an empty Discard.
func NewDiscard() *Discard { return &Discard{h: http.Header{}} }

// Reset empties d for the next request, keeping its header map.
func (d *Discard) Reset() {
	clear(d.h)
	d.Code = 0
}

func (d *Discard) Header() http.Header { return d.h }
func (d *Discard) Write(p []byte) (int, error) {
	if d.Code == 0 {
		d.Code = http.StatusOK // as net/http: a Write before WriteHeader sends 200
	}
	return len(p), nil
}
func (d *Discard) WriteHeader(code int) { d.Code = code }
