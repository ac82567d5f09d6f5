// Command server serves a planguard config file's services behind the
// middleware, with a handler that answers 200 and echoes the matched API,
// plan and key as JSON.
//
//	go run ./examples/server -config planguard.json -addr 127.0.0.1:8080 [-env release] [-state usage.db]
//
// Without -env, the first path segment names the environment
// (/release/orders). With -state, quota usage is kept in a durable bbolt
// file; without it, in memory. A bad config exits 1 with every problem.
// SIGINT or SIGTERM shut it down gracefully: in-flight requests finish,
// unused quota leases go back and the store is closed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/boltstore"
	"github.com/planguard/planguard/middleware"
	"github.com/planguard/planguard/usageplan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// run serves until ctx ends and returns the exit code. ready, when set,
// receives the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (JSON, required)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	env := fs.String("env", "", "fixed environment; empty: the first path segment names it")
	state := fs.String("state", "", "bbolt file for durable quota usage; empty: in memory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "server: -config is required")
		return 2
	}
	if err := serve(ctx, *configPath, *addr, *env, *state, ready); err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, configPath, addr, env, state string, ready func(string)) (err error) {
	f, err := os.Open(configPath)
	if err != nil {
		return err
	}
	reg, err := usageplan.LoadConfig(f, usageplan.Options{})
	f.Close()
	if err != nil {
		return fmt.Errorf("%s:\n%w", configPath, err)
	}

	var store limiter.Store = &limiter.MemoryStore{}
	if state != "" {
		bs, err := boltstore.Open(state, boltstore.Options{})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, bs.Close()) }()
		store = bs
	}
	lim, err := limiter.New(store, limiter.Config{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lim.Close(context.Background())) }()
	mw, err := middleware.New(reg, lim, middleware.Config{Environment: env})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mw(http.HandlerFunc(echo)), ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// echo answers 200 with the API, plan and key the middleware matched.
func echo(w http.ResponseWriter, r *http.Request) {
	c, _ := middleware.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"service": c.Service, "environment": c.Environment,
		"api": c.API.ID, "apiName": c.API.Name, "path": r.URL.Path,
		"plan": c.Plan.ID, "planName": c.Plan.Name, "secretId": c.SecretID,
	})
}
