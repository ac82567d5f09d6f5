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
// (GET /DescribeApiUsagePlan?ServiceId=…) on a second listener, which
// answers only requests whose Host names it: its address, localhost:PORT
// on loopback (cloudapi.LoopbackHosts), and each -admin-host; it also
// serves Prometheus metrics on GET /metrics (docs/observability.md), and
// with -admin-id the old gateway's Cloud API 3.0 admin actions on POST /
// (the SecretKey in $PLANGUARD_ADMIN_SECRET; docs/admin-api.md) in place
// of the unsigned queries, which then answer 403. A bad
// config exits 1 with every problem.
//
// -managed keeps the registry in a journal (-state FILE.journal, or Redis
// with -redis) instead of the config file, which then only seeds an empty
// journal; the admin actions' writes apply through it
// (docs/control-plane.md).
//
// -legacy-date reproduces the old gateway, which never checked a signed
// Date header (X-Date is always checked): old clients that sign Date with
// a wrong clock keep working, but such a signature stays valid forever,
// so a captured request can be replayed at any time. Prefer fixing the
// clients' clocks, or moving them to X-Date.
//
// Connections are bounded in time and size: -read-header-timeout,
// -read-timeout (the whole request, body included), -write-timeout,
// -idle-timeout (a kept-alive connection between requests) and
// -max-header-bytes. It logs with log/slog to stderr (-log-level,
// -log-format text|json): start-up, config problems, store failures and
// recoveries (warn), refusals (debug), shutdown.
//
// SIGINT or SIGTERM shut it down gracefully: in-flight requests finish
// (within -shutdown-timeout), unused quota leases go back and the store is
// closed. SIGHUP re-reads -config and applies the difference atomically,
// keeping consumed quota, and logs what changed; an invalid file changes
// nothing (every problem is logged) and the server keeps serving what it
// served.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // carries the time zone database: plans name zones, and scratch or distroless images have none

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/middleware"
	planguardprom "github.com/planguard/planguard/observe/prometheus"
	"github.com/planguard/planguard/redisstore"
	"github.com/planguard/planguard/usageplan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// maxEchoBody bounds the body the echo handler reads (10 MiB).
const maxEchoBody = 10 << 20

type options struct {
	configPath, addr, env, state, admin, redis string
	adminID                                    string // with the secret of adminSecretEnv
	adminReadOnly                              bool
	adminHosts                                 []string
	failOpen, legacyDate, managed              bool
	timeouts                                   timeouts
	historyInterval                            time.Duration
}

// timeouts are the http.Server limits the flags set, for both listeners.
type timeouts struct {
	readHeader, read, write, idle, shutdown time.Duration
	maxHeaderBytes                          int
}

func (t timeouts) server(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read,
		WriteTimeout: t.write, IdleTimeout: t.idle, MaxHeaderBytes: t.maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// run serves until ctx ends and returns the exit code. ready, when set,
// receives the listening address, then the admin's when there is one.
// Logs go to stderr.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) int {
	// Before anything can take long: a SIGHUP that arrived while the
	// config loads must not kill the process either.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.configPath, "config", "", "config file (JSON; required unless -managed, where it seeds an empty journal)")
	fs.BoolVar(&o.managed, "managed", false, "keep the registry in a journal (-state FILE.journal, or Redis with -redis) instead of -config")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.env, "env", "", "fixed environment; empty: the first path segment names it")
	fs.StringVar(&o.state, "state", "", "bbolt file for durable quota usage; empty: in memory")
	fs.StringVar(&o.admin, "admin", "", "serve the Describe queries as JSON on this address (meant for loopback); with -admin-id, the signed Cloud API actions instead")
	fs.StringVar(&o.adminID, "admin-id", "", "serve the Cloud API 3.0 admin actions (POST /) on -admin to this SecretId; its SecretKey is read from $"+adminSecretEnv)
	fs.BoolVar(&o.adminReadOnly, "admin-read-only", false, "the -admin-id credential may only read (Describe actions)")
	fs.Var((*list)(&o.adminHosts), "admin-host", "a further Host value the admin listener accepts, as clients send it (name:port); repeatable; required when -admin listens on every address")
	fs.StringVar(&o.redis, "redis", "", "keep QPS and quota in Redis at this address (shared by instances)")
	fs.BoolVar(&o.failOpen, "fail-open", false, "serve requests when the quota store fails (default: 503)")
	fs.BoolVar(&o.legacyDate, "legacy-date", false, "do not check a signed Date header, as the old gateway (a signature that signs only Date never expires: replayable)")
	fs.DurationVar(&o.timeouts.readHeader, "read-header-timeout", 10*time.Second, "time to read a request's headers")
	fs.DurationVar(&o.timeouts.read, "read-timeout", time.Minute, "time to read a whole request, body included")
	fs.DurationVar(&o.timeouts.write, "write-timeout", time.Minute, "time from the end of a request's headers to the end of its response")
	fs.DurationVar(&o.timeouts.idle, "idle-timeout", 2*time.Minute, "time a kept-alive connection may wait for its next request")
	fs.DurationVar(&o.timeouts.shutdown, "shutdown-timeout", 10*time.Second, "time in-flight requests get to finish on SIGINT or SIGTERM")
	fs.IntVar(&o.timeouts.maxHeaderBytes, "max-header-bytes", 64<<10, "largest request header block, in bytes (431 beyond)")
	fs.DurationVar(&o.historyInterval, "history-interval", metering.DefaultFlushInterval, "how often the usage history is written to the store (the most a crash loses)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 2
	}
	switch {
	case o.configPath == "" && !o.managed:
		err = errors.New("-config is required (or -managed)")
	case o.managed && o.state == "" && o.redis == "":
		err = errors.New("-managed needs -state FILE (one node) or -redis ADDR (a fleet) to keep its journal")
	case o.state != "" && o.redis != "":
		err = errors.New("-state and -redis are exclusive")
	case o.adminID != "" && o.admin == "":
		err = errors.New("-admin-id needs -admin (the listener that serves it)")
	case o.adminID != "" && os.Getenv(adminSecretEnv) == "":
		err = fmt.Errorf("-admin-id needs its SecretKey in $%s (never a flag: flags show in ps)", adminSecretEnv)
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.historyInterval <= 0:
		err = fmt.Errorf("-history-interval must be positive, not %s", o.historyInterval)
	default:
		err = o.timeouts.check()
	}
	if err != nil {
		log.Error("bad flags", "err", err)
		return 2
	}
	if err := serve(ctx, o, log, hup, ready); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func (t timeouts) check() error {
	for name, d := range map[string]time.Duration{
		"-read-header-timeout": t.readHeader, "-read-timeout": t.read, "-write-timeout": t.write,
		"-idle-timeout": t.idle, "-shutdown-timeout": t.shutdown,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, not %s", name, d)
		}
	}
	if t.maxHeaderBytes < 1024 {
		return fmt.Errorf("-max-header-bytes must be at least 1024, not %d", t.maxHeaderBytes)
	}
	return nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// loadConfig reads the config file; every problem is logged on a line
// of its own.
func loadConfig(path string, log *slog.Logger) (*usageplan.Registry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reg, err := usageplan.LoadConfig(f, usageplan.RegistryConfig{})
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				log.Error("config problem", "file", path, "problem", line)
			}
		}
		return nil, fmt.Errorf("%s: invalid config", path)
	}
	return reg, nil
}

// serve runs the server (and the admin listener) until ctx ends. ready
// receives the server's address, then the admin's when there is one.
func serve(ctx context.Context, o options, log *slog.Logger, hup <-chan os.Signal, ready func(string)) (err error) {
	var reg *usageplan.Registry
	mode := []any{"mode", "declarative", "config", o.configPath}
	if o.managed {
		var closeReg func() error
		reg, mode, closeReg, err = openManaged(ctx, o, log)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, closeReg()) }()
	} else if reg, err = loadConfig(o.configPath, log); err != nil {
		return err
	}

	var store limiter.Store = &limiter.MemoryStore{}
	var history metering.HistoryStore = &metering.MemoryHistory{} // the usage history, beside the quota
	storeDesc := []any{"store", "memory"}
	if o.state != "" {
		bs, err := boltstore.Open(o.state, boltstore.Config{Create: true})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, bs.Close()) }()
		store, history, storeDesc = bs, bs, []any{"store", "bolt", "state", o.state}
	}
	if o.redis != "" {
		rs, err := redisstore.Dial(redis.Options{Addr: o.redis}, redisstore.Config{})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, rs.Close()) }()
		store, history, storeDesc = rs, rs, []any{"store", "redis", "redis", o.redis}
	}
	// The observer logs refusals (debug) and the store's failures and
	// recoveries (warn), and feeds the metrics served on the admin
	// listener's /metrics, which also count quota alerts.
	metrics := planguardprom.New(planguardprom.Config{Registry: reg})
	// Prefetch keeps decisions off the disk with -state; it changes
	// nothing for the other stores.
	lim, err := limiter.New(store, limiter.Config{Prefetch: o.state != "", OnAlert: alertHook(log, metrics)})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lim.Close(context.Background())) }()
	// The usage history is summed in memory and written every
	// -history-interval, and on the way out (before the store closes).
	meter, err := metering.NewRecorder(history, metering.Config{FlushInterval: o.historyInterval,
		OnError: func(err error) { log.Warn("usage history not written; kept for the next interval", "err", err) }})
	if err != nil {
		return err
	}
	meter.Start()
	defer func() { err = errors.Join(err, meter.Close(context.Background())) }()
	logged := middleware.LogObserver(log)
	mw, err := middleware.New(reg, lim, middleware.Config{Environment: o.env, FailOpen: o.failOpen,
		Verifier: keys.VerifierConfig{LegacyUncheckedDate: o.legacyDate},
		Meter:    meter,
		Observer: func(ctx context.Context, e *middleware.Event) {
			logged(ctx, e)
			metrics.Observe(ctx, e)
		}})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	servers := []*http.Server{o.timeouts.server(mw.Wrap(http.HandlerFunc(echo)), log)}
	listeners := []net.Listener{ln}
	if o.admin != "" {
		h, aln, err := adminListener(reg, lim, meter, metrics, o, log)
		if err != nil {
			ln.Close()
			return err
		}
		servers = append(servers, o.timeouts.server(h, log))
		listeners = append(listeners, aln)
	}

	snap := reg.Snapshot()
	attrs := append([]any{"addr", ln.Addr().String()}, mode...)
	attrs = append(attrs, "services", len(snap.Services()), "keys", snap.KeyCount(), "plans", snap.PlanCount())
	attrs = append(attrs, storeDesc...)
	if len(listeners) > 1 {
		attrs = append(attrs, "admin", listeners[1].Addr().String())
	}
	env := o.env
	if env == "" {
		env = "(first path segment)"
	}
	attrs = append(attrs, "env", env, "fail_open", o.failOpen, "legacy_date", o.legacyDate,
		"read_header_timeout", o.timeouts.readHeader, "read_timeout", o.timeouts.read,
		"write_timeout", o.timeouts.write, "idle_timeout", o.timeouts.idle,
		"max_header_bytes", o.timeouts.maxHeaderBytes)
	log.Info("serving", attrs...)
	if o.env != "" && !published(snap, o.env) {
		log.Warn("no service is published to the environment -env names: every request will be answered 404", "env", o.env)
	}

	done := make(chan error, len(servers))
	for i, srv := range servers {
		if ready != nil {
			ready(listeners[i].Addr().String())
		}
		go func() { done <- srv.Serve(listeners[i]) }()
	}
	for {
		select {
		case err := <-done:
			for _, srv := range servers {
				srv.Close()
			}
			return err
		case <-hup:
			if o.managed {
				log.Warn("SIGHUP ignored: in managed mode the journal holds the registry, not -config")
			} else {
				reloadConfig(reg, o.configPath, log)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info("shutting down", "timeout", o.timeouts.shutdown)
	shutdown, cancel := context.WithTimeout(context.Background(), o.timeouts.shutdown)
	defer cancel()
	for _, srv := range servers {
		err = errors.Join(err, srv.Shutdown(shutdown))
	}
	return err // the deferred calls close the limiter and the store
}

// adminListener listens on o.admin and returns the admin handler, which
// accepts as Host the listener's address, localhost:PORT when that is a
// loopback address (cloudapi.LoopbackHosts: the rule of the Cloud API
// admin too), and every -admin-host. A listener on all addresses
// (0.0.0.0, ::) has no address of its own that clients send: it needs
// -admin-host.
func adminListener(reg *usageplan.Registry, lim *limiter.Limiter, history cloudapi.History, metrics prometheus.Collector, o options, log *slog.Logger) (http.Handler, net.Listener, error) {
	if host, _, err := net.SplitHostPort(o.admin); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) && len(o.adminHosts) == 0 {
		return nil, nil, fmt.Errorf("-admin %s listens on every address: name the Host values its clients send with -admin-host", o.admin)
	}
	aln, err := net.Listen("tcp", o.admin)
	if err != nil {
		return nil, nil, err
	}
	addr := aln.Addr().String()
	var hosts []string
	if ip := aln.Addr().(*net.TCPAddr).IP; !ip.IsUnspecified() {
		if hosts, err = cloudapi.LoopbackHosts(addr); err != nil {
			aln.Close()
			return nil, nil, err
		}
	}
	hosts = append(hosts, o.adminHosts...)
	var h http.Handler
	switch {
	case o.adminID != "":
		if !isLoopback(addr) {
			log.Warn("the admin listener is not on loopback: its actions are signed, but /metrics is not", "admin", addr)
		}
		h, err = withCloudAPI(reg, lim, history, hosts, o, log)
	default:
		if !isLoopback(addr) {
			log.Warn("the admin listener is not on loopback: it has no authentication, and anyone who reaches it reads every plan and key ID",
				"admin", addr)
		}
		usage := middleware.LimiterUsage(lim, reg.Snapshot, nil)
		h, err = middleware.NewAdmin(reg, usage, middleware.AdminConfig{Hosts: hosts, Logger: log})
	}
	if err != nil {
		aln.Close()
		return nil, nil, err
	}
	return withMetrics(h, metrics, hosts), aln, nil
}

// withMetrics serves GET /metrics (Prometheus: planguard's metrics, the
// Go runtime's and the process's) beside admin, under the admin's Host
// rule.
func withMetrics(admin http.Handler, metrics prometheus.Collector, hosts []string) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	scrape := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	// No ServeMux: it would answer a non-canonical path ("//",
	// "/metrics/../metrics") with its own redirect, for any Host, before
	// either handler ran. The Host comes first (but on /, where the
	// admin handler refuses a foreign Host in its own terms: the Cloud
	// API envelope), then the path, exactly: /metrics is the scrape, and
	// the admin handler answers every other path (with -admin-id: 403
	// but for POST /).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			admin.ServeHTTP(w, r)
			return
		}
		if !slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, r.Host) }) {
			http.Error(w, "the Host header does not name this admin listener", http.StatusMisdirectedRequest)
			return
		}
		if r.URL.Path != "/metrics" {
			admin.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		scrape.ServeHTTP(w, r)
	})
}

// isLoopback reports whether addr (host:port) is bound to a loopback IP.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// echo answers 200 with the API, plan and key the middleware matched. It
// reads the whole body (up to maxEchoBody; 413 beyond), so that the
// connection can be reused or closed cleanly.
func echo(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxEchoBody))
	if err != nil {
		status := http.StatusBadRequest
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	c, _ := middleware.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	out := map[string]string{
		"service": c.Service, "environment": c.Environment,
		"api": c.API.ID, "apiName": c.API.Name, "path": r.URL.Path,
		"bodyBytes": strconv.FormatInt(n, 10),
	}
	if c.Plan != nil { // nil for APIs with auth NONE
		out["plan"], out["planName"], out["secretId"] = c.Plan.ID, c.Plan.Name, c.SecretID
	}
	_ = json.NewEncoder(w).Encode(out)
}

// published reports whether some service of snap is published to env.
func published(snap *usageplan.Snapshot, env string) bool {
	for _, s := range snap.Services() {
		if slices.Contains(s.Environments, env) {
			return true
		}
	}
	return false
}

// alertHook logs each quota alert as one line naming the plan, the key
// (secret_id) and the threshold, and counts it in metrics (by plan and
// threshold). It runs on the request's goroutine; both are quick.
func alertHook(log *slog.Logger, metrics *planguardprom.Collector) func(limiter.Alert) {
	return func(a limiter.Alert) {
		attrs := []any{"plan", a.Plan, "secret_id", a.Key, "threshold", a.Threshold, "used", a.Used, "quota", a.Quota}
		if !a.Period.IsZero() {
			attrs = append(attrs, "period", a.Period.Format(time.RFC3339))
		}
		log.Info("quota alert", attrs...)
		metrics.Alert(a)
	}
}
