// Command quickstart shows planguard end to end in one process: it starts
// a server on a free loopback port, creates a key and a plan (2 QPS, 5
// requests of quota), sends signed requests with the client signer and
// prints what each got — 200s, then 429s — and exits 0.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

func main() {
	if err := run(os.Stdout, time.Now, time.Sleep); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run is the demo; now and wait are the clock, so that its test needs no
// real waiting.
func run(out io.Writer, now func() time.Time, wait func(time.Duration)) error {
	// 1. The registry: a service with one API, a key, and a plan.
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	svc, err := reg.PutService(usageplan.Service{
		Name: "orders", Environments: []string{usageplan.EnvRelease},
		APIs: []usageplan.API{{Name: "getOrder", Method: "GET", Path: "/orders/{id}"}},
	})
	if err != nil {
		return err
	}
	key, err := reg.GenerateKey("quickstart")
	if err != nil {
		return err
	}
	plan, err := reg.CreatePlan(usageplan.Plan{
		Name: "starter", QPS: 2, Quota: 5,
		Bindings: []binding.Target{{Service: svc.ID, Environment: usageplan.EnvRelease}},
	}, key.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "key %s bound to plan %s (%d QPS, quota %d)\n", key.ID, plan.Name, plan.QPS, plan.Quota)

	// 2. The server: the middleware in front of a handler.
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		return err
	}
	defer lim.Close(context.Background())
	mw, err := middleware.New(reg, lim, middleware.Config{Now: now})
	if err != nil {
		return err
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read what the client sent (a body left unread makes the server
		// reset a connection it closes; see docs/responses.md).
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20))
		c, _ := middleware.FromContext(r.Context())
		fmt.Fprintf(w, "order %s for %s", r.PathValue("id"), c.SecretID)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mw.Wrap(handler), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	// 3. A client that signs every request.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &keys.Transport{
		Signer: &keys.Signer{ID: key.ID, Secret: key.Secret, Source: "quickstart"},
		Now:    now,
	}}
	url := "http://" + ln.Addr().String() + "/release/orders/42"
	codes := map[int]int{}
	for i := 1; i <= 8; i++ {
		if i == 3 || i == 5 {
			wait(time.Second) // let the 2-QPS bucket refill
		}
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		msg := string(body)
		if resp.StatusCode != http.StatusOK {
			var refusal struct{ Message string }
			_ = json.Unmarshal(body, &refusal)
			msg = refusal.Message
		}
		fmt.Fprintf(out, "request %d: %d %-28s quota %s\n", i, resp.StatusCode, msg, resp.Header.Get(middleware.HeaderQuota))
	}
	if codes[http.StatusOK] != 5 || codes[http.StatusTooManyRequests] != 3 {
		return fmt.Errorf("unexpected results %v", codes)
	}
	return nil
}
