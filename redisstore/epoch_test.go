package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// Redis restarted without persistence: the store notices that its data
// is gone and refuses every decision (fail closed) on every instance,
// including one started afterwards, until an operator acknowledges the
// loss; then decisions resume.
func TestDataLossFailsClosedUntilAcknowledged(t *testing.T) {
	dir := tempDir(t)
	srv, err := startRedis(dir, 0, noPersistence...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop() })
	open := func() (*Store, *limiter.Limiter) {
		c := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		s, err := New(c, Config{Prefix: "loss:"})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := limiter.New(s, limiter.Config{})
		return s, l
	}
	_, a := open()
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 10}
	decide := func(l *limiter.Limiter) (limiter.Decision, error) {
		return l.AllowAt(context.Background(), time.Now(), limiter.Request{Plan: "p", Key: "k", Limits: lim})
	}
	for i := range 11 {
		d, err := decide(a)
		if err != nil || d.Allowed != (i < 10) {
			t.Fatalf("decision %d before the restart: %+v, %v", i, d, err)
		}
	}

	srv.stop()
	if srv, err = startRedis(dir, srv.port, noPersistence...); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if d, err := decide(a); !errors.Is(err, ErrDataLoss) || d.Allowed {
			t.Fatalf("decision %d after the restart: %+v, %v; want ErrDataLoss", i, d, err)
		}
	}
	bs, b := open() // an instance started after the loss
	if d, err := decide(b); !errors.Is(err, ErrDataLoss) || d.Allowed {
		t.Fatalf("new instance after the restart: %+v, %v; want ErrDataLoss", d, err)
	}

	if err := bs.AcknowledgeDataLoss(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*limiter.Limiter{"a": a, "b": b} {
		if d, err := decide(l); err != nil || !d.Allowed {
			t.Fatalf("instance %s after the acknowledgement: %+v, %v", name, d, err)
		}
	}
}

// Stores that start together on an empty Redis agree on one epoch, and
// none of them mistakes the others' start for a data loss.
func TestEpochConcurrentFirstStart(t *testing.T) {
	prefix := fmt.Sprintf("first%d-%d:", os.Getpid(), prefixes.Add(1))
	stores := make([]*Store, 8)
	for i := range stores {
		stores[i], _ = newStore(t, redisAddr, Config{Prefix: prefix})
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			c := limiter.Counter{Plan: "p", Key: strconv.Itoa(i)}
			if _, err := s.Take(context.Background(), take(c, 10, 1, 10)); err != nil {
				t.Errorf("store %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for i, s := range stores {
		if s.epoch.current() != stores[0].epoch.current() || s.epoch.current() == "" {
			t.Fatalf("store %d has epoch %q, store 0 %q", i, s.epoch.current(), stores[0].epoch.current())
		}
	}
}

// On a Ring: a store that stopped while writing the markers leaves no
// false alarm (the next one completes them with the same epoch), and a
// shard that loses its data is detected for the keys it holds, and only
// for those.
func TestEpochOnRing(t *testing.T) {
	a, b := ownRedis(t, noPersistence...), ownRedis(t, noPersistence...)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.addr, "b": b.addr}, MaxRetries: -1})
	t.Cleanup(func() { ring.Close() })
	ctx := context.Background()
	shard := func(srv *redisServer) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: srv.addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	sa, sb := shard(a), shard(b)

	// A first store set the root and wrote shard a's marker, then stopped.
	s, err := New(ring, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Set(ctx, s.rootKey(), "istopped", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sa.Set(ctx, s.nodeKey(), "istopped", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*redis.Client{sa, sb} {
		if v, err := c.Get(ctx, s.nodeKey()).Result(); err != nil || v != "istopped" {
			t.Fatalf("marker %q, %v; want the root's epoch", v, err)
		}
	}
	l, _ := limiter.New(s, limiter.Config{})
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100}
	onB := map[string]bool{}
	for i := range 40 {
		key := fmt.Sprintf("AKID%02d", i)
		if d, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: key, Limits: lim}); err != nil || !d.Allowed {
			t.Fatalf("%s: %+v, %v", key, d, err)
		}
		onB[key] = sb.Exists(ctx, s.quotaKey(limiter.Counter{Plan: "p", Key: key})).Val() == 1
	}

	// Shard b loses its data.
	if err := sb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for key, b := range onB {
		d, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: key, Limits: lim})
		switch {
		case b && !errors.Is(err, ErrDataLoss):
			t.Fatalf("%s on the lost shard: %+v, %v; want ErrDataLoss", key, d, err)
		case !b && (err != nil || !d.Allowed):
			t.Fatalf("%s on the intact shard: %+v, %v", key, d, err)
		}
		if b {
			lost++
		}
	}
	if lost == 0 || lost == len(onB) {
		t.Fatalf("%d of %d keys on shard b: the test needs keys on both shards", lost, len(onB))
	}
	if err := s.AcknowledgeDataLoss(ctx); err != nil {
		t.Fatal(err)
	}
	for key := range onB {
		if d, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: key, Limits: lim}); err != nil || !d.Allowed {
			t.Fatalf("%s after the acknowledgement: %+v, %v", key, d, err)
		}
	}
}
