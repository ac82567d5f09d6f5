package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/redisstore"
)

// historyInterval is the flush interval of BenchmarkHistorySteadyLoad:
// shorter than the default 10 s so that a few seconds of load see many
// flushes; the writes scale as 1/interval.
const historyInterval = 250 * time.Millisecond

// countingHistory counts the writes and rows that reach the store.
type countingHistory struct {
	metering.HistoryStore
	writes, rows atomic.Int64
}

func (c *countingHistory) AddHistory(ctx context.Context, rows []metering.Row) error {
	c.writes.Add(1)
	c.rows.Add(int64(len(rows)))
	return c.HistoryStore.AddHistory(ctx, rows)
}

// BenchmarkHistorySteadyLoad is a steady load of requests on 100 keys of
// one plan (every goroutine of -cpu sending as fast as it can, one op a
// request), with the usage history written to boltstore or redisstore:
//
//   - recorder: the Recorder sums in memory and its goroutine flushes
//     every historyInterval (and Close once at the end), as
//     examples/server runs it;
//   - per-request: the baseline, each request's hour and day rows
//     written to the store as it comes (a round trip per request).
//
// It reports requests/s, store writes/s and rows/s: with the Recorder
// the writes are bounded by 1/interval and the rows by 2 × 100 keys per
// interval, whatever the requests per second.
func BenchmarkHistorySteadyLoad(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) metering.HistoryStore
	}{
		{"bolt", func(b *testing.B) metering.HistoryStore {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "usage.db"), boltstore.Config{Create: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(b *testing.B) metering.HistoryStore {
			s, err := redisstore.Dial(redis.Options{Addr: redisAddr(b)}, redisstore.Config{Prefix: fmt.Sprintf("bench%d:", time.Now().UnixNano())})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("AKID%032d", i)
	}
	const plan = "usagePlan-bench001"
	c := metering.Counts{Requests: 1, Units: 1}
	for _, st := range stores {
		for _, mode := range []string{"recorder", "per-request"} {
			b.Run(st.name+"/"+mode, func(b *testing.B) {
				store := &countingHistory{HistoryStore: st.open(b)}
				rec, err := metering.NewRecorder(store, metering.Config{FlushInterval: historyInterval})
				if err != nil {
					b.Fatal(err)
				}
				var seq atomic.Int64
				b.ResetTimer()
				rec.Start()
				b.RunParallel(func(pb *testing.PB) {
					i := int(seq.Add(1)) * 37
					for pb.Next() {
						i++
						key := keys[i%len(keys)]
						if mode == "recorder" {
							rec.Record(plan, key, nil, c)
							continue
						}
						now := time.Now()
						day := now.UTC().Truncate(24 * time.Hour)
						if err := store.AddHistory(context.Background(), []metering.Row{
							{Plan: plan, Key: key, Granularity: metering.Hour, Start: now.Truncate(time.Hour), Counts: c},
							{Plan: plan, Key: key, Granularity: metering.Day, Start: day, Counts: c},
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				if err := rec.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.N)/sec, "requests/s")
				b.ReportMetric(float64(store.writes.Load())/sec, "writes/s")
				b.ReportMetric(float64(store.rows.Load())/sec, "rows/s")
			})
		}
	}
}
