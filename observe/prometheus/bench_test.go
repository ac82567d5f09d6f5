package prometheus

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// BenchmarkObserver sends a signed request through the middleware, in
// parallel, without an observer and with the Collector, in the same run
// (see the middleware's BenchmarkMiddleware, of which this is the
// "planguard" case).
func BenchmarkObserver(b *testing.B) {
	cfg := strings.Replace(testConfig, `"qps": 1000, "quota": 5,`, `"qps": 10000000, "quota": 1000000000000,`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.RegistryConfig{MaxQPS: 1e7, MaxQuota: 1e12})
	if err != nil {
		b.Fatal(err)
	}
	signed := httptest.NewRequest("GET", "/release/orders", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "bench"}
	if err := s.SignAt(signed, time.Now()); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, obs middleware.Observer) {
		lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
		mw, err := middleware.New(reg, lim, middleware.Config{Observer: obs})
		if err != nil {
			b.Fatal(err)
		}
		scatter.Serve(b, 1, mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })), 200, signed)
	}
	b.Run("none", func(b *testing.B) { run(b, nil) })
	b.Run("prometheus", func(b *testing.B) {
		col := New(Config{Registry: reg})
		prometheus.NewRegistry().MustRegister(col)
		run(b, col.Observe)
	})
}
