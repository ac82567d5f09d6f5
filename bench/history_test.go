package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/redisstore"
	"github.com/planguard/planguard/usageplan"
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

func (c *countingHistory) AddHistory(ctx context.Context, b metering.Batch) error {
	c.writes.Add(1)
	c.rows.Add(int64(len(b.Rows)))
	return c.HistoryStore.AddHistory(ctx, b)
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
				rec.Start()
				scatter.Run(b, 1, func(g, count int) {
					next := scatter.NewKeys(g, len(keys))
					writer, batch := metering.NewWriterID(), uint64(0) // a writer per goroutine: its batches in order
					for range count {
						key := keys[next.Next()]
						if mode == "recorder" {
							rec.Record(plan, key, nil, c)
							continue
						}
						now := time.Now()
						day := now.UTC().Truncate(24 * time.Hour)
						batch++
						if err := store.AddHistory(context.Background(), metering.Batch{Writer: writer, Seq: batch, Rows: []metering.Row{
							{Plan: plan, Key: key, Granularity: metering.Hour, Start: now.Truncate(time.Hour), Counts: c},
							{Plan: plan, Key: key, Granularity: metering.Day, Start: day, Counts: c},
						}}); err != nil {
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

// meteredHandler is planguardHandler's middleware (n keys on one plan,
// a signed request each) with cfg, on a fresh limiter.
func meteredHandler(b *testing.B, n int, cfg middleware.Config) (http.Handler, []*http.Request) {
	var js strings.Builder
	js.WriteString(`{"services": [{"id": "service-bench001", "name": "bench", "environments": ["release"],
	  "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}], "keys": [`)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Quote(keyNames[i])
		fmt.Fprintf(&js, `%s{"id": %s, "name": "k", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}`, map[bool]string{true: ",", false: ""}[i > 0], ids[i])
	}
	js.WriteString(`], "plans": [{"id": "usagePlan-bench001", "name": "bench", "qps": 2000, "quota": 99999999, "keys": [` + strings.Join(ids, ",") +
		`], "bindings": [{"service": "service-bench001", "environment": "release"}]}]}`)
	reg, err := usageplan.LoadConfig(strings.NewReader(js.String()), usageplan.RegistryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	mw, err := middleware.New(reg, lim, cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", "/release/orders/42", nil)
		s := &keys.Signer{ID: keyNames[i], Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"), Source: "bench"}
		if err := s.SignAt(reqs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	return mw.Wrap(http.HandlerFunc(ok)), reqs
}

// BenchmarkHistoryAB is the signed request with the usage history off
// and on, paired: one goroutine sends batches of 500 requests (1,000
// keys, one plan), alternating between the middleware without a Meter
// and the same middleware with a Recorder (on a MemoryHistory, flushed
// by its goroutine at the default interval), and times each batch. On a
// machine shared with other work the noise comes in bursts that hit
// both sides alike, so the medians of the batches are compared: it
// reports off-ns/req, on-ns/req and on-vs-off-% (the difference of the
// medians, in percent of off). ns/op is the mean of both sides. The
// control off-vs-off does the same with no Meter on either side.
func BenchmarkHistoryAB(b *testing.B) {
	// off-vs-off is the control: both sides without a Meter, so that
	// what the method itself shows (caches, the order of the batches) is
	// measured beside the difference.
	for _, meter := range []bool{true, false} {
		name := map[bool]string{true: "off-vs-on", false: "off-vs-off"}[meter]
		b.Run(name, func(b *testing.B) { historyAB(b, meter) })
	}
}

func historyAB(b *testing.B, meter bool) {
	const n, batch = 1000, 500
	off, offReqs := meteredHandler(b, n, middleware.Config{})
	rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{})
	if err != nil {
		b.Fatal(err)
	}
	rec.Start()
	defer rec.Close(context.Background())
	var cfg middleware.Config
	if meter {
		cfg.Meter = rec
	}
	on, onReqs := meteredHandler(b, n, cfg)
	sides := [2]struct {
		h    http.Handler
		reqs []*http.Request
		ns   []float64
	}{{h: off, reqs: offReqs}, {h: on, reqs: onReqs}}
	w := scatter.NewDiscard()
	b.ReportAllocs()
	i := 0
	for done := 0; done < b.N; {
		s := &sides[(done/batch)%2]
		m := min(batch, b.N-done)
		start := time.Now()
		for range m {
			w.Reset()
			s.h.ServeHTTP(w, s.reqs[i%n])
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
			i += 7
		}
		s.ns = append(s.ns, float64(time.Since(start).Nanoseconds())/float64(m))
		done += m
	}
	if len(sides[1].ns) == 0 {
		return
	}
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	mOff, mOn := median(sides[0].ns), median(sides[1].ns)
	b.ReportMetric(mOff, "off-ns/req")
	b.ReportMetric(mOn, "on-ns/req")
	b.ReportMetric((mOn/mOff-1)*100, "on-vs-off-%")
}
