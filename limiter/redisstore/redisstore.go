// Package redisstore is a limiter.SharedStore on Redis: QPS and quota
// exact across every instance that shares one Redis (or Redis Cluster).
//
// Each decision is one round trip: an atomic Lua script takes a token
// from the (plan, key) bucket on the server's clock and, if it got one,
// counts the request against the quota with a cap. Counting per request,
// not in leases, was chosen by measurement (BENCHMARKS.md): a lease would
// save no round trip, since QPS must be checked on the server anyway, and
// would strand quota in instances.
//
// Keys are namespaced ("pg:" by default) and hash-tagged per (plan, key),
// so a bucket and its counters live in one Cluster slot; QPS and quota
// use different keys. Every key gets a TTL in the same script that
// writes it: buckets expire once idle long enough to be full again,
// period counters a week after their period's longest possible end,
// total counters Options.TotalTTL after their last write.
//
// When Redis fails, calls return errors within Options.Timeout; the
// middleware then fails closed (503) or open, as configured. A script
// either ran entirely or not at all, so recovery loses and doubles no
// count — provided the client does not retry a call whose reply was lost:
// New refuses a client with retries enabled.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
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

// Options configure New; the zero value is the documented default.
type Options struct {
	// Prefix namespaces every key; empty means "pg:".
	Prefix string
	// Timeout bounds each call; 0 means 100 ms.
	Timeout time.Duration
	// TotalTTL is how long a counter of a Total quota lives after its
	// last write; 0 means 400 days.
	TotalTTL time.Duration
}

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	timeout  time.Duration
	totalTTL time.Duration
}

// ErrRetries is returned by New for a client that retries commands: a
// retried script whose first reply was lost would count twice.
var ErrRetries = errors.New("redisstore: the client retries commands; set MaxRetries to -1")

// New returns a store on rdb (a *redis.Client, *redis.ClusterClient or
// *redis.Ring with MaxRetries -1). It does not contact Redis.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if retries(rdb) {
		return nil, ErrRetries
	}
	s := &Store{rdb: rdb, prefix: opts.Prefix, timeout: opts.Timeout, totalTTL: opts.TotalTTL}
	if s.prefix == "" {
		s.prefix = "pg:"
	}
	if s.timeout <= 0 {
		s.timeout = 100 * time.Millisecond
	}
	if s.totalTTL <= 0 {
		s.totalTTL = 400 * 24 * time.Hour
	}
	return s, nil
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

// tag is the hash-tagged part shared by all keys of (plan, key); the
// plan's length makes "a"+"bc" and "ab"+"c" different.
func (s *Store) tag(plan, key string) string {
	return s.prefix + "{" + strconv.Itoa(len(plan)) + ":" + plan + "/" + key + "}"
}

func (s *Store) quotaKey(c limiter.Counter) string {
	return s.tag(c.Plan, c.Key) + ":q:" + strconv.FormatInt(c.Window, 10)
}

func (s *Store) bucketKey(c limiter.Counter) string { return s.tag(c.Plan, c.Key) + ":b" }

// expireAt is when c's counter may go: a week after the longest period
// (31 days) that starts at c.Window, or TotalTTL from now for Total.
func (s *Store) expireAt(c limiter.Counter) int64 {
	if c.Window == 0 {
		return time.Now().Add(s.totalTTL).Unix()
	}
	return c.Window + int64((31+7)*24*time.Hour/time.Second)
}

//go:embed take.lua
var takeSource string

var takeScript = redis.NewScript(takeSource)

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Take implements limiter.SharedStore in one round trip.
func (s *Store) Take(ctx context.Context, c limiter.Counter, qps, n, limit int64) (limiter.TakeResult, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := takeScript.Run(ctx, s.rdb, []string{s.bucketKey(c), s.quotaKey(c)},
		qps, n, limit, s.expireAt(c)).Int64Slice()
	if err != nil {
		return limiter.TakeResult{}, fmt.Errorf("redisstore: %w", err)
	}
	if len(res) != 4 {
		return limiter.TakeResult{}, fmt.Errorf("redisstore: unexpected script reply %v", res)
	}
	return limiter.TakeResult{
		QPSAllowed: res[0] == 1, RetryAfter: time.Duration(res[1]) * time.Microsecond,
		Granted: res[2], Used: res[3],
	}, nil
}

// Reserve implements limiter.Store (quota only, no bucket).
func (s *Store) Reserve(ctx context.Context, c limiter.Counter, n, limit int64) (granted, used int64, err error) {
	r, err := s.Take(ctx, c, limiter.Unlimited, n, limit)
	return r.Granted, r.Used, err
}

var releaseScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used == 0 then return 0 end
local left = math.max(used - tonumber(ARGV[1]), 0)
redis.call('SET', KEYS[1], left, 'EXAT', ARGV[2])
return left`)

// Release implements limiter.Store.
func (s *Store) Release(ctx context.Context, c limiter.Counter, n int64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return wrap(releaseScript.Run(ctx, s.rdb, []string{s.quotaKey(c)}, n, s.expireAt(c)).Err())
}

// SetUsage implements limiter.Store.
func (s *Store) SetUsage(ctx context.Context, c limiter.Counter, used int64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return wrap(s.rdb.Set(ctx, s.quotaKey(c), max(used, 0), time.Until(time.Unix(s.expireAt(c), 0))).Err())
}

// Usage implements limiter.Store.
func (s *Store) Usage(ctx context.Context, c limiter.Counter) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.rdb.Get(ctx, s.quotaKey(c)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, wrap(err)
}

// PlanUsage implements limiter.Store. It scans for the plan's counters
// (on every master of a Cluster), so it suits reports, not request paths.
func (s *Store) PlanUsage(ctx context.Context, plan string, window int64) (map[string]int64, error) {
	head := s.prefix + "{" + strconv.Itoa(len(plan)) + ":" + plan + "/"
	tail := "}:q:" + strconv.FormatInt(window, 10)
	pattern := globEscape(head) + "*" + globEscape(tail)
	out := map[string]int64{}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			key := strings.TrimSuffix(strings.TrimPrefix(k, head), tail)
			n, err := c.Get(ctx, k).Int64()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return err
			}
			out[key] = n
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	return out, wrap(err)
}

func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %w", err)
}
