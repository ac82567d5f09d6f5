package bench

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/redisstore"
)

// redisAddr is $REDIS_ADDR, or a redis-server (from PATH, without
// persistence) that this benchmark starts on a free loopback port and
// stops when it ends.
func redisAddr(b *testing.B) string {
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", b.TempDir())
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for range 100 { // until it accepts connections
		if c.Ping(context.Background()).Err() == nil {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("redis-server on %s did not answer", addr)
	return ""
}

// roundTrips counts what a go-redis client sends: one per command sent
// alone, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// BenchmarkRedisDecision: one keyed decision per operation on one
// redis-server, 10k keys at random, 64 goroutines per CPU
// (a server's concurrent requests). planguard's redisstore shares round
// trips between concurrent decisions (pipelines of its script);
// go-redis/redis_rate sends one script per decision. Both on go-redis's
// default pool; roundtrips/op counts what the client sent.
func BenchmarkRedisDecision(b *testing.B) {
	addr := redisAddr(b)
	ctx := context.Background()
	const parallelism = 64
	b.Run("planguard-qps", func(b *testing.B) {
		benchPlanguard(b, addr, limiter.Limits{QPS: perSec, Quota: limiter.Unlimited}, parallelism)
	})
	b.Run("planguard-qps+quota", func(b *testing.B) {
		benchPlanguard(b, addr, limiter.Limits{QPS: perSec, Quota: 99_999_999, Period: limiter.Day}, parallelism)
	})
	b.Run("redis_rate", func(b *testing.B) {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		rt := &roundTrips{}
		rdb.AddHook(rt)
		l := redis_rate.NewLimiter(rdb)
		limit := redis_rate.PerSecond(perSec)
		parallelKeys(b, parallelism, func(k string) {
			if _, err := l.Allow(ctx, k, limit); err != nil {
				b.Error(err)
			}
		})
		b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
	})
}

func benchPlanguard(b *testing.B, addr string, lim limiter.Limits, parallelism int) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	rt := &roundTrips{}
	rdb.AddHook(rt)
	s, err := redisstore.New(rdb, redisstore.Config{Prefix: "bench" + strconv.Itoa(os.Getpid()) + ":"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l, _ := limiter.New(s, limiter.Config{})
	var failed atomic.Int64
	parallelKeys(b, parallelism, func(k string) {
		if _, err := l.Allow(ctx, limiter.Request{Plan: "usagePlan-bench001", Key: k, Limits: lim}); err != nil {
			failed.Add(1)
		}
	})
	b.StopTimer()
	if failed.Load() > 0 {
		b.Errorf("%d decisions failed", failed.Load())
	}
	b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
}
