package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

func ok200(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }

// BenchmarkMiddleware sends a signed request (hmac-sha1, x-date source)
// through the whole middleware — parse, verify, resolve, QPS, quota,
// headers — beside the bare handler, in parallel. The clock advances 1 ms
// per request so the 2000-QPS bucket never runs dry.
func BenchmarkMiddleware(b *testing.B) {
	cfg := strings.Replace(testConfig, `"qps": 1000, "quota": 100,`, `"qps": 2000, "quota": 99999999,`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.Options{})
	if err != nil {
		b.Fatal(err)
	}
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	var tick atomic.Int64
	mw, err := New(reg, lim, Config{
		Verifier: keys.VerifierConfig{ClockSkew: 1000 * time.Hour},
		Now:      func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Millisecond) },
	})
	if err != nil {
		b.Fatal(err)
	}
	signed := httptest.NewRequest("GET", "/release/orders/42", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "AndriodApp"}
	if err := s.SignAt(signed, t0); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, h http.Handler, r *http.Request) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &discard{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, r)
				if w.code != 200 {
					b.Errorf("status %d", w.code)
					return
				}
			}
		})
	}
	b.Run("bare", func(b *testing.B) { run(b, http.HandlerFunc(ok200), signed) })
	b.Run("planguard", func(b *testing.B) { run(b, mw(http.HandlerFunc(ok200)), signed) })
	// The fixed part: the same pipeline for an API with auth NONE, which
	// routes and hands the caller to the handler but neither verifies
	// nor limits.
	b.Run("planguard-auth-none", func(b *testing.B) {
		run(b, mw(http.HandlerFunc(ok200)), httptest.NewRequest("GET", "/release/health", nil))
	})
}

// discard is a ResponseWriter that keeps only the status, so the
// benchmark measures the middleware and not a recorder.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }
