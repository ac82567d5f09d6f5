package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

// A server protected by a plan of 2 requests of quota, with refusals
// logged by an ErrorHandler and by the LogObserver, and a client that
// signs with keys.Transport.
func ExampleNew() {
	reg, err := usageplan.LoadConfig(strings.NewReader(`{
	  "services": [{"id": "service-orders01", "name": "orders", "environments": ["release"],
	    "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}],
	  "keys": [{"id": "AKIDexample0000000000000000000000000001", "name": "partner", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}],
	  "plans": [{"id": "usagePlan-silver01", "name": "silver", "qps": 100, "quota": 2, "quotaPeriod": "day",
	    "keys": ["AKIDexample0000000000000000000000000001"],
	    "bindings": [{"service": "service-orders01", "environment": "release"}]}]
	}`), usageplan.RegistryConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lim.Close(context.Background())

	// Logs without the time, so that this example's output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "elapsed" {
				return slog.Attr{}
			}
			return a
		},
	}))
	mw, err := middleware.New(reg, lim, middleware.Config{
		// Each refusal is logged, then written as the old gateway's JSON
		// body. The Observer (below) runs first.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, e *middleware.Error) {
			logger.Info("refused", "status", e.Status, "message", e.Message, "key_id", e.Caller.SecretID)
			middleware.WriteJSON(w, r, e)
		},
		// Refusals at debug level, and the quota store's health at warn.
		Observer: middleware.LogObserver(logger),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.FromContext(r.Context())
		fmt.Fprintf(w, "order %s for %s (%s), %d left", r.PathValue("id"), c.KeyName, c.Plan.Name, c.Decision.Remaining)
	})
	srv := httptest.NewServer(mw.Wrap(handler)) // on 127.0.0.1, a free port
	defer srv.Close()

	client := &http.Client{Transport: &keys.Transport{Signer: &keys.Signer{
		ID: "AKIDexample0000000000000000000000000001", Secret: keys.NewSecret("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"),
	}}}
	for range 3 {
		resp, err := client.Get(srv.URL + "/release/orders/42")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)), resp.Header.Get(middleware.HeaderQuota))
	}
	// Output:
	// 200 order 42 for partner (silver), 1 left 1/2
	// 200 order 42 for partner (silver), 0 left 0/2
	// level=DEBUG msg="request refused" reason=quota method=GET path=/release/orders/42 environment=release service=service-orders01 api=api-get00001 plan=usagePlan-silver01 key_id=AKIDexample0000000000000000000000000001
	// level=INFO msg=refused status=429 message="API quota exceeded." key_id=AKIDexample0000000000000000000000000001
	// 429 {"message":"API quota exceeded."} 0/2
}

// An unknown environment is answered as a path that matches no API, with
// the old gateway's message (clients match on it); the Observer tells the
// two apart by the Caller's Environment, set only when it is known.
func ExampleNew_unknownEnvironment() {
	reg, err := usageplan.LoadConfig(strings.NewReader(`{
	  "services": [{"id": "service-orders01", "name": "orders", "environments": ["release"],
	    "apis": [{"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}]}]
	}`), usageplan.RegistryConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lim.Close(context.Background())
	mw, err := middleware.New(reg, lim, middleware.Config{
		Observer: func(_ context.Context, e *middleware.Event) {
			if e.Reason == middleware.RefusedNoAPI && e.Caller.Environment == "" {
				fmt.Println("observer: unknown environment:", e.Path)
			} else if e.Reason == middleware.RefusedNoAPI {
				fmt.Println("observer: no API in", e.Caller.Environment+":", e.Path)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := mw.Wrap(http.NotFoundHandler())
	for _, path := range []string{"/staging/orders/42", "/release/invoices/42"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// observer: unknown environment: /staging/orders/42
	// 404 {"message":"There is no api match uri[/staging/orders/42]."}
	// observer: no API in release: /release/invoices/42
	// 404 {"message":"There is no api match uri[/release/invoices/42]."}
}
