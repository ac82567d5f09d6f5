package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/planguard/planguard/usageplan"
	"github.com/planguard/planguard/usageplan/journaltest"
)

func BenchmarkJournal(b *testing.B) {
	journaltest.Benchmark(b, func(b *testing.B) usageplan.Journal {
		return journalClients(b, redisAddr, journalName(), 1)[0]
	})
}

// BenchmarkJournalPropagation measures how long a change appended by one
// client takes to be read by another that follows the journal (Wait, then
// Read), as a registry instance does: each b.N is one change, appended
// once the previous one was read. Run it with -benchtime=100x for the
// p50/p99 over 100 changes.
func BenchmarkJournalPropagation(b *testing.B) {
	js := journalClients(b, redisAddr, journalName(), 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	read := make(chan time.Time)
	go func() {
		for after := uint64(0); ; {
			if err := js[1].Wait(ctx, after); err != nil {
				return
			}
			es, err := js[1].Read(ctx, after, 100)
			if err != nil {
				return
			}
			if len(es) > 0 {
				after = es[len(es)-1].Revision
				read <- time.Now()
			}
		}
	}()
	var lat []time.Duration
	rev := uint64(0)
	for b.Loop() {
		rev++
		start := time.Now()
		if err := js[0].Append(ctx, rev, []byte("disable AKIDbench")); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-read).Sub(start))
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
