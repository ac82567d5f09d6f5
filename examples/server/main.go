// Command server serves a planguard config file's services behind the
// middleware, with a handler that answers 200 and echoes the matched API,
// plan and key as JSON.
//
//	go run ./examples/server -config planguard.json -addr 127.0.0.1:8080 [-env release] [-state usage.db | -redis 127.0.0.1:6379] [-admin 127.0.0.1:8081]
//
// Without -env, the first path segment names the environment
// (/release/orders). With -state, quota usage is kept in a durable bbolt
// file; -redis ADDR keeps QPS and quota in Redis, exact across
// instances; without either, in memory. -admin serves the Describe queries
// (GET /DescribeApiUsagePlan?ServiceId=…) on a second listener. A bad
// config exits 1 with every problem.
// -legacy-date reproduces the old gateway, which never checked a signed
// Date header (X-Date is always checked): old clients that sign Date with
// a wrong clock keep working, but such a signature stays valid forever,
// so a captured request can be replayed at any time. Prefer fixing the
// clients' clocks, or moving them to X-Date.
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
	_ "time/tzdata" // carries the time zone database: plans name zones, and scratch or distroless images have none

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/boltstore"
	"github.com/planguard/planguard/limiter/redisstore"
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
	admin := fs.String("admin", "", "serve the Describe queries as JSON on this address (meant for loopback)")
	redisAddr := fs.String("redis", "", "keep QPS and quota in Redis at this address (shared by instances)")
	failOpen := fs.Bool("fail-open", false, "serve requests when the quota store fails (default: 503)")
	legacyDate := fs.Bool("legacy-date", false, "do not check a signed Date header, as the old gateway (a signature that signs only Date never expires: replayable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "server: -config is required")
		return 2
	}
	if *state != "" && *redisAddr != "" {
		fmt.Fprintln(stderr, "server: -state and -redis are exclusive")
		return 2
	}
	if err := serve(ctx, options{*configPath, *addr, *env, *state, *admin, *redisAddr, *failOpen, *legacyDate}, ready); err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 1
	}
	return 0
}

type options struct {
	configPath, addr, env, state, admin, redis string
	failOpen, legacyDate                       bool
}

// serve runs the server (and the admin listener) until ctx ends. ready
// receives the server's address, then the admin's when there is one.
func serve(ctx context.Context, o options, ready func(string)) (err error) {
	configPath, addr, env, state := o.configPath, o.addr, o.env, o.state
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
	if o.redis != "" {
		rs, err := redisstore.Dial(redis.Options{Addr: o.redis}, redisstore.Options{})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, rs.Close()) }()
		store = rs
	}
	// Prefetch keeps decisions off the disk with -state; it changes
	// nothing for the other stores.
	lim, err := limiter.New(store, limiter.Config{Prefetch: state != ""})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lim.Close(context.Background())) }()
	mw, err := middleware.New(reg, lim, middleware.Config{Environment: env, FailOpen: o.failOpen,
		Verifier: keys.VerifierConfig{LegacyUncheckedDate: o.legacyDate}})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	servers := []*http.Server{{Handler: mw(http.HandlerFunc(echo)), ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{ln}
	if o.admin != "" {
		aln, err := net.Listen("tcp", o.admin)
		if err != nil {
			ln.Close()
			return err
		}
		usage := middleware.LimiterUsage(lim, reg.Snapshot, nil)
		servers = append(servers, &http.Server{Handler: middleware.NewAdmin(reg, usage), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, aln)
	}
	done := make(chan error, len(servers))
	for i, srv := range servers {
		if ready != nil {
			ready(listeners[i].Addr().String())
		}
		go func() { done <- srv.Serve(listeners[i]) }()
	}
	select {
	case err := <-done:
		for _, srv := range servers {
			srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		err = errors.Join(err, srv.Shutdown(shutdown))
	}
	return err
}

// echo answers 200 with the API, plan and key the middleware matched.
func echo(w http.ResponseWriter, r *http.Request) {
	c, _ := middleware.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	out := map[string]string{
		"service": c.Service, "environment": c.Environment,
		"api": c.API.ID, "apiName": c.API.Name, "path": r.URL.Path,
	}
	if c.Plan != nil { // nil for APIs with auth NONE
		out["plan"], out["planName"], out["secretId"] = c.Plan.ID, c.Plan.Name, c.SecretID
	}
	_ = json.NewEncoder(w).Encode(out)
}
