package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/storetest"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

var ctx = context.Background()

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) limiter.Store { s, _ := newStore(t, redisAddr, Config{}); return s })
}

// TestLimitsStepsWithTime runs the step tables with time advancing (burst
// apart from the rate, each window kind, throttles, all or nothing, dry
// run): the script decides the buckets on the tables' clock instead of
// the server's, so that every step runs, not only those at the start.
func TestLimitsStepsWithTime(t *testing.T) {
	storetest.RunLimitsClocked(t, func(t *testing.T, now func() time.Time) limiter.Store {
		s, _ := newStore(t, redisAddr, Config{})
		// The script's clock counts whole µs, as the server's TIME does:
		// a step at a third of a second is decided at the µs that
		// contains it (rounded up), not 0.3 µs before the window's
		// token is back.
		s.clock = func() time.Time { return now().Add(time.Microsecond - 1).Truncate(time.Microsecond) }
		return s
	})
}

func TestNewRefusesRetryingClient(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr}) // MaxRetries defaults to 3
	defer c.Close()
	if _, err := New(c, Config{}); !errors.Is(err, ErrRetries) {
		t.Fatalf("New: %v, want ErrRetries", err)
	}
}

func TestKeysAreTaggedAndExpire(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	start, _ := limiter.Day.Window(time.Now(), nil)
	cnt := limiter.Counter{Plan: "usagePlan-aaaaaaaa", Key: "AKIDkey", Window: start.Unix()}
	if _, err := s.Take(ctx, take(cnt, 5, 1, 10)); err != nil {
		t.Fatal(err)
	}
	qk, bk := s.quotaKey(cnt), s.bucketKey(cnt, "qps")
	if tagOf(qk) != tagOf(bk) || tagOf(qk) == "" {
		t.Fatalf("keys %q and %q do not share a hash tag", qk, bk)
	}
	for _, k := range []string{qk, bk} {
		ttl, err := c.PTTL(ctx, k).Result() // the bucket's goes when it is full again, in 200 ms
		if err != nil || ttl <= 0 {
			t.Errorf("%s: TTL %v, %v", k, ttl, err)
		}
	}
	total := limiter.Counter{Plan: "p", Key: "k"}
	s.Take(ctx, take(total, limiter.Unlimited, 1, 10))
	if ttl, _ := c.TTL(ctx, s.quotaKey(total)).Result(); ttl != -1 {
		t.Errorf("total counter TTL %v", ttl)
	}
}

func tagOf(k string) string {
	i, j := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
	if i < 0 || j < i {
		return ""
	}
	return k[i+1 : j]
}

// QPS is exact across instances: three limiters share one bucket.
func TestSharedQPSBound(t *testing.T) {
	lim := limiter.Limits{QPS: 5, Quota: limiter.Unlimited}
	start := time.Now()
	admitted, _ := acrossInstances(t, 300, lim)
	elapsed := time.Since(start).Seconds()
	if max := 5 + int64(5*elapsed) + 1; admitted.Load() > max || admitted.Load() < 5 {
		t.Fatalf("admitted %d in %.2fs, want 5..%d", admitted.Load(), elapsed, max)
	}
}

// acrossInstances sends n concurrent decisions for one (plan, key),
// spread over three limiters sharing one Redis, and counts the admitted.
func acrossInstances(t *testing.T, n int, lim limiter.Limits) (*atomic.Int64, []*limiter.Limiter) {
	t.Helper()
	s, _ := newStore(t, redisAddr, Config{})
	var lims []*limiter.Limiter
	for range 3 {
		l, _ := limiter.New(s, limiter.Config{})
		lims = append(lims, l)
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := lims[i%3].AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: "k", Limits: lim})
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	return &admitted, lims
}

// Three limiters sharing one Redis, 1000 concurrent requests against
// quota 100: exactly 100 admitted in total.
func TestThreeInstancesExactQuota(t *testing.T) {
	lim := limiter.Limits{QPS: 2000, Quota: 100, Period: limiter.Day}
	admitted, lims := acrossInstances(t, 1000, lim)
	if admitted.Load() != 100 {
		t.Fatalf("admitted %d, want 100", admitted.Load())
	}
	used, _ := lims[0].Usage(ctx, "p", "k", lim, time.Now())
	if used != 100 {
		t.Fatalf("stored usage %d", used)
	}
}

const outageConfig = `{
  "services": [{"id": "service-abcd1234", "name": "s", "environments": ["release"],
    "apis": [{"id": "api-aaaaaaaa", "name": "a", "method": "GET", "path": "/a"}]}],
  "keys": [{"id": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "name": "k", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
  "plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "qps": 1000, "quota": 10,
    "keys": ["AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
    "bindings": [{"service": "service-abcd1234", "environment": "release"}]}]
}`

// Redis stopped mid-test and restarted: fail closed answers 503, fail
// open serves, never a 500, and the count survives without loss or
// double counting.
func TestRedisOutage(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail closed", true: "fail open"}[failOpen], func(t *testing.T) {
			dir := tempDir(t)
			srv, err := startRedis(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { srv.stop() }() // the server running at the end: the test restarts it
			s, _ := newStore(t, srv.addr, Config{Timeout: 200 * time.Millisecond})
			reg, err := usageplan.LoadConfig(strings.NewReader(outageConfig), usageplan.RegistryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			lim, _ := limiter.New(s, limiter.Config{})
			mw, _ := middleware.New(reg, lim, middleware.Config{FailOpen: failOpen})
			h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
			signer := &keys.Signer{ID: "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC")}
			do := func() int {
				r := httptest.NewRequest("GET", "/release/a", nil)
				signer.Sign(r)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				return rec.Code
			}
			for i := range 4 {
				if c := do(); c != 200 {
					t.Fatalf("request %d before the outage: %d", i, c)
				}
			}
			srv.stop()
			want := 503
			if failOpen {
				want = 200
			}
			for i := range 3 {
				if c := do(); c != want {
					t.Fatalf("request %d during the outage: %d, want %d", i, c, want)
				}
			}
			srv, err = startRedis(dir, srv.port)
			if err != nil {
				t.Fatal(err)
			}
			codes := map[int]int{}
			for range 10 {
				codes[do()]++
			}
			if codes[200] != 6 || codes[429] != 4 {
				t.Fatalf("after the restart: %v, want 6 admitted (4 were counted before) and 4 refused", codes)
			}
		})
	}
}

func BenchmarkDecision(b *testing.B) {
	lim := limiter.Limits{QPS: 2000, Quota: 99_999_999, Period: limiter.Day}
	sent := &commandCounter{} // what the redis client sends
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "AKID" + strings.Repeat("0", 10) + time.Duration(i).String()
	}
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) limiter.Store
	}{
		{"memory", func(*testing.B) limiter.Store { return &limiter.MemoryStore{} }},
		{"redis", func(b *testing.B) limiter.Store {
			s, c := newStore(b, redisAddr, Config{})
			c.AddHook(sent)
			return s
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := limiter.New(tc.store(b), limiter.Config{})
			now := time.Now()
			b.ReportAllocs()
			before := sent.n.Load()
			// 16 goroutines on 2 CPUs: a network store is bound by latency.
			scatter.Parallel(b, 8, len(keys), func(i int) error {
				_, err := l.AllowAt(ctx, now, limiter.Request{Plan: "usagePlan-bench001", Key: keys[i], Limits: lim})
				return err
			})
			b.ReportMetric(float64(sent.n.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}

// Each decision is one round trip: the client sends one command per call.
func TestOneRoundTripPerDecision(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	counter := &commandCounter{}
	c.AddHook(counter)
	l, _ := limiter.New(s, limiter.Config{})
	lim := limiter.Limits{QPS: 2000, Quota: 1000, Period: limiter.Day}
	l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: "warm", Limits: lim}) // loads the script
	before := counter.n.Load()
	const n = 50
	for i := range n {
		if _, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: "k" + strconv.Itoa(i%5), Limits: lim}); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.n.Load() - before; got != n {
		t.Fatalf("%d round trips for %d decisions", got, n)
	}
}

type commandCounter struct{ n atomic.Int64 }

func (*commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// A Total quota never resets, so its counter never expires, even when
// only refusals follow the last admitted request; forgetting the usage
// (ResetUsage) deletes it.
func TestTotalCounterNeverExpires(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	l, _ := limiter.New(s, limiter.Config{})
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 3}
	key := s.quotaKey(limiter.Counter{Plan: "p", Key: "k"})
	for i := range 5 {
		if d, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: "k", Limits: lim}); err != nil || d.Allowed != (i < 3) {
			t.Fatalf("decision %d: %+v, %v", i, d, err)
		}
	}
	if ttl, err := c.TTL(ctx, key).Result(); err != nil || ttl != -1 {
		t.Fatalf("total counter TTL %v, %v; want none (-1)", ttl, err)
	}
	// A counter that an earlier version wrote with a TTL loses it at the
	// next decision, even a refusal.
	c.Expire(ctx, key, time.Hour)
	if d, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: "k", Limits: lim}); err != nil || d.Allowed {
		t.Fatalf("after the quota: %+v, %v", d, err)
	}
	if ttl, err := c.TTL(ctx, key).Result(); err != nil || ttl != -1 {
		t.Fatalf("total counter TTL after a refusal %v, %v; want none (-1)", ttl, err)
	}
	for _, set := range []func() error{
		func() error { return s.SetUsage(ctx, limiter.Counter{Plan: "p", Key: "k"}, 2) },
		func() error { return s.Release(ctx, limiter.Counter{Plan: "p", Key: "k"}, 1) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
		if ttl, err := c.TTL(ctx, key).Result(); err != nil || ttl != -1 {
			t.Fatalf("total counter TTL after SetUsage/Release %v, %v; want none (-1)", ttl, err)
		}
	}
	if err := l.ResetUsage(ctx, "p", "k", lim, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("after ResetUsage the counter exists: %d, %v", n, err)
	}
}

// Close waits for the pipelines in flight, leaves no goroutine, closes
// the client Dial made, and fails later calls with ErrStoreClosed.
func TestClose(t *testing.T) {
	s, err := Dial(redis.Options{Addr: redisAddr}, Config{Prefix: fmt.Sprintf("close%d:", os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := limiter.New(s, limiter.Config{})
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			if _, err := l.AllowAt(ctx, time.Now(), limiter.Request{Plan: "p", Key: strconv.Itoa(i % 7), Limits: limiter.Limits{QPS: 1000, Quota: 1000}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if s.batch.flushing != 0 || len(s.batch.queue) != 0 {
		t.Fatalf("after Close: %d pipelines in flight, %d calls queued", s.batch.flushing, len(s.batch.queue))
	}
	if _, err := s.Usage(ctx, limiter.Counter{Plan: "p", Key: "1"}); !errors.Is(err, limiter.ErrStoreClosed) {
		t.Fatalf("Usage after Close: %v", err)
	}
	if err := s.rdb.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("the client Dial made is still open: %v", err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr, MaxRetries: -1})
	defer c.Close()
	for name, tc := range map[string]struct {
		open func() (*Store, error)
		want string
	}{
		"braces in the prefix": {func() (*Store, error) { return New(c, Config{Prefix: "a{b}:"}) }, "Prefix"},
		"negative timeout":     {func() (*Store, error) { return New(c, Config{Timeout: -1}) }, "negative"},
		"Dial with retries": {func() (*Store, error) {
			return Dial(redis.Options{Addr: redisAddr, MaxRetries: 2}, Config{})
		}, "MaxRetries"},
		"Dial with a small pool": {func() (*Store, error) {
			return Dial(redis.Options{Addr: redisAddr, PoolSize: 3}, Config{Pipelines: 4})
		}, "PoolSize 3"},
	} {
		if s, err := tc.open(); err == nil || !strings.Contains(err.Error(), tc.want) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}

// take is the Take of one request with a QPS bucket (none when qps is
// Unlimited), n units and a quota of limit.
func take(c limiter.Counter, qps, n, limit int64) limiter.Take {
	t := limiter.Take{Counter: c, Units: n, Quota: limit}
	if qps != limiter.Unlimited {
		t.Buckets = []limiter.Bucket{{ID: "qps", Interval: time.Second / time.Duration(max(qps, 1)), Burst: qps}}
	}
	return t
}

// A bucket without a rate or burst, a quota below Unlimited or negative
// units are a caller's mistake, refused with an error instead of
// admitting every request.
func TestTakeRefusesInvalidBuckets(t *testing.T) {
	s, _ := newStore(t, redisAddr, Config{})
	c := limiter.Counter{Plan: "p", Key: "k"}
	for _, tc := range []struct {
		name string
		t    limiter.Take
	}{
		{"burst 0", limiter.Take{Counter: c, Buckets: []limiter.Bucket{{ID: "qps", Interval: time.Second}}, Units: 1, Quota: 100}},
		{"interval 0", limiter.Take{Counter: c, Buckets: []limiter.Bucket{{ID: "qps", Burst: 3}}, Units: 1, Quota: 100}},
		{"no ID", limiter.Take{Counter: c, Buckets: []limiter.Bucket{{Interval: time.Second, Burst: 3}}, Units: 1, Quota: 100}},
		{"quota -2", take(c, 10, 1, -2)},
		{"negative units", take(c, 10, -1, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				if r, err := s.Take(ctx, tc.t); err == nil {
					t.Fatalf("Take %d: %+v, want an error", i, r)
				}
			}
		})
	}
	if r, err := s.Take(ctx, take(c, limiter.Unlimited, 1, limiter.Unlimited)); err != nil || !r.Allowed {
		t.Fatalf("Take with no limits: %+v, %v", r, err)
	}
}

// Every kind of limit is exact across three instances sharing one
// Redis: 1000 concurrent requests spread over them admit exactly the
// allowance, and the refused ones take nothing (one script per
// decision, all or nothing).
func TestExactLimitsAcrossThreeInstances(t *testing.T) {
	storetest.RunExactLimitsAcross(t, func(t *testing.T) []*limiter.Limiter {
		return threeInstances(t, "exact", limiter.Config{})
	})
}

// threeInstances returns three Limiters, each on its own client of one
// Redis, sharing a prefix of their own (name and a counter).
func threeInstances(t *testing.T, name string, cfg limiter.Config) []*limiter.Limiter {
	prefix := fmt.Sprintf("%s%d-%d:", name, os.Getpid(), prefixes.Add(1))
	var ls []*limiter.Limiter
	for range 3 {
		s, _ := newStore(t, redisAddr, Config{Prefix: prefix})
		l, err := limiter.New(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	return ls
}

// Charges and requests of one key spread over three instances sharing
// one Redis: the units consumed are exactly those admitted and charged
// less the overage, and the overage is what went past the quota (one
// script per request or charge).
func TestChargeExactAcrossThreeInstances(t *testing.T) {
	storetest.RunChargeExact(t, threeInstances(t, "charge", limiter.Config{}), time.Now())
}

// Three instances on one Redis, 100 times: each alert threshold is
// reported exactly once across the fleet, by the instance whose script
// crossed it.
func TestAlertsOncePerFleet(t *testing.T) {
	storetest.RunAlertsAcross(t, 100, func(t *testing.T, hook func(limiter.Alert)) []*limiter.Limiter {
		return threeInstances(t, "alerts", limiter.Config{OnAlert: hook})
	})
}
