// Package redisstore is a limiter.SharedStore on Redis: QPS and quota
// exact across every instance that shares one Redis, a Ring of Redis
// servers, or a Redis Cluster. Most users want Dial, or New with a client
// they built, and then limiter.New with the store.
//
// Each decision is one atomic Lua script: it checks the store's epoch
// marker (see below) and, all or nothing, takes a token from each of the
// request's buckets (throttle, QPS, windows: one key each, holding the
// bucket's theoretical arrival time on the server's clock and expiring
// when the bucket is full again) and its units from the quota, if every
// one of them has it. Counting per request, not in leases, was chosen by
// measurement (BENCHMARKS.md): a lease would save no round trip, since
// QPS must be checked on the server anyway, and would strand quota in
// instances.
//
// # Round trips
//
// Concurrent calls share round trips: a call joins a queue, and up to
// Config.Pipelines pipelines per store are in flight, each carrying up
// to Config.MaxBatch queued scripts (EVALSHA) in one round trip. A lone
// call is sent at once; under load, the calls that arrive while a
// pipeline is out go together in the next. No goroutine runs while no
// call is in flight; Close waits for those that are.
//
// # Timeouts and what a failure means
//
// Every call returns by Config.Timeout (100 ms by default) or the
// context's deadline, whichever is first, whatever the client's socket
// timeouts: the caller stops waiting at its deadline, not when the socket
// gives up. What a failed decision means for the count:
//
//   - not sent (its deadline passed while it waited for a pipeline, or
//     Redis could not be reached; the error says "not sent"): nothing was
//     counted;
//   - sent, and no reply in time (ErrUnconfirmed) or the connection
//     failed: the script may have run, or may still run when a slow Redis
//     gets to it, so the request may be counted although it was refused;
//   - ErrDataLoss: nothing was counted.
//
// The middleware answers a failure with 503 (fail closed, the default) or
// serves the request (fail open). A script either runs entirely or not
// at all, so no count is ever torn or doubled: the store sends a script
// again only after Redis answered NOSCRIPT (it did not run), and New
// refuses a client that retries commands, since a retried script whose
// first reply was lost would count twice.
//
// # Keys and expiry
//
// Keys are namespaced ("pg:" by default) and hash-tagged per (plan, key),
// so the buckets and counters of a (plan, key) live in one Cluster slot;
// each bucket ("...:b:<bucket ID>") and the quota use different keys.
// Buckets expire once idle long enough to be full again; the counter of a calendar period expires a week after the
// period's longest possible end; the counter of a Total quota never
// expires (it never resets): usage is forgotten by SetUsage with 0 (the
// limiter's ResetUsage), which deletes the counter.
//
// # Data loss
//
// Redis that restarts without its data (no persistence, or a failover to
// a replica that had not caught up) would forget every count and admit
// every quota afresh. The store detects it: it writes an epoch marker
// beside the data (one per server; on a Cluster one per hash slot) and
// every decision's script checks it atomically. A marker that is gone,
// or replaced by another store's new epoch, means the data was lost:
// decisions fail with ErrDataLoss on every instance — including
// instances started later — until an operator calls AcknowledgeDataLoss.
// A loss that happens while no instance is running cannot be detected:
// the first instance to start initialises a new epoch. Deployments
// should run Redis with the persistence docs/operations.md describes.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

var (
	_ limiter.Store       = (*Store)(nil)
	_ limiter.SharedStore = (*Store)(nil)
)

// Defaults of Config.
const (
	DefaultTimeout   = 100 * time.Millisecond
	DefaultPipelines = 4
	DefaultMaxBatch  = 256
)

// Config configures New and Dial; the zero value is the documented
// default.
type Config struct {
	// Prefix namespaces every key; empty means "pg:".
	Prefix string
	// Timeout bounds each call, from the moment it is made to its reply,
	// waiting for a pipeline included; 0 means DefaultTimeout (100 ms).
	Timeout time.Duration
	// Pipelines is how many pipelines the store keeps in flight at once,
	// each on its own connection; 0 means DefaultPipelines (4). The
	// client's pool must hold at least this many connections (go-redis's
	// default pool holds 10 per CPU).
	Pipelines int
	// MaxBatch is the most calls one pipeline carries; 0 means
	// DefaultMaxBatch (256).
	MaxBatch int
}

// Store is the Redis store, made by New or Dial (its zero value is not
// usable). It is safe for concurrent use. Close it when done: it waits
// for the calls in flight and closes a client that Dial made.
type Store struct {
	rdb       redis.UniversalClient
	owned     bool // Dial made rdb: Close closes it
	prefix    string
	node      string // the per-server epoch marker, prefix + "epoch:node"
	timeout   time.Duration
	pipelines int
	maxBatch  int
	batch     batcher
	epoch     epoch
	// clock, set only by the package's tests, replaces the server's
	// clock for the buckets (see take.lua), so that step tables can
	// advance time.
	clock func() time.Time
}

// ErrRetries is returned by New for a client that retries commands: a
// retried script whose first reply was lost would count twice.
var ErrRetries = errors.New("redisstore: the client retries commands; set MaxRetries to -1")

// New returns a store on rdb: a *redis.Client, *redis.Ring or
// *redis.ClusterClient with MaxRetries -1. It does not contact Redis.
// Set ContextTimeoutEnabled on the client's options so that its
// connections, too, give up at each call's deadline; without it the
// store still answers by the deadline, but a connection stays busy until
// the client's ReadTimeout.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if retries(rdb) {
		return nil, ErrRetries
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, errors.New("redisstore: Prefix must not contain { or }: the store hash-tags its keys")
	}
	if cfg.Timeout < 0 || cfg.Pipelines < 0 || cfg.MaxBatch < 0 {
		return nil, errors.New("redisstore: Timeout, Pipelines and MaxBatch must not be negative")
	}
	s := &Store{rdb: rdb, prefix: cfg.Prefix, timeout: cfg.Timeout, pipelines: cfg.Pipelines, maxBatch: cfg.MaxBatch}
	if s.prefix == "" {
		s.prefix = "pg:"
	}
	s.node = s.prefix + "epoch:node"
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.pipelines == 0 {
		s.pipelines = DefaultPipelines
	}
	if s.maxBatch == 0 {
		s.maxBatch = DefaultMaxBatch
	}
	return s, nil
}

// Dial returns a store on a new *redis.Client made from o (its address,
// credentials, TLS...) with what the store needs: no retries (MaxRetries
// -1; a positive MaxRetries is ErrRetries), socket deadlines that follow
// each call's deadline (ContextTimeoutEnabled), and a pool of at least
// Config.Pipelines + 2 connections (one pipeline per connection, and
// room for PlanUsage). The store owns the client: Close closes it.
func Dial(o redis.Options, cfg Config) (*Store, error) {
	if o.MaxRetries > 0 {
		return nil, ErrRetries
	}
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	pipelines := cfg.Pipelines
	if pipelines == 0 {
		pipelines = DefaultPipelines
	}
	switch {
	case o.PoolSize == 0:
		o.PoolSize = max(10*runtime.GOMAXPROCS(0), pipelines+2) // go-redis's default, or enough
	case o.PoolSize < pipelines+2:
		return nil, fmt.Errorf("redisstore: PoolSize %d is below Config.Pipelines + 2 (%d)", o.PoolSize, pipelines+2)
	}
	rdb := redis.NewClient(&o)
	s, err := New(rdb, cfg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Close waits for the calls in flight (each ends by its deadline, its
// pipeline when the client's socket deadline passes) and closes the
// client if Dial made it. Calls after Close fail with
// limiter.ErrStoreClosed. Close is idempotent.
func (s *Store) Close() error {
	if !s.batch.close() {
		return nil
	}
	if s.owned {
		return s.rdb.Close()
	}
	return nil
}

func retries(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().MaxRetries > 0
	case *redis.ClusterClient:
		return c.Options().MaxRetries > 0
	case *redis.Ring:
		return c.Options().MaxRetries > 0
	}
	return false
}

// hashTag is the hash tag shared by all keys of (plan, key); the plan's
// length makes "a"+"bc" and "ab"+"c" different.
func hashTag(plan, key string) string {
	return strconv.Itoa(len(plan)) + ":" + plan + "/" + key
}

func (s *Store) tag(plan, key string) string {
	return s.prefix + "{" + hashTag(plan, key) + "}"
}

func (s *Store) quotaKey(c limiter.Counter) string {
	return s.tag(c.Plan, c.Key) + ":q:" + strconv.FormatInt(c.Window, 10)
}

// bucketKey is the key of bucket id of c's (plan, key).
func (s *Store) bucketKey(c limiter.Counter, id string) string {
	return s.tag(c.Plan, c.Key) + ":b:" + id
}

// expireAt is when c's counter may go, in Unix seconds: a week after the
// longest period (31 days) that starts at c.Window; 0 (never) for Total.
func expireAt(c limiter.Counter) int64 {
	if c.Window == 0 {
		return 0
	}
	return c.Window + int64((31+7)*24*time.Hour/time.Second)
}

var (
	//go:embed take.lua
	takeSource string
	takeScript = newCountingScript(takeSource)

	//go:embed reserve.lua
	reserveSource string
	reserveScript = newCountingScript(reserveSource)

	//go:embed release.lua
	releaseSource string
	releaseScript = newCountingScript(releaseSource)
)

// countingScript is a script that counts (take, reserve, release): run
// twice, it counts twice. Its commands go out as noRetry.
type countingScript struct{ src, sha string }

func newCountingScript(src string) countingScript {
	return countingScript{src: src, sha: redis.NewScript(src).Hash()}
}

// noRetry is a command that go-redis must not send again after a
// network error, since it may have run before its reply was lost. A
// *redis.Client or *redis.Ring with MaxRetries -1 never resends (New
// checks it), but a *redis.ClusterClient resends a pipeline after a
// network error up to MaxRedirects times, whatever its MaxRetries,
// unless a command in it reports NoRetry. MOVED and ASK redirects,
// which mean that the command did not run, are still followed.
type noRetry struct{ *redis.Cmd }

func (noRetry) NoRetry() bool { return true }

// runScript queues script on p as EVALSHA, or EVAL if eval, as a
// noRetry command, and returns the command, which p's Exec fills.
func runScript(p redis.Pipeliner, script countingScript, eval bool, keys []string, args ...any) redis.Cmder {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	if eval {
		cmdArgs = append(cmdArgs, "eval", script.src)
	} else {
		cmdArgs = append(cmdArgs, "evalsha", script.sha)
	}
	cmdArgs = append(cmdArgs, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(context.Background(), cmdArgs...)
	_ = p.Process(context.Background(), noRetry{cmd}) // a pipeline queues it: no error until Exec
	return cmd
}

// Take implements limiter.SharedStore in one script, all or nothing,
// sharing its round trip with concurrent calls. Buckets are decided on
// the Redis server's clock. It fails with ErrDataLoss while a loss of
// Redis's data is unacknowledged.
func (s *Store) Take(ctx context.Context, t limiter.Take) (limiter.TakeResult, error) {
	if t.Quota < limiter.Unlimited || t.Units < 0 {
		return limiter.TakeResult{}, fmt.Errorf("redisstore: Take(units %d, quota %d): quota must be Unlimited or at least 0, units at least 0", t.Units, t.Quota)
	}
	c := t.Counter
	quota := s.quotaKey(c)
	keys := make([]string, 0, 2+len(t.Buckets))
	keys = append(keys, quota, s.markerOf(quota))
	if t.Charge && len(t.Buckets) > 0 || len(t.Alerts) > limiter.MaxAlerts {
		return limiter.TakeResult{}, fmt.Errorf("redisstore: Take: a charge with %d buckets, or %d alert levels (at most %d)", len(t.Buckets), len(t.Alerts), limiter.MaxAlerts)
	}
	charge := 0
	if t.Charge {
		charge = 1
	}
	now := ""
	if s.clock != nil {
		now = strconv.FormatInt(s.clock().UnixMicro(), 10)
	}
	args := make([]any, 0, 7+len(t.Alerts)+2*len(t.Buckets))
	args = append(args, t.Units, t.Quota, expireAt(c), "", now, charge, len(t.Alerts)) // the epoch, once learnt (see build)
	for _, lv := range t.Alerts {
		args = append(args, lv)
	}
	for _, b := range t.Buckets {
		if b.ID == "" || b.Interval < 1 || b.Burst < 1 {
			return limiter.TakeResult{}, fmt.Errorf("redisstore: bucket %+v: an ID, an interval of at least 1 ns and a burst of at least 1", b)
		}
		keys = append(keys, s.bucketKey(c, b.ID))
		args = append(args, strconv.FormatFloat(float64(b.Interval)/float64(time.Microsecond), 'g', -1, 64), b.Burst)
	}
	cmd, err := s.do(ctx, func(p redis.Pipeliner, eval bool) redis.Cmder {
		args[3] = s.epoch.current()
		return runScript(p, takeScript, eval, keys, args...)
	})
	if err != nil {
		return limiter.TakeResult{}, err
	}
	res, err := cmd.(*redis.Cmd).Slice()
	if err != nil {
		return limiter.TakeResult{}, wrap(err)
	}
	bad := func() (limiter.TakeResult, error) {
		return limiter.TakeResult{}, fmt.Errorf("redisstore: unexpected script reply %v", res)
	}
	if len(res) < 3 {
		return bad()
	}
	status, ok1 := res[0].(int64)
	used, ok2 := res[1].(int64)
	epoch, ok3 := res[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return bad()
	}
	if status < 0 {
		return limiter.TakeResult{}, ErrDataLoss
	}
	if len(res) != 5+4*len(t.Buckets) {
		return bad()
	}
	crossed, ok1 := res[3].(int64)
	charged, ok2 := res[4].(int64)
	if !ok1 || !ok2 {
		return bad()
	}
	s.epoch.adopt(epoch)
	r := limiter.TakeResult{Allowed: status == 1, Used: used, Charged: charged, Crossed: uint64(crossed), Buckets: make([]limiter.BucketState, len(t.Buckets))}
	for i := range t.Buckets {
		var v [4]int64
		for j := range v {
			n, ok := res[5+4*i+j].(int64)
			if !ok {
				return bad()
			}
			v[j] = n
		}
		r.Buckets[i] = limiter.BucketState{OK: v[0] == 1, Remaining: v[1], Wait: time.Duration(v[2]) * time.Microsecond, Reset: time.Duration(v[3]) * time.Microsecond}
	}
	return r, nil
}

// Reserve implements limiter.Store (quota only, no bucket).
func (s *Store) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (granted, used int64, err error) {
	if limit < 0 || n < 0 {
		return 0, 0, fmt.Errorf("redisstore: Reserve(n %d, limit %d): both must be at least 0", n, limit)
	}
	quota := s.quotaKey(c)
	keys := []string{quota, s.markerOf(quota)}
	exp := expireAt(c)
	cmd, err := s.do(ctx, func(p redis.Pipeliner, eval bool) redis.Cmder {
		return runScript(p, reserveScript, eval, keys, n, limit, exp, s.epoch.current())
	})
	if err != nil {
		return 0, 0, err
	}
	res, err := cmd.(*redis.Cmd).Slice()
	if err != nil {
		return 0, 0, wrap(err)
	}
	var r [3]int64
	var epoch string
	ok := len(res) == 4
	for i := 0; ok && i < 3; i++ {
		r[i], ok = res[i].(int64)
	}
	if ok {
		epoch, ok = res[3].(string)
	}
	if !ok {
		return 0, 0, fmt.Errorf("redisstore: unexpected script reply %v", res)
	}
	if r[0] < 0 {
		return 0, 0, ErrDataLoss
	}
	s.epoch.adopt(epoch)
	return r[1], r[2], nil
}

// Release implements limiter.Store.
func (s *Store) Release(ctx context.Context, c limiter.Counter, n int64) error {
	keys := []string{s.quotaKey(c)}
	exp := expireAt(c)
	cmd, err := s.do(ctx, func(p redis.Pipeliner, eval bool) redis.Cmder {
		return runScript(p, releaseScript, eval, keys, n, exp)
	})
	if err != nil {
		return err
	}
	return wrap(cmd.Err())
}

// SetUsage implements limiter.Store. Setting 0 deletes the counter.
// SetUsage works while a data loss is unacknowledged, so that an
// operator can restore counts before acknowledging.
func (s *Store) SetUsage(ctx context.Context, c limiter.Counter, used int64) error {
	key := s.quotaKey(c)
	var ttl time.Duration // 0: no expiry
	if exp := expireAt(c); exp != 0 {
		ttl = time.Until(time.Unix(exp, 0))
		if ttl <= 0 {
			used = 0 // a period that long ended
		}
	}
	cmd, err := s.do(ctx, func(p redis.Pipeliner, _ bool) redis.Cmder {
		if used <= 0 {
			return p.Del(context.Background(), key)
		}
		return p.Set(context.Background(), key, used, ttl)
	})
	if err != nil {
		return err
	}
	return wrap(cmd.Err())
}

// Usage implements limiter.Store.
func (s *Store) Usage(ctx context.Context, c limiter.Counter) (int64, error) {
	key := s.quotaKey(c)
	cmd, err := s.do(ctx, func(p redis.Pipeliner, _ bool) redis.Cmder {
		return p.Get(context.Background(), key)
	})
	if err != nil {
		return 0, err
	}
	n, err := cmd.(*redis.StringCmd).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, wrap(err)
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %w", err)
}
