package redisstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/metering"
)

// lostReply drops the replies of the next write of the history (a
// command, pipeline or transaction that runs a script) once Redis has
// applied it: the caller sees a read timeout, as when the network fails
// between the server's reply and the client.
type lostReply struct{ armed, dropped atomic.Bool }

func runsScript(cmds ...redis.Cmder) bool {
	for _, cmd := range cmds {
		if n := cmd.Name(); n == "eval" || n == "evalsha" {
			return true
		}
	}
	return false
}

var errLostReply = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

func (*lostReply) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *lostReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && runsScript(cmd) && l.armed.CompareAndSwap(true, false) {
			l.dropped.Store(true)
			cmd.SetErr(errLostReply)
			return errLostReply
		}
		return err
	}
}

func (l *lostReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil && runsScript(cmds...) && l.armed.CompareAndSwap(true, false) {
			l.dropped.Store(true)
			for _, cmd := range cmds {
				cmd.SetErr(errLostReply)
			}
			return errLostReply
		}
		return err
	}
}

// onceHistory returns the stored hour rows of keys, by key.
func onceHistory(t *testing.T, s *Store, plan string, keys ...string) map[string]metering.Counts {
	t.Helper()
	rows, err := s.History(ctx, metering.Query{Plan: plan, Keys: keys, Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]metering.Counts{}
	for _, r := range rows {
		got[r.Key] = r.Counts
	}
	return got
}

// onceStores runs test on a store on a single server and on one on a
// Cluster (where a part is applied per (plan, key), so that the records
// per (plan, key) are what keeps a retry from counting twice).
func onceStores(t *testing.T, test func(t *testing.T, s *Store, c redis.UniversalClient)) {
	t.Run("Single", func(t *testing.T) {
		s, c := newStore(t, redisAddr, Config{})
		test(t, s, c)
	})
	t.Run("Cluster", func(t *testing.T) {
		cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{oneNodeCluster(t)}, MaxRetries: -1})
		t.Cleanup(func() { cluster.Close() })
		s, err := New(cluster, Config{Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		test(t, s, cluster)
	})
}

// A flush whose reply is lost after Redis applied it is written again by
// the Recorder's next flush; Redis counts it once.
func TestHistoryLostReplyCountsOnce(t *testing.T) {
	onceStores(t, func(t *testing.T, s *Store, c redis.UniversalClient) {
		lost := &lostReply{}
		c.AddHook(lost)
		now := h0.Add(time.Minute)
		rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		const plan = "usagePlan-lost"
		keys := []string{"AKIDa", "AKIDb", "AKIDc"}
		for i, k := range keys {
			rec.Record(plan, k, nil, metering.Counts{Requests: int64(i + 1), Units: 10})
		}
		lost.armed.Store(true)
		if err := rec.Flush(ctx); err == nil || !lost.dropped.Load() {
			t.Fatalf("flush whose reply is lost: %v (reply dropped: %v), want an error", err, lost.dropped.Load())
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatalf("the retry: %v", err)
		}
		got := onceHistory(t, s, plan, keys...)
		for i, k := range keys {
			if want := (metering.Counts{Requests: int64(i + 1), Units: 10}); got[k] != want {
				t.Errorf("%s: stored %+v, want %+v (recorded once)", k, got[k], want)
			}
		}
	})
}

// A flush one of whose rows Redis refuses (its hash holds another type)
// is retried once the key is repaired, and every row is counted once,
// those before and those after the refused one. On a single server the
// refused row fails its whole part (the script checks before it
// writes); on a Cluster the other keys' scripts were applied, and their
// records make the retry skip them.
func TestHistoryRefusedRowRetryCountsOnce(t *testing.T) {
	onceStores(t, func(t *testing.T, s *Store, c redis.UniversalClient) {
		now := h0.Add(time.Minute)
		rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		const plan = "usagePlan-refused"
		bad := s.historyKey(plan, "AKIDbad", metering.Hour)
		if err := c.Set(ctx, bad, "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for i := range 20 {
			keys = append(keys, fmt.Sprintf("AKID%02d", i))
		}
		for _, k := range append(keys, "AKIDbad") {
			rec.Record(plan, k, nil, metering.Counts{Requests: 1, Units: 3})
		}
		if err := rec.Flush(ctx); err == nil {
			t.Fatal("flush over a hash of another type: no error")
		}
		if err := c.Del(ctx, bad).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatalf("the retry: %v", err)
		}
		got := onceHistory(t, s, plan, append(keys, "AKIDbad")...)
		for _, k := range append(keys, "AKIDbad") {
			if want := (metering.Counts{Requests: 1, Units: 3}); got[k] != want {
				t.Errorf("%s: stored %+v, want %+v (recorded once)", k, got[k], want)
			}
		}
	})
}

// recordKeys returns the writer's records in Redis and their values.
func recordKeys(t *testing.T, c redis.UniversalClient, writer string) map[string]string {
	t.Helper()
	got := map[string]string{}
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, "*:h:w:"+writer, 1000).Iterator()
		for iter.Next(ctx) {
			v, err := c.Get(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			got[iter.Val()] = v
		}
		return iter.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.Client:
		err = scan(ctx, c)
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	}
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A single server keeps one record per writer: "<seq>:<part>" of the
// last part applied, living metering.BatchWindow from the writer's last
// write, whatever the number of its batches and parts.
func TestHistoryOneRecordPerWriter(t *testing.T) {
	defer func(n int) { historyWriteBatch = n }(historyWriteBatch)
	historyWriteBatch = 2
	s, c := newStore(t, redisAddr, Config{})
	b := batch()
	for k := range 5 {
		b.Rows = append(b.Rows, metering.Row{Plan: "usagePlan-ttl", Key: fmt.Sprintf("AKID%d", k), Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Requests: 1}})
	}
	for seq := range uint64(3) {
		b.Seq = seq + 1
		if err := s.AddHistory(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	record := s.prefix + "h:w:" + b.Writer
	if got := recordKeys(t, c, b.Writer); len(got) != 1 || got[record] != "3:2" {
		t.Fatalf("records %v, want %s = 3:2 only (batch 3, part 2 of 0..2)", got, record)
	}
	ttl, err := c.PTTL(ctx, record).Result()
	if err != nil || ttl <= metering.BatchWindow-time.Minute || ttl > metering.BatchWindow {
		t.Fatalf("the writer record's TTL: %v, %v; want about %v", ttl, err, metering.BatchWindow)
	}
	// A replay adds nothing and renews the record, its value unchanged:
	// a writer retrying keeps its record while it retries (a batch whose
	// later part keeps failing is retried after its first parts applied).
	if err := c.PExpire(ctx, record, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	b.Seq = 2
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := onceHistory(t, s, "usagePlan-ttl", "AKID0"); got["AKID0"].Requests != 3 {
		t.Fatalf("AKID0 after a replay of batch 2: %+v, want 3 requests", got["AKID0"])
	}
	if ttl := c.PTTL(ctx, record).Val(); ttl <= metering.BatchWindow-time.Minute || c.Get(ctx, record).Val() != "3:2" {
		t.Fatalf("after a replay of batch 2: record %q, TTL %v; want 3:2 and about %v", c.Get(ctx, record).Val(), ttl, metering.BatchWindow)
	}
	// The next batch renews it.
	b.Seq = 4
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, record).Val(); ttl <= metering.BatchWindow-time.Minute || c.Get(ctx, record).Val() != "4:2" {
		t.Fatalf("after batch 4: record %q, TTL %v; want 4:2 and about %v", c.Get(ctx, record).Val(), ttl, metering.BatchWindow)
	}
}

// On a Cluster, a writer keeps one record per (plan, key) it wrote, in
// that key's slot, whatever the number of its batches.
func TestHistoryOneRecordPerWriterAndKeyOnCluster(t *testing.T) {
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{oneNodeCluster(t)}, MaxRetries: -1})
	t.Cleanup(func() { cluster.Close() })
	s, err := New(cluster, Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := h0.Add(time.Minute)
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const keys, flushes = 20, 10
	for range flushes {
		for k := range keys {
			rec.Record("usagePlan-c", fmt.Sprintf("AKID%02d", k), nil, metering.Counts{Requests: 1})
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The Recorder's writer ID is its batches' (and the records' suffix).
	var writer string
	if err := cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, "*:h:w:*", 10).Iterator()
		if iter.Next(ctx) {
			_, writer, _ = strings.Cut(iter.Val(), ":h:w:")
		}
		return iter.Err()
	}); err != nil {
		t.Fatal(err)
	}
	got := recordKeys(t, cluster, writer)
	if len(got) != keys {
		t.Fatalf("%d records of writer %q, want %d (one per key): %v", len(got), writer, keys, got)
	}
	for k := range keys {
		record := s.tag("usagePlan-c", fmt.Sprintf("AKID%02d", k)) + ":h:w:" + writer
		if got[record] != strconv.Itoa(flushes)+":0" {
			t.Fatalf("%s = %q, want %d:0", record, got[record], flushes)
		}
	}
}
