package limiter

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
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
//
// The first Limiter made on a MemoryStore with the default lease size
// keeps the counts of the keys it holds in its own per-key state, not in
// the store's maps (one copy of each count instead of two); a count
// moves into the store when its key is evicted, when its period ends,
// on the Limiter's Close, or when the store is called directly for it.
// Every method of the store sees those counts, so nothing about its
// behaviour changes but the memory.
type MemoryStore struct {
	once   sync.Once
	seed   maphash.Seed
	owner  atomic.Pointer[Limiter] // the Limiter that holds counts in its entries, if any
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
	s.claimCounter(c)
	return s.reserve(c, n, limit)
}

func (s *MemoryStore) reserve(c Counter, n, limit int64) (granted, used int64, err error) {
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
	s.claimCounter(c)
	s.release(c, n)
	return nil
}

func (s *MemoryStore) release(c Counter, n int64) {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.keys(c, false)
	if used, ok := m[c.Key]; ok {
		m[c.Key] = max(used-n, 0)
	}
}

// Usage implements Store.
func (s *MemoryStore) Usage(_ context.Context, c Counter) (int64, error) {
	if o := s.owner.Load(); o != nil {
		if used, ok := o.ownedUsage(c); ok {
			return used, nil
		}
	}
	return s.usage(c), nil
}

func (s *MemoryStore) usage(c Counter) int64 {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.keys(c, false)[c.Key]
}

// SetUsage implements Store.
func (s *MemoryStore) SetUsage(_ context.Context, c Counter, used int64) error {
	s.claimCounter(c)
	s.setUsage(c, used)
	return nil
}

func (s *MemoryStore) setUsage(c Counter, used int64) {
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.keys(c, true)[c.Key] = max(used, 0)
}

// PlanUsage implements Store. It reads only plan's counters of window
// (and, when a Limiter holds counts, that Limiter's entries).
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
	if o := s.owner.Load(); o != nil {
		o.ownedPlanUsage(plan, window, out)
	}
	return out, nil
}

// claimCounter, before a direct call that changes c, moves c's count
// out of the owning Limiter's entry into the store: it first puts a
// placeholder in the store, so that the Limiter, which reserves from its
// entry only while the store has no counter for c, cannot take c back
// meanwhile.
func (s *MemoryStore) claimCounter(c Counter) {
	o := s.owner.Load()
	if o == nil {
		return
	}
	sh := s.shard(c)
	sh.mu.Lock()
	m := sh.keys(c, true)
	if _, ok := m[c.Key]; !ok {
		m[c.Key] = 0
	}
	sh.mu.Unlock()
	o.spill(c)
}

// The owner's side: the Limiter that holds counts in its entries calls
// these holding the entry's quota (lock order: the quota, then the
// store's shard).

// ownReserve is Reserve for owner's entry e: while the store has no
// counter for c, the count stays in e (q.used, flag qOwned) and the
// store stores nothing. The caller holds e's quota.
func (s *MemoryStore) ownReserve(e *entry, c Counter, n, limit int64) (granted, used int64) {
	q := &e.q
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.keys(c, false)
	if stored, ok := m[c.Key]; ok {
		if q.is(qOwned) {
			// A direct call is moving the count into the store: it
			// left a placeholder; the count is e's.
			stored = q.used
			q.set(qOwned, false)
		}
		granted = max(min(n, limit-stored), 0)
		m[c.Key] = stored + granted
		return granted, stored + granted
	}
	cur := int64(0)
	if q.is(qOwned) {
		cur = q.used
	}
	granted = max(min(n, limit-cur), 0)
	q.set(qOwned, true)
	return granted, cur + granted
}

// ownRelease gives back n units of c from owner's entry e: an owned
// count moves into the store (what was used, when anything was). The
// caller holds e's quota.
func (s *MemoryStore) ownRelease(e *entry, c Counter, n int64) {
	q := &e.q
	if !q.is(qOwned) {
		s.release(c, n)
		return
	}
	q.set(qOwned, false)
	used := q.used - n
	sh := s.shard(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.keys(c, false)
	if _, ok := m[c.Key]; ok || used > 0 {
		if m == nil {
			m = sh.keys(c, true)
		}
		m[c.Key] = max(used, 0)
	}
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
