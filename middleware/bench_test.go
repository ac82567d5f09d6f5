package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

func ok200(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }

// BenchmarkMiddleware sends a signed request (hmac-sha1, x-date source)
// through the whole middleware — parse, verify, resolve, QPS, quota,
// headers — beside the bare handler, in parallel, every request on the
// same key. The middleware runs as in production, on time.Now; the plan's
// QPS (10 million) is above what two cores can send, so the bucket is
// consulted on every request and never runs dry.
func BenchmarkMiddleware(b *testing.B) {
	cfg := strings.Replace(testConfig, `"qps": 1000, "quota": 100,`, `"qps": 10000000, "quota": 1000000000000,`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.RegistryConfig{MaxQPS: 1e7, MaxQuota: 1e12})
	if err != nil {
		b.Fatal(err)
	}
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	mw, err := New(reg, lim, Config{})
	if err != nil {
		b.Fatal(err)
	}
	signed := httptest.NewRequest("GET", "/release/orders/42", nil)
	// Signed as the old gateway's clients sign (no nonce), so that the
	// figure stays comparable with earlier builds.
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "AndriodApp",
		Headers: []string{"x-date", "source"}}
	if err := s.SignAt(signed, time.Now()); err != nil { // valid for the default 15-minute skew
		b.Fatal(err)
	}
	run := func(b *testing.B, h http.Handler, r *http.Request) { scatter.Serve(b, 1, h, 200, r) }
	b.Run("bare", func(b *testing.B) { run(b, http.HandlerFunc(ok200), signed) })
	b.Run("planguard", func(b *testing.B) { run(b, mw.Wrap(http.HandlerFunc(ok200)), signed) })
	// The fixed part: the same pipeline for an API with auth NONE, which
	// routes and hands the caller to the handler but neither verifies
	// nor limits.
	b.Run("planguard-auth-none", func(b *testing.B) {
		run(b, mw.Wrap(http.HandlerFunc(ok200)), httptest.NewRequest("GET", "/release/health", nil))
	})
	// A second baseline: the same fixed part written with the standard
	// library alone — strip the environment prefix, put a value in the
	// context, route with a ServeMux — as any middleware that hands the
	// handler a routed request of its own would.
	b.Run("stdlib-route-and-context", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /orders/{id}", ok200)
		h := http.StripPrefix("/release", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), contextKey{}, "caller")))
		}))
		run(b, h, signed)
	})
}
