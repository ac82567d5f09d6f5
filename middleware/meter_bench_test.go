package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/scatter"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/usageplan"
)

// BenchmarkMiddlewareMeter is BenchmarkMiddleware's signed request with
// the usage history off and on (a Recorder on a MemoryHistory, flushed
// by its goroutine at the default interval), in parallel.
func BenchmarkMiddlewareMeter(b *testing.B) {
	cfg := strings.Replace(testConfig, `"qps": 1000, "quota": 100,`, `"qps": 10000000, "quota": 1000000000000,`, 1)
	reg, err := usageplan.LoadConfig(strings.NewReader(cfg), usageplan.RegistryConfig{MaxQPS: 1e7, MaxQuota: 1e12})
	if err != nil {
		b.Fatal(err)
	}
	signed := httptest.NewRequest("GET", "/release/orders/42", nil)
	s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "AndriodApp",
		Headers: []string{"x-date", "source"}}
	if err := s.SignAt(signed, time.Now()); err != nil {
		b.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		name := "history-off"
		if on {
			name = "history-on"
		}
		b.Run(name, func(b *testing.B) {
			lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
			var c Config
			if on {
				rec, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{})
				if err != nil {
					b.Fatal(err)
				}
				rec.Start()
				defer rec.Close(b.Context())
				c.Meter = rec
			}
			mw, err := New(reg, lim, c)
			if err != nil {
				b.Fatal(err)
			}
			scatter.Serve(b, 1, mw.Wrap(http.HandlerFunc(ok200)), 200, signed)
		})
	}
}
