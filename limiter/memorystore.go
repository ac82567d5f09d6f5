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
	_ Pruner     = (*MemoryStore)(nil)
)

// LeaseSize implements LeaseSizer: a Limiter on a MemoryStore leases all
// remaining quota at once, since nothing is shared or durable.
func (*MemoryStore) LeaseSize() int64 { return math.MaxInt64 }

// MemoryStore keeps quota usage in process memory: exact, fast, and lost
// on restart. The zero value is ready to use; it is safe for concurrent
// use.
//
// Counters are grouped by plan and period, so that PlanUsage reads only
// the plan's counters of that period, and Prune drops whole periods. A
// Limiter prunes finished periods as they end (see Pruner), so memory
// stays bounded over any number of periods.
type MemoryStore struct {
	once   sync.Once
	seed   maphash.Seed
	shards [64]memShard
}

type memShard struct {
	mu sync.Mutex
	// plans holds, per plan and Counter.Window, the usage of each key.
	plans map[string]map[int64]map[string]int64
	_     [48]byte // keep shards on separate cache lines
}

func (s *MemoryStore) shard(c Counter) *memShard {
	s.once.Do(func() { s.seed = maphash.MakeSeed() })
	return &s.shards[maphash.String(s.seed, c.Key)%uint64(len(s.shards))]
}

// keys returns the usage map of c's plan and window, made if create is
// set (else nil when there is none). sh.mu is held.
func (sh *memShard) keys(c Counter, create bool) map[string]int64 {
	windows := sh.plans[c.Plan]
	if windows == nil {
		if !create {
			return nil
		}
		if sh.plans == nil {
			sh.plans = map[string]map[int64]map[string]int64{}
		}
		windows = map[int64]map[string]int64{}
		sh.plans[c.Plan] = windows
	}
	m := windows[c.Window]
	if m == nil && create {
		m = map[string]int64{}
		windows[c.Window] = m
	}
	return m
}

// Reserve implements Store.
func (s *MemoryStore) Reserve(_ context.Context, c Counter, n, limit int64) (granted, used int64, err error) {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.keys(c, false)
	used = m[c.Key]
	granted = min(n, limit-used)
	if granted <= 0 {
		return 0, used, nil
	}
	if m == nil {
		m = sh.keys(c, true)
	}
	m[c.Key] = used + granted
	return granted, used + granted, nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, c Counter, n int64) error {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.keys(c, false)
	if used, ok := m[c.Key]; ok {
		m[c.Key] = max(used-n, 0)
	}
	return nil
}

// Usage implements Store.
func (s *MemoryStore) Usage(_ context.Context, c Counter) (int64, error) {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.keys(c, false)[c.Key], nil
}

// SetUsage implements Store.
func (s *MemoryStore) SetUsage(_ context.Context, c Counter, used int64) error {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.keys(c, true)[c.Key] = max(used, 0)
	return nil
}

// PlanUsage implements Store. It reads only plan's counters of window.
func (s *MemoryStore) PlanUsage(_ context.Context, plan string, window int64) (map[string]int64, error) {
	out := map[string]int64{}
	c := Counter{Plan: plan, Window: window}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for key, used := range sh.keys(c, false) {
			out[key] = used
		}
		sh.mu.Unlock()
	}
	return out, nil
}

// Prune implements Pruner.
func (s *MemoryStore) Prune(_ context.Context, plan string, before int64) error {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		windows := sh.plans[plan]
		for w := range windows {
			if w != 0 && w < before {
				delete(windows, w)
			}
		}
		if len(windows) == 0 {
			delete(sh.plans, plan)
		}
		sh.mu.Unlock()
	}
	return nil
}
