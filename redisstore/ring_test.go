package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// PlanUsage on a Ring of two redis-servers reports the keys of both.
func TestPlanUsageOnRing(t *testing.T) {
	a, b := ownRedis(t, noPersistence...), ownRedis(t, noPersistence...)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.addr, "b": b.addr}, MaxRetries: -1,
		HeartbeatFrequency: 10 * time.Millisecond})
	t.Cleanup(func() { ring.Close() })
	s, err := New(ring, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const keys = 40
	for i := range keys {
		c := limiter.Counter{Plan: "usagePlan-ring0001", Key: fmt.Sprintf("AKID%02d", i)}
		if g, _, err := s.Reserve(ctx, c, int64(i+1), 1000); err != nil || g != int64(i+1) {
			t.Fatalf("Reserve %d: %d, %v", i, g, err)
		}
	}
	for _, srv := range []*redisServer{a, b} {
		c := redis.NewClient(&redis.Options{Addr: srv.addr})
		n, err := c.DBSize(ctx).Result()
		c.Close()
		if err != nil || n < 2 {
			t.Fatalf("shard %s holds %d keys (%v): the test needs counters on both", srv.addr, n, err)
		}
	}
	got, err := s.PlanUsage(ctx, "usagePlan-ring0001", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != keys {
		t.Fatalf("PlanUsage reported %d of %d keys", len(got), keys)
	}
	for i := range keys {
		if k := fmt.Sprintf("AKID%02d", i); got[k] != int64(i+1) {
			t.Fatalf("PlanUsage[%s] = %d, want %d", k, got[k], i+1)
		}
	}
}

// A Ring skips a shard that is down; PlanUsage reports it instead of
// returning a partial count.
func TestPlanUsageOnRingWithShardDown(t *testing.T) {
	a, b := ownRedis(t, noPersistence...), ownRedis(t, noPersistence...)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.addr, "b": b.addr}, MaxRetries: -1,
		HeartbeatFrequency: 10 * time.Millisecond})
	t.Cleanup(func() { ring.Close() })
	s, err := New(ring, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.PlanUsage(ctx, "p", 0); err != nil {
		t.Fatal(err)
	}
	b.stop()
	for range 200 { // until the Ring's heartbeat marks b down
		if shardsUp(ring) == 1 {
			break
		}
		waitABit()
	}
	if shardsUp(ring) != 1 {
		t.Fatal("the Ring did not mark the stopped shard down")
	}
	if _, err := s.PlanUsage(ctx, "p", 0); err == nil || !strings.Contains(err.Error(), "1 of the Ring's 2 shards are down") {
		t.Fatalf("PlanUsage with a shard down: %v", err)
	}
}

// shardsUp counts the shards r's ForEachShard visits.
func shardsUp(r *redis.Ring) int {
	var n atomic.Int64
	r.ForEachShard(context.Background(), func(context.Context, *redis.Client) error { n.Add(1); return nil })
	return int(n.Load())
}
