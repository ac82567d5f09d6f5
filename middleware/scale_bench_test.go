package middleware

import (
	"fmt"
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

// scaleConfig is n services in one environment, each with a SECRET and a
// NONE API under a prefix of its own; the gold key's plan binds the last
// service (the last one a per-service scan would reach).
func scaleConfig(n int) string {
	var b strings.Builder
	b.WriteString(`{"services": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": "service-%08d", "name": "s%d", "environments": ["release"], "apis": [
		  {"id": "api-o%07d", "name": "order", "method": "GET", "path": "/s%d/orders/{id}"},
		  {"id": "api-h%07d", "name": "health", "method": "GET", "path": "/s%d/health", "auth": "NONE"}]}`, i, i, i, i, i, i)
	}
	fmt.Fprintf(&b, `], "keys": [{"id": %q, "name": "gold", "secret": %q}],
	  "plans": [{"id": "usagePlan-gold0001", "name": "gold", "qps": 10000000, "quota": 1000000000000,
	    "keys": [%q], "bindings": [{"service": "service-%08d", "environment": "release"}]}]}`, goldKey, goldSecret, goldKey, n-1)
	return b.String()
}

// BenchmarkServiceCount: an unauthenticated request that matches no API
// (404) and a signed request to the last service, with 1 and with 2000
// services in one environment. Routing is one table per environment, so
// the two counts should cost the same (the target: 2000 services cost
// at most 1.5 times 1 service).
func BenchmarkServiceCount(b *testing.B) {
	for _, n := range []int{1, 2000} {
		reg, err := usageplan.LoadConfig(strings.NewReader(scaleConfig(n)), usageplan.RegistryConfig{MaxQPS: 1e7, MaxQuota: 1e12})
		if err != nil {
			b.Fatal(err)
		}
		lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
		mw, err := New(reg, lim, Config{})
		if err != nil {
			b.Fatal(err)
		}
		h := mw.Wrap(http.HandlerFunc(ok200))
		notFound := httptest.NewRequest("GET", "/release/nothing/here", nil)
		signed := httptest.NewRequest("GET", fmt.Sprintf("/release/s%d/orders/42", n-1), nil)
		s := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "AndriodApp"}
		if err := s.SignAt(signed, time.Now()); err != nil {
			b.Fatal(err)
		}
		run := func(b *testing.B, r *http.Request, want int) { scatter.Serve(b, 1, h, want, r) }
		b.Run(fmt.Sprintf("unauthenticated-404/services=%d", n), func(b *testing.B) { run(b, notFound, 404) })
		b.Run(fmt.Sprintf("signed/services=%d", n), func(b *testing.B) { run(b, signed, 200) })
	}
}
