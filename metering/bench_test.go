package metering

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/scatter"
)

// benchKeys are the key IDs the recording benchmarks use.
var benchKeys = func() []string {
	k := make([]string, 1024)
	for i := range k {
		k[i] = fmt.Sprintf("AKID%032d", i)
	}
	return k
}()

var benchNow = time.Date(2026, 12, 5, 7, 30, 0, 0, time.UTC)

// atomicRecorder is the design the Recorder was measured against: one
// entry per (plan, key) in a sync.Map, its counts atomics. It keeps one
// hour only (no rollover, no day), so it is a lower bound of that
// design's cost.
type atomicRecorder struct{ m sync.Map }

// pairKey is the baselines' map key.
type pairKey struct{ plan, key string }

type atomicPair struct {
	hour   atomic.Int64
	counts [5]atomic.Int64
}

func (a *atomicRecorder) record(now time.Time, plan, key string, c Counts) {
	k := pairKey{plan, key}
	v, ok := a.m.Load(k)
	if !ok {
		v, _ = a.m.LoadOrStore(k, &atomicPair{})
	}
	p := v.(*atomicPair)
	p.hour.Store(now.Unix() / 3600)
	for i, n := range [5]int64{c.Requests, c.Units, c.Overage, c.RefusedRate, c.RefusedQuota} {
		if n != 0 {
			p.counts[i].Add(n)
		}
	}
}

// BenchmarkRecord is the cost of recording one admitted request: the
// Recorder (256 shards, a mutex each) and the sync.Map-of-atomics design
// beside it; serial, and in parallel on one key and on 1024 keys.
func BenchmarkRecord(b *testing.B) {
	c := Counts{Requests: 1, Units: 1}
	designs := []struct {
		name   string
		record func() func(now time.Time, plan, key string, c Counts)
	}{
		{"recorder", func() func(time.Time, string, string, Counts) {
			r, _ := NewRecorder(&MemoryHistory{}, Config{})
			return func(now time.Time, plan, key string, c Counts) { r.RecordAt(now, plan, key, nil, c) }
		}},
		{"syncmap-atomics", func() func(time.Time, string, string, Counts) {
			a := &atomicRecorder{}
			return a.record
		}},
	}
	for _, d := range designs {
		b.Run(d.name+"/serial", func(b *testing.B) {
			rec := d.record()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rec(benchNow, "usagePlan-bench001", benchKeys[i&1023], c)
			}
		})
		b.Run(d.name+"/parallel-one-key", func(b *testing.B) {
			rec := d.record()
			b.ReportAllocs()
			scatter.Run(b, 1, func(_, count int) {
				for range count {
					rec(benchNow, "usagePlan-bench001", benchKeys[0], c)
				}
			})
		})
		b.Run(d.name+"/parallel-1024-keys", func(b *testing.B) {
			rec := d.record()
			b.ReportAllocs()
			scatter.Parallel(b, 1, 1024, func(i int) error {
				rec(benchNow, "usagePlan-bench001", benchKeys[i], c)
				return nil
			})
		})
	}
}

// BenchmarkRecorderHeap reports the heap the Recorder holds per active
// (plan, key) once 1M keys have recorded in one interval (key strings
// excluded: a server's come from its registry), beside a baseline
// measured the same way: one Go map from (plan, key) to its hour and day
// counts, the least any per-key aggregation in memory holds.
func BenchmarkRecorderHeap(b *testing.B) {
	const n = 1_000_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("AKID%032d", i)
	}
	c := Counts{Requests: 1, Units: 1}
	heap := func(b *testing.B, fill func() any) {
		for b.Loop() {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			held := fill()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/pair")
			runtime.KeepAlive(held)
		}
	}
	b.Run("recorder", func(b *testing.B) {
		heap(b, func() any {
			r, _ := NewRecorder(&MemoryHistory{}, Config{})
			for _, k := range keys {
				r.RecordAt(benchNow, "usagePlan-bench001", k, nil, c)
			}
			return r
		})
	})
	b.Run("map-baseline", func(b *testing.B) {
		heap(b, func() any {
			m := map[pairKey]*[2]Counts{}
			for _, k := range keys {
				p := m[pairKey{"usagePlan-bench001", k}]
				if p == nil {
					p = &[2]Counts{}
					m[pairKey{"usagePlan-bench001", k}] = p
				}
				p[0].Add(c)
				p[1].Add(c)
			}
			return m
		})
	})
}

// BenchmarkFlush is the cost of one flush of 100 active keys (200 rows)
// to a MemoryHistory: what a Recorder does every interval.
func BenchmarkFlush(b *testing.B) {
	ctx := context.Background()
	r, _ := NewRecorder(&MemoryHistory{}, Config{Now: func() time.Time { return benchNow }})
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range benchKeys[:100] {
			r.RecordAt(benchNow, "usagePlan-bench001", k, nil, Counts{Requests: 1, Units: 1})
		}
		if err := r.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
