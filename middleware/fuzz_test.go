package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// FuzzMiddleware: random methods, paths, headers and bodies, signed or
// not; the status is always one of the documented refusals or the handler's 200, and
// nothing panics.
func FuzzMiddleware(f *testing.F) {
	f.Add("GET", "/release/orders/1", "Source", "x", "", true)
	f.Add("POST", "/release/orders", "Authorization", `hmac id="a"`, "{}", false)
	f.Add("GET", "/test/../release/orders", "X-Date", "Mon, 23 Nov 2026 12:00:00 GMT", "", true)
	f.Add("PUT", "/%2e%2e/orders", "Content-Type", "a\x00b", "body", false)
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		f.Fatal(err)
	}
	lim, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	mw, err := New(reg, lim, Config{Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(echo))
	signer := &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret), Source: "fuzz"}
	f.Fuzz(func(t *testing.T, method, path, hname, hvalue, body string, sign bool) {
		req, err := http.NewRequest(method, "http://example.com/", strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path = path
		req.RequestURI = ""
		if sign {
			_ = signer.SignAt(req, t0)
		}
		if hname != "" {
			req.Header[hname] = append(req.Header[hname], hvalue)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 401, 403, 404, 429, 503:
		default:
			t.Fatalf("%s %q: status %d: %s", method, path, rec.Code, rec.Body.String())
		}
	})
}
