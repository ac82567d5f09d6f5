package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// PlanUsage implements limiter.Store. It scans for the plan's counters
// on every server: each shard of a Ring, each master of a Cluster. It
// suits reports, not request paths: it is bounded by ctx, not by
// Config.Timeout.
func (s *Store) PlanUsage(ctx context.Context, plan string, window int64) (map[string]int64, error) {
	head := s.prefix + "{" + strconv.Itoa(len(plan)) + ":" + plan + "/"
	tail := "}:q:" + strconv.FormatInt(window, 10)
	pattern := globEscape(head) + "*" + globEscape(tail)
	var mu sync.Mutex
	out := map[string]int64{}
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		var keys []string
		flush := func() error {
			if len(keys) == 0 {
				return nil
			}
			// Keys from one server's SCAN live on that server: one
			// pipeline of GETs reads them.
			p := c.Pipeline()
			gets := make([]*redis.StringCmd, len(keys))
			for i, k := range keys {
				gets[i] = p.Get(ctx, k)
			}
			if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for i, g := range gets {
				n, err := g.Int64()
				if errors.Is(err, redis.Nil) {
					continue // expired since the scan
				}
				if err != nil {
					return err
				}
				out[strings.TrimSuffix(strings.TrimPrefix(keys[i], head), tail)] = n
			}
			keys = keys[:0]
			return nil
		}
		for iter.Next(ctx) {
			if keys = append(keys, iter.Val()); len(keys) == 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	err := inTime(ctx, func(ctx context.Context) error {
		switch c := s.rdb.(type) {
		case *redis.ClusterClient:
			return c.ForEachMaster(ctx, scan)
		case *redis.Ring:
			return forEachShard(ctx, c, scan)
		case *redis.Client:
			return scan(ctx, c)
		default:
			return errors.New("PlanUsage needs a *redis.Client, *redis.Ring or *redis.ClusterClient")
		}
	})
	if err != nil {
		return nil, wrap(err)
	}
	return out, nil
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

// forEachShard calls fn on every shard of r, concurrently; unlike
// r.ForEachShard, a shard that is down is an error, not skipped.
func forEachShard(ctx context.Context, r *redis.Ring, fn func(ctx context.Context, c *redis.Client) error) error {
	var visited atomic.Int64
	err := r.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
		visited.Add(1)
		return fn(ctx, c)
	})
	if err != nil {
		return err
	}
	if n, want := visited.Load(), len(r.Options().Addrs); n < int64(want) {
		return fmt.Errorf("%d of the Ring's %d shards are down", int64(want)-n, want)
	}
	return nil
}
