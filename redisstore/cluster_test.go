package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// oneNodeCluster starts a redis-server in cluster mode that owns every
// slot, and returns its address once the cluster is up.
func oneNodeCluster(t *testing.T) string {
	t.Helper()
	srv := ownRedis(t, "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf")
	c := redis.NewClient(&redis.Options{Addr: srv.addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, numSlots-1).Err(); err != nil {
		t.Fatal(err)
	}
	for range 200 { // until the node reports the cluster up
		if info, err := c.ClusterInfo(ctx).Result(); err == nil && strings.Contains(info, "cluster_state:ok") {
			return srv.addr
		}
		waitABit()
	}
	t.Fatal("the cluster did not come up")
	return ""
}

// The store's slot computation agrees with Redis's (CLUSTER KEYSLOT), and
// every slot's marker tag hashes to its slot.
func TestKeySlot(t *testing.T) {
	addr := oneNodeCluster(t)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	s, err := New(c, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"plain", "{tag}x", "a{}b", "a{b}{c}", "x{", "}{y}",
		s.quotaKey(limiter.Counter{Plan: "usagePlan-aaaaaaaa", Key: "AKIDkey"}),
		s.slotMarker(0), s.slotMarker(numSlots - 1), s.slotMarker(12345),
	} {
		want, err := c.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := keySlot(key); int64(got) != want {
			t.Errorf("keySlot(%q) = %d, Redis says %d", key, got, want)
		}
	}
	for slot, tag := range slotTags() {
		if got := keySlot("{" + tag + "}"); got != slot {
			t.Fatalf("slot %d's tag %q hashes to %d", slot, tag, got)
		}
	}
}

// On a Cluster, each script touches one slot (its keys and that slot's
// marker), PlanUsage scans the masters, and a lost marker fails closed
// until acknowledged.
func TestCluster(t *testing.T) {
	addr := oneNodeCluster(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, MaxRetries: -1})
	t.Cleanup(func() { cc.Close() })
	s, err := New(cc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Prepare(ctx); err != nil { // 16384 slot markers
		t.Fatal(err)
	}
	l, _ := limiter.New(s, limiter.Config{})
	lim := limiter.Limits{QPS: 100, Quota: 5, Period: limiter.Day}
	now := time.Now()
	for i := range 20 {
		for j := range 6 {
			d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-cluster1", Key: fmt.Sprintf("AKID%02d", i), Limits: lim})
			if err != nil || d.Allowed != (j < 5) {
				t.Fatalf("key %d decision %d: %+v, %v", i, j, d, err)
			}
		}
	}
	byKey, sum, err := l.PlanUsage(ctx, "usagePlan-cluster1", lim, now)
	if err != nil || len(byKey) != 20 || sum != 100 {
		t.Fatalf("PlanUsage: %d keys, sum %d, %v", len(byKey), sum, err)
	}
	// The master loses its data (as one restarted empty would; the
	// cluster's configuration is not in the keyspace).
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FlushAll(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-cluster1", Key: "AKID07", Limits: lim}); !errors.Is(err, ErrDataLoss) || d.Allowed {
		t.Fatalf("after the loss: %+v, %v; want ErrDataLoss", d, err)
	}
	if err := s.AcknowledgeDataLoss(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-cluster1", Key: "AKID07", Limits: lim}); err != nil || !d.Allowed {
		t.Fatalf("after the acknowledgement: %+v, %v", d, err)
	}
}
