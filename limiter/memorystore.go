package limiter

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
)

var (
	_ Store      = (*MemoryStore)(nil)
	_ LeaseSizer = (*MemoryStore)(nil)
)

// LeaseSize implements LeaseSizer: a Limiter on a MemoryStore leases all
// remaining quota at once, since nothing is shared or durable.
func (*MemoryStore) LeaseSize() int64 { return math.MaxInt64 }

// MemoryStore keeps quota usage in process memory: exact, fast, and lost
// on restart. The zero value is ready to use; it is safe for concurrent
// use.
type MemoryStore struct {
	once   sync.Once
	seed   maphash.Seed
	shards [64]memShard
}

type memShard struct {
	mu sync.Mutex
	m  map[Counter]int64
	_  [40]byte // keep shards on separate cache lines
}

func (s *MemoryStore) shard(c Counter) *memShard {
	s.once.Do(func() { s.seed = maphash.MakeSeed() })
	return &s.shards[maphash.String(s.seed, c.Key)%uint64(len(s.shards))]
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, c Counter, n, limit int64) (granted, used int64, err error) {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[Counter]int64)
	}
	used = sh.m[c]
	granted = min(n, limit-used)
	if granted <= 0 {
		return 0, used, nil
	}
	sh.m[c] = used + granted
	return granted, used + granted, nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, c Counter, n int64) error {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if used, ok := sh.m[c]; ok {
		sh.m[c] = max(used-n, 0)
	}
	return nil
}

// Usage implements Store.
func (s *MemoryStore) Usage(_ context.Context, c Counter) (int64, error) {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[c], nil
}

// SetUsage implements Store.
func (s *MemoryStore) SetUsage(_ context.Context, c Counter, used int64) error {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[Counter]int64)
	}
	sh.m[c] = max(used, 0)
	return nil
}

// PlanUsage implements Store.
func (s *MemoryStore) PlanUsage(_ context.Context, plan string, window int64) (map[string]int64, error) {
	out := map[string]int64{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for c, used := range sh.m {
			if c.Plan == plan && c.Window == window {
				out[c.Key] = used
			}
		}
		sh.mu.Unlock()
	}
	return out, nil
}
