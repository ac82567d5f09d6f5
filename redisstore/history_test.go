package redisstore

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

func TestHistoryConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) metering.HistoryStore { s, _ := newStore(t, redisAddr, Config{}); return s })
}

var h0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// batch is rows as the first batch of a new writer.
func batch(rows ...metering.Row) metering.Batch {
	return metering.Batch{Writer: metering.NewWriterID(), Seq: 1, Rows: rows}
}

// With a Recorder flushing once a simulated day over 500 days, Redis
// holds no more history than the retention allows: the hashes' fields,
// the plan's indexes and the set of plans.
func TestHistoryRetentionBounded(t *testing.T) {
	s, rdb := newStore(t, redisAddr, Config{})
	now := h0
	keep := metering.Retention{Hour: 48 * time.Hour, Day: 30 * 24 * time.Hour}
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }, Retention: keep})
	if err != nil {
		t.Fatal(err)
	}
	const keys = 10
	fields := func() int64 {
		var n int64
		for k := range keys {
			for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
				n += rdb.HLen(ctx, s.historyKey("usagePlan-r", fmt.Sprintf("AKID%d", k), g)).Val()
			}
		}
		return n
	}
	bound := int64(keys * (48 + 1 + 30 + 1) * 2) // two counts per row: requests and units
	for h := range 500 * 24 {
		now = h0.Add(time.Duration(h)*time.Hour + time.Minute)
		for k := range keys {
			rec.Record("usagePlan-r", fmt.Sprintf("AKID%d", k), nil, metering.Counts{Requests: 1, Units: 1})
		}
		if h%24 != 23 {
			continue
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if h%(50*24) == 23 {
			if n := fields(); n > bound {
				t.Fatalf("hour %d: %d fields, retention bounds them at %d", h, n, bound)
			}
		}
	}
	rows, err := s.History(ctx, metering.Query{Plan: "usagePlan-r", Granularity: metering.Hour, From: h0, To: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0].Start.Before(now.Add(-keep.Hour)) {
		t.Fatalf("hourly rows after 500 days: %d from %v", len(rows), rows[0].Start)
	}
	// Once the plan has no rows left, its indexes and its entry go too.
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if err := s.PruneHistory(ctx, g, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n := fields(); n != 0 {
		t.Fatalf("%d fields after pruning everything", n)
	}
	for _, k := range []string{s.historyIndex("usagePlan-r", metering.Hour), s.historyIndex("usagePlan-r", metering.Day), s.historyPlans()} {
		if n := rdb.Exists(ctx, k).Val(); n != 0 {
			t.Fatalf("%s is left after pruning everything", k)
		}
	}
}

// Pruning keeps the index right: a key with rows left gets its oldest
// start as its score, a key with none leaves it, a key written again
// after that comes back.
func TestHistoryPruneIndex(t *testing.T) {
	s, rdb := newStore(t, redisAddr, Config{})
	row := func(key string, h int) metering.Row {
		return metering.Row{Plan: "usagePlan-a", Key: key, Granularity: metering.Hour, Start: h0.Add(time.Duration(h) * time.Hour), Counts: metering.Counts{Requests: 1}}
	}
	if err := s.AddHistory(ctx, batch(row("AKIDa", 0), row("AKIDa", 5), row("AKIDb", 1))); err != nil {
		t.Fatal(err)
	}
	index := s.historyIndex("usagePlan-a", metering.Hour)
	if err := s.PruneHistory(ctx, metering.Hour, h0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := rdb.ZRangeWithScores(ctx, index, 0, -1).Val()
	if len(got) != 1 || got[0].Member != "AKIDa" || int64(got[0].Score) != h0.Add(5*time.Hour).Unix() {
		t.Fatalf("index after the prune: %+v", got)
	}
	if err := s.AddHistory(ctx, batch(row("AKIDb", 6))); err != nil {
		t.Fatal(err)
	}
	rows, err := s.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0, To: h0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Key != "AKIDa" || rows[1].Key != "AKIDb" || rows[1].Start != h0.Add(6*time.Hour) {
		t.Fatalf("rows: %+v", rows)
	}
}

func TestHistoryClosedStore(t *testing.T) {
	s, _ := newStore(t, redisAddr, Config{})
	s.Close()
	row := metering.Row{Plan: "p", Key: "k", Granularity: metering.Hour, Start: h0}
	if err := s.AddHistory(ctx, batch(row)); !errors.Is(err, limiter.ErrStoreClosed) {
		t.Fatalf("AddHistory after Close: %v", err)
	}
	if _, err := s.History(ctx, metering.Query{Plan: "p", Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)}); !errors.Is(err, limiter.ErrStoreClosed) {
		t.Fatalf("History after Close: %v", err)
	}
	if err := s.PruneHistory(ctx, metering.Hour, h0); !errors.Is(err, limiter.ErrStoreClosed) {
		t.Fatalf("PruneHistory after Close: %v", err)
	}
}

// The history works on a Ring of two servers and on a Cluster, where a
// flush is a pipeline whose keys span servers and slots.
func TestHistoryConformanceOnRingAndCluster(t *testing.T) {
	t.Run("Ring", func(t *testing.T) {
		a, b := ownRedis(t, noPersistence...), ownRedis(t, noPersistence...)
		ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.addr, "b": b.addr}, MaxRetries: -1,
			HeartbeatFrequency: 10 * time.Millisecond})
		t.Cleanup(func() { ring.Close() })
		historytest.Run(t, func(t *testing.T) metering.HistoryStore {
			s, err := New(ring, Config{Prefix: fmt.Sprintf("ring%d:", prefixes.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("Cluster", func(t *testing.T) {
		cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{oneNodeCluster(t)}, MaxRetries: -1})
		t.Cleanup(func() { cluster.Close() })
		historytest.Run(t, func(t *testing.T) metering.HistoryStore {
			s, err := New(cluster, Config{Prefix: fmt.Sprintf("cluster%d:", prefixes.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

// A flush larger than one write goes in several parts; when one fails,
// the rows before it are reported written, and only they: a part is
// applied whole or not at all. The batch written again once the damage
// is repaired adds the rest, once.
func TestHistoryPartialWrite(t *testing.T) {
	defer func(n int) { historyWriteBatch = n }(historyWriteBatch)
	historyWriteBatch = 2
	s, rdb := newStore(t, redisAddr, Config{})
	var rows []metering.Row
	var keys []string
	for i := range 5 {
		keys = append(keys, fmt.Sprintf("AKID%d", i))
		rows = append(rows, metering.Row{Plan: "usagePlan-a", Key: keys[i], Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Requests: 1}})
	}
	if err := s.AddHistory(ctx, batch(rows...)); err != nil {
		t.Fatal(err)
	}
	requests := func() string {
		t.Helper()
		got := onceHistory(t, s, "usagePlan-a", keys...)
		var n []int64
		for _, k := range keys {
			n = append(n, got[k].Requests)
		}
		return fmt.Sprint(n)
	}
	// The fourth row's field is not an integer now: the second part
	// fails, the third row (before it in its part) added neither.
	bad := s.historyKey("usagePlan-a", "AKID3", metering.Hour)
	rdb.HSet(ctx, bad, strconv.FormatInt(h0.Unix(), 10)+"/0", "x")
	b := batch(rows...)
	err := s.AddHistory(ctx, b)
	if pw := (*metering.PartialWriteError)(nil); !errors.As(err, &pw) || pw.Written != 2 {
		t.Fatalf("AddHistory with a broken second part: %v, want 2 rows written", err)
	}
	rdb.HSet(ctx, bad, strconv.FormatInt(h0.Unix(), 10)+"/0", "1")
	if got := requests(); got != "[2 2 1 1 1]" {
		t.Fatalf("requests %s: want the first two written twice, the others once", got)
	}
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if got := requests(); got != "[2 2 2 2 2]" {
		t.Fatalf("requests after the retry %s: want each row of both batches once", got)
	}
}

// A Recorder's flush of 100 busy keys is one round trip to Redis.
func TestHistoryFlushIsOneRoundTrip(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	counter := &commandCounter{}
	c.AddHook(counter)
	now := h0
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// The first flush also prunes; the ones after it in the same hour
	// only write.
	rec.Record("usagePlan-a", "AKIDwarm", nil, metering.Counts{Requests: 1})
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 10_000 {
			rec.Record("usagePlan-a", fmt.Sprintf("AKID%03d", i%100), nil, metering.Counts{Requests: 1, Units: 1})
		}
		before := counter.n.Load()
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := counter.n.Load() - before; got != 1 {
			t.Fatalf("flush %d: %d round trips, want 1", round, got)
		}
	}
}

// Three instances sharing one Redis, each with its own Recorder flushing
// while its goroutines record: the stored history is the sum of all
// three, exactly.
func TestHistoryExactAcrossThreeInstances(t *testing.T) {
	prefix := fmt.Sprintf("three%d-%d:", os.Getpid(), prefixes.Add(1))
	now := h0.Add(30 * time.Minute)
	var recs []*metering.Recorder
	var stores []*Store
	for range 3 {
		s, _ := newStore(t, redisAddr, Config{Prefix: prefix})
		rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		recs, stores = append(recs, rec), append(stores, s)
	}
	const goroutines, events, keys = 100, 200, 7
	var wg sync.WaitGroup
	flushErr := make(chan error, 3)
	stop := make(chan struct{})
	for _, rec := range recs {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := rec.Flush(ctx); err != nil {
					flushErr <- err
					return
				}
			}
		})
	}
	var rwg sync.WaitGroup
	for g := range goroutines * 3 {
		rec := recs[g%3]
		rwg.Go(func() {
			for i := range events {
				rec.Record("usagePlan-three", fmt.Sprintf("AKID%d", (g+i)%keys), nil, metering.Counts{Requests: 1, Units: int64(1 + i%3)})
			}
		})
	}
	rwg.Wait()
	close(stop)
	wg.Wait()
	close(flushErr)
	for err := range flushErr {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := rec.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := metering.Counts{Requests: goroutines * 3 * events}
	for i := range events {
		want.Units += int64(goroutines * 3 * (1 + i%3))
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		rows, err := stores[0].History(ctx, metering.Query{Plan: "usagePlan-three", Granularity: g, From: h0.Add(-24 * time.Hour), To: h0.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var got metering.Counts
		for _, r := range rows {
			got.Add(r.Counts)
		}
		if len(rows) != keys || got != want {
			t.Fatalf("%s: %d rows summing to %+v, want %d rows and %+v", g, len(rows), got, keys, want)
		}
	}
}

// A history hash holding a field that is not "<start>/<i>" is damage:
// PruneHistory fails naming it and deletes nothing (it deleted the
// field, and the rows due, without a word), as a query of the hash
// fails.
func TestPruneRefusesMalformedFields(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	row := metering.Row{Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Requests: 1}}
	if err := s.AddHistory(ctx, batch(row)); err != nil {
		t.Fatal(err)
	}
	key := s.historyKey(row.Plan, row.Key, metering.Hour)
	fields := c.HLen(ctx, key).Val()
	for _, bad := range []string{"garbage", "1772323200/5", "1772323200/0x"} {
		if err := c.HSet(ctx, key, bad, "7").Err(); err != nil {
			t.Fatal(err)
		}
		err := s.PruneHistory(ctx, metering.Hour, h0.Add(time.Hour))
		if err == nil || !strings.Contains(err.Error(), "malformed history field") || !strings.Contains(err.Error(), bad) {
			t.Fatalf("PruneHistory with field %q: %v", bad, err)
		}
		if n, _ := c.HLen(ctx, key).Result(); n != fields+1 {
			t.Fatalf("PruneHistory with field %q left %d fields, want all %d", bad, n, fields+1)
		}
		c.HDel(ctx, key, bad)
	}
	if err := s.PruneHistory(ctx, metering.Hour, h0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, key).Result(); n != 0 {
		t.Fatal("the hash outlived the prune of its only row")
	}
}
