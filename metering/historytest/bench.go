package historytest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
)

// Mode is how BenchmarkSteadyLoad writes.
type Mode int

const (
	// PerInterval records in a Recorder and flushes once per op.
	PerInterval Mode = iota
	// PerRequest writes each request's row to the store as it comes.
	PerRequest
)

func (m Mode) String() string {
	if m == PerRequest {
		return "per-request"
	}
	return "per-interval"
}

// countingStore counts the writes that reach the store.
type countingStore struct {
	metering.HistoryStore
	calls, rows atomic.Int64
}

func (c *countingStore) AddHistory(ctx context.Context, b metering.Batch) error {
	c.calls.Add(1)
	c.rows.Add(int64(len(b.Rows)))
	return c.HistoryStore.AddHistory(ctx, b)
}

// BenchmarkSteadyLoad is one interval of a steady load per op: 1,000
// requests spread over 100 keys, written to s as mode says. It reports
// the store writes (calls) and rows per interval; with the Recorder
// they stay at 1 and 200 (100 keys × hour and day) whatever the
// request rate, so at the default 10 s interval a store takes 0.1
// writes per second.
func BenchmarkSteadyLoad(b *testing.B, s metering.HistoryStore, mode Mode) {
	const keys, requests = 100, 1000
	ctx := context.Background()
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("AKID%032d", i)
	}
	store := &countingStore{HistoryStore: s}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	rec, err := metering.NewRecorder(store, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	c := metering.Counts{Requests: 1, Units: 1}
	writer, seq := metering.NewWriterID(), uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		for i := range requests {
			key := names[i%keys]
			if mode == PerRequest {
				rows := []metering.Row{
					{Plan: "usagePlan-bench001", Key: key, Granularity: metering.Hour, Start: now.Truncate(time.Hour), Counts: c},
					{Plan: "usagePlan-bench001", Key: key, Granularity: metering.Day, Start: now.Truncate(24 * time.Hour), Counts: c},
				}
				seq++
				if err := store.AddHistory(ctx, metering.Batch{Writer: writer, Seq: seq, Rows: rows}); err != nil {
					b.Fatal(err)
				}
				continue
			}
			rec.RecordAt(now, "usagePlan-bench001", key, nil, c)
		}
		if err := rec.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(store.calls.Load())/float64(b.N), "writes/interval")
	b.ReportMetric(float64(store.rows.Load())/float64(b.N), "rows/interval")
}
