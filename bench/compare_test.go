// Package bench compares planguard with the keyed rate limiters and
// middlewares a Go developer might pick instead, on the same key
// distribution: 10k keys, each goroutine drawing them at random from a
// stream of its own (internal/scatter).
package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-limiter/httplimit"
	"github.com/sethvargo/go-limiter/memorystore"
	"github.com/throttled/throttled/v2"
	throttledmem "github.com/throttled/throttled/v2/store/memstore"
	ulule "github.com/ulule/limiter/v3"
	ululestdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ululemem "github.com/ulule/limiter/v3/drivers/store/memory"
	"golang.org/x/time/rate"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

const (
	numKeys = 10_000
	perSec  = 2000 // every limiter allows 2000 requests per second per key
)

var keyNames = func() []string {
	ks := make([]string, numKeys)
	for i := range ks {
		ks[i] = fmt.Sprintf("AKID%036d", i)
	}
	return ks
}()

// parallelKeys runs fn on p goroutines per CPU over random keys.
func parallelKeys(b *testing.B, p int, fn func(key string)) {
	b.ReportAllocs()
	scatter.Parallel(b, p, numKeys, func(i int) error { fn(keyNames[i]); return nil })
}

// rateMap is the usual hand-rolled choice: a mutex-guarded map of
// x/time/rate limiters.
type rateMap struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (r *rateMap) allow(key string) bool {
	r.mu.Lock()
	l, ok := r.m[key]
	if !ok {
		l = rate.NewLimiter(perSec, perSec)
		r.m[key] = l
	}
	r.mu.Unlock()
	return l.Allow()
}

// BenchmarkKeyedDecision: one keyed QPS decision per operation.
// planguard's also counts a quota.
func BenchmarkKeyedDecision(b *testing.B) {
	ctx := context.Background()
	b.Run("planguard", func(b *testing.B) {
		l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
		lim := limiter.Limits{QPS: perSec, Quota: 99_999_999}
		for _, k := range keyNames {
			l.Allow(ctx, limiter.Request{Plan: "usagePlan-bench001", Key: k, Limits: lim})
		}
		b.ResetTimer()
		parallelKeys(b, 1, func(k string) { l.Allow(ctx, limiter.Request{Plan: "usagePlan-bench001", Key: k, Limits: lim}) })
	})
	b.Run("x-time-rate-map", func(b *testing.B) {
		r := &rateMap{m: map[string]*rate.Limiter{}}
		for _, k := range keyNames {
			r.allow(k)
		}
		b.ResetTimer()
		parallelKeys(b, 1, func(k string) { r.allow(k) })
	})
	b.Run("sethvargo-go-limiter", func(b *testing.B) {
		s, _ := memorystore.New(&memorystore.Config{Tokens: perSec, Interval: time.Second})
		defer s.Close(ctx)
		for _, k := range keyNames {
			s.Take(ctx, k)
		}
		b.ResetTimer()
		parallelKeys(b, 1, func(k string) { s.Take(ctx, k) })
	})
	b.Run("ulule-limiter", func(b *testing.B) {
		l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Second, Limit: perSec})
		for _, k := range keyNames {
			l.Get(ctx, k)
		}
		b.ResetTimer()
		parallelKeys(b, 1, func(k string) { l.Get(ctx, k) })
	})
	b.Run("throttled", func(b *testing.B) {
		st, _ := throttledmem.NewCtx(2 * numKeys)
		rl, _ := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(perSec), MaxBurst: perSec})
		for _, k := range keyNames {
			rl.RateLimitCtx(ctx, k, 1)
		}
		b.ResetTimer()
		parallelKeys(b, 1, func(k string) { rl.RateLimitCtx(ctx, k, 1) })
	})
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// BenchmarkMiddleware: the whole middleware per request. planguard
// verifies an HMAC-SHA1 signature, resolves the plan and applies QPS and
// quota; the others rate-limit by a key header, without authentication.
func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	const numReqKeys = 1000 // distinct keys with signed requests
	plain := make([]*http.Request, numReqKeys)
	for i := range plain {
		plain[i] = httptest.NewRequest("GET", "/release/orders/42", nil)
		plain[i].Header.Set("X-Key", keyNames[i])
	}
	b.Run("bare", func(b *testing.B) { scatter.Serve(b, 1, http.HandlerFunc(ok), http.StatusOK, plain...) })
	b.Run("planguard", func(b *testing.B) {
		h, signed := planguardHandler(b, numReqKeys)
		scatter.Serve(b, 1, h, http.StatusOK, signed...)
	})
	b.Run("sethvargo-go-limiter", func(b *testing.B) {
		s, _ := memorystore.New(&memorystore.Config{Tokens: 1 << 20, Interval: time.Second})
		defer s.Close(ctx)
		mw, _ := httplimit.NewMiddleware(s, func(r *http.Request) (string, error) { return r.Header.Get("X-Key"), nil })
		scatter.Serve(b, 1, mw.Handle(http.HandlerFunc(ok)), http.StatusOK, plain...)
	})
	b.Run("ulule-limiter", func(b *testing.B) {
		l := ulule.New(ululemem.NewStore(), ulule.Rate{Period: time.Second, Limit: 1 << 30})
		mw := ululestdlib.NewMiddleware(l, ululestdlib.WithKeyGetter(func(r *http.Request) string { return r.Header.Get("X-Key") }))
		scatter.Serve(b, 1, mw.Handler(http.HandlerFunc(ok)), http.StatusOK, plain...)
	})
	b.Run("throttled", func(b *testing.B) {
		st, _ := throttledmem.NewCtx(2 * numKeys)
		rl, _ := throttled.NewGCRARateLimiterCtx(st, throttled.RateQuota{MaxRate: throttled.PerSec(1 << 20), MaxBurst: 1 << 20})
		h := (&throttled.HTTPRateLimiterCtx{RateLimiter: rl, VaryBy: &throttled.VaryBy{Headers: []string{"X-Key"}}}).RateLimit(http.HandlerFunc(ok))
		scatter.Serve(b, 1, h, http.StatusOK, plain...)
	})
}

// planguardHandler is the middleware with n keys bound to one plan
// (2000 QPS and a quota per key, more than the run can spend), and one
// signed request per key, replayed for the whole run (the replay cache
// is off, as by default).
func planguardHandler(b *testing.B, n int) (http.Handler, []*http.Request) {
	var cfg strings.Builder
	cfg.WriteString(`{"services": [{"id": "service-bench001", "name": "bench", "environments": ["release"],
	  "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}], "keys": [`)
	for i := range n {
		if i > 0 {
			cfg.WriteString(",")
		}
		fmt.Fprintf(&cfg, `{"id": %q, "name": "k", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}`, keyNames[i])
	}
	cfg.WriteString(`], "plans": [{"id": "usagePlan-bench001", "name": "bench", "qps": 2000, "quota": 99999999, "keys": [`)
	for i := range n {
		if i > 0 {
			cfg.WriteString(",")
		}
		fmt.Fprintf(&cfg, "%q", keyNames[i])
	}
	cfg.WriteString(`], "bindings": [{"service": "service-bench001", "environment": "release"}]}]}`)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg.String()), usageplan.RegistryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	mw, err := middleware.New(reg, lim, middleware.Config{})
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
