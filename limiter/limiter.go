package limiter

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// Unlimited is the QPS or Quota that means no limit.
const Unlimited = -1

// DefaultCapacity is the default number of QPS buckets kept in memory.
const DefaultCapacity = 1 << 20

const shardCount = 256

// Limits are a plan's limits, passed with every decision so that changes
// apply to the next request.
type Limits struct {
	QPS      int64 // requests per second per key (rate and burst); Unlimited or > 0
	Quota    int64 // requests per period per key; Unlimited or > 0
	Period   Period
	Location *time.Location // calendar periods' time zone; nil is UTC
}

// Limit names the limit that refused a request.
type Limit uint8

const (
	LimitNone  Limit = iota // admitted
	LimitQPS                // the QPS bucket was empty
	LimitQuota              // the quota is exhausted for this period
)

// Decision is the outcome of one request. Being refused is a Decision,
// not an error.
type Decision struct {
	Allowed bool
	Refused Limit // LimitNone when Allowed
	// Remaining is the quota left in the period after this decision, or
	// Unlimited when the quota is. A QPS refusal consumes no quota and
	// reports what is left of it, as this Limiter knows it (a shared
	// store reads it in the same step).
	Remaining int64
	// RetryAfter is, for a refusal, how long until a retry can succeed:
	// until the bucket holds a token, or until the quota period resets
	// (0 for a Total quota, which never resets).
	RetryAfter time.Duration
	// Reset is when the quota period ends; zero for Total or an
	// unlimited quota.
	Reset time.Time
}

// Config holds the Limiter's optional settings; the zero value is the
// documented default.
type Config struct {
	// Capacity bounds the QPS buckets kept in memory (one per active
	// plan and key); the least recently used is evicted and comes back
	// full, so an evicted key gets at most one extra burst. 0 means
	// DefaultCapacity.
	Capacity int
	// LeaseSize is how many quota units one Store call reserves, at most
	// 1% of the plan's quota (MaxLeaseShare). 0 means the store's
	// LeaseSizer if it has one (MemoryStore, boltstore), else 1, which
	// keeps quota exact across instances sharing a store. Larger leases
	// cut store traffic (a durable store's write per request), at the
	// price that a crash forfeits up to one lease per key and that units
	// leased by one instance are not available to another until released.
	LeaseSize int64
	// Prefetch tops a key's lease back up to a full lease in the
	// background once half of it is spent, so that decisions on a durable
	// store (boltstore) do not wait for the disk; a key still holds at
	// most one lease. It starts one goroutine per reservation in flight;
	// Close waits for them. Off by default.
	Prefetch bool
}

// LeaseSizer is implemented by a Store that picks the lease size when
// Config.LeaseSize is 0. MemoryStore leases all remaining quota at once:
// nothing is durable or shared, so nothing is lost by it.
type LeaseSizer interface {
	LeaseSize() int64
}

// Limiter decides, per (plan, key), whether a request is admitted: QPS
// first (golang.org/x/time/rate, rate = burst = QPS), then quota. A
// request refused for QPS consumes no quota. It is safe for concurrent
// use. Call it only for authenticated keys: it keeps state per key.
type Limiter struct {
	store  Store
	shared SharedStore // the store, when it keeps QPS buckets too
	lease  int64
	seed   maphash.Seed
	shards [shardCount]shard

	spanMu sync.Mutex
	spans  map[spanKey]*span // the latest span of each period and zone

	pruner  Pruner // the store, when it deletes finished periods
	pruneMu sync.Mutex
	pruned  map[string]int64 // per plan, the Prune bound last asked for

	closeOnce sync.Once
	closeErr  error

	prefetch bool
	bgMu     sync.Mutex // guards closed against new background reservations
	closed   bool
	bg       sync.WaitGroup
}

type entryKey struct{ plan, key string }

// shard holds the state of the keys that hash to it in an LRU
// (golang-lru's simplelru, under the shard's mutex).
type shard struct {
	mu sync.Mutex
	// entries is keyed by the hash of (plan, key); an entry whose key
	// differs from the caller's is a hash collision (see lookup).
	entries *simplelru.LRU[uint64, *entry]
	// index maps the same hashes straight to the entries: a hit reads one
	// map and the entry, not the LRU's list element as well. The LRU
	// keeps the order and evicts; its callback keeps index in step.
	index map[uint64]*entry
	// evicted holds entries pushed out of the LRU, to be given back to
	// the store outside the lock.
	evicted []*entry
	// limbo holds the evicted entries whose lease is not back in the
	// store yet. A key asked for meanwhile gets its entry back from here,
	// so that a key never has two entries: a second entry would find the
	// first one's lease still counted in the store and could refuse a
	// request for quota that the key has.
	limbo map[entryKey]*entry
	_     [8]byte // 64 bytes: no two shards' locks share a cache line
}

// entry is one (plan, key): its token bucket and its quota position.
type entry struct {
	key     entryKey
	b       bucket
	touched int64 // when the LRU last saw it, Unix nanoseconds
	// out is set (under the shard's lock) while the entry is out of the
	// LRU, in the shard's limbo or dead.
	out atomic.Bool
	q   quota
}

// touchEvery is how stale an entry's LRU position may get before a hit
// moves it to the front. Skipping the move on most hits keeps the hot
// path off the LRU's linked list; eviction order is exact to this grain.
const touchEvery = int64(100 * time.Millisecond)

// quota is one (plan, key)'s position in its current period.
type quota struct {
	mu          sync.Mutex
	span        *span      // the current period; nil before the first decision
	lease, used int64      // units reserved but unused; store usage at the last Reserve
	fetched     *sync.Cond // on mu, signalled when a prefetch lands; made on first use
	// spentAt is when (Unix nanoseconds, the decision's clock) the store
	// last answered that this period's quota was spent (used); 0 when it
	// did not. Until the period, the limits or the usage change, or
	// spentRecheck passes, a refusal is decided from memory.
	spentAt  int64
	dead     bool // evicted and its lease given back: use the key's new entry (set under mu and the shard's lock)
	fetching bool // a background reservation is in flight
	full     bool // the last reservation got a whole lease, so more may be left
}

// spentRecheck is how long a key whose quota the store reported spent is
// refused from memory before the store is asked again. Within a period,
// usage goes down only by a reset or adjustment (which, made through the
// Limiter, takes effect at once) or by another Limiter on the same store
// giving back its unused lease; the re-check bounds how long such units
// stay unused here.
const spentRecheck = int64(time.Second)

// spent reports whether q's quota is known to be spent at ns under lim,
// so that the store need not be asked. q.mu is held.
func (q *quota) spent(lim Limits, ns int64) bool {
	return q.spentAt != 0 && q.lease == 0 && q.used >= lim.Quota &&
		ns-q.spentAt < spentRecheck && q.span.holds(lim, ns)
}

// refusal is the Decision that refuses a request at ns for quota. q.mu
// is held.
func (q *quota) refusal(ns int64) Decision {
	d := Decision{Refused: LimitQuota}
	if end := q.span.end; end != 0 {
		d.Reset = time.Unix(0, end)
		d.RetryAfter = time.Duration(end - ns)
	}
	return d
}

// window is q's store window (Counter.Window).
func (q *quota) window() int64 {
	if q.span == nil {
		return 0
	}
	return q.span.window
}

// span is one quota period in one time zone. Entries share it (see
// Limiter.spanAt), so an entry pays a pointer for its period, not 48 bytes.
type span struct {
	period     Period
	loc        *time.Location
	window     int64 // Counter.Window: the start in Unix seconds, 0 for Total
	start, end int64 // Unix nanoseconds; end is 0 for Total
	prev       int64 // the previous period's Counter.Window; 0 for Total
}

// holds reports whether s is the period of lim that contains ns.
func (s *span) holds(lim Limits, ns int64) bool {
	return s != nil && s.period == lim.Period && s.loc == lim.Location &&
		(s.end == 0 || ns >= s.start && ns < s.end)
}

type spanKey struct {
	period Period
	loc    *time.Location
}

// spanAt returns the shared span of lim's period containing now.
func (l *Limiter) spanAt(lim Limits, now time.Time) *span {
	k := spanKey{lim.Period, lim.Location}
	ns := now.UnixNano()
	l.spanMu.Lock()
	defer l.spanMu.Unlock()
	if s := l.spans[k]; s.holds(lim, ns) {
		return s
	}
	s := &span{period: lim.Period, loc: lim.Location}
	if lim.Period != Total {
		start, end := lim.Period.Window(now, lim.Location)
		s.window, s.start, s.end = start.Unix(), start.UnixNano(), end.UnixNano()
		prev, _ := lim.Period.Window(start.Add(-time.Nanosecond), lim.Location)
		s.prev = prev.Unix()
	}
	if l.spans == nil {
		l.spans = map[spanKey]*span{}
	}
	l.spans[k] = s
	return s
}

// New returns a Limiter that keeps quota in store (a *MemoryStore, the
// embedded boltstore, or Redis).
func New(store Store, cfg Config) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("limiter: nil Store")
	}
	if cfg.Capacity < 0 || cfg.LeaseSize < 0 {
		return nil, errors.New("limiter: Capacity and LeaseSize must not be negative")
	}
	capacity := cfg.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	lease := cfg.LeaseSize
	if ls, ok := store.(LeaseSizer); ok && lease == 0 {
		lease = ls.LeaseSize()
	}
	l := &Limiter{store: store, lease: max(lease, 1), seed: maphash.MakeSeed()}
	l.shared, _ = store.(SharedStore)
	l.pruner, _ = store.(Pruner)
	l.prefetch = cfg.Prefetch && l.lease > 1
	per := max(capacity/shardCount, 1)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.index = make(map[uint64]*entry)
		sh.limbo = make(map[entryKey]*entry)
		lru, err := simplelru.NewLRU(per, func(h uint64, e *entry) {
			delete(sh.index, h)
			e.out.Store(true)
			sh.limbo[e.key] = e
			sh.evicted = append(sh.evicted, e)
		})
		if err != nil {
			return nil, err
		}
		sh.entries = lru
	}
	return l, nil
}

// hash is the one hash of (plan, key) a decision computes: it picks the
// shard and is the shard's LRU key.
func (l *Limiter) hash(k entryKey) uint64 {
	return maphash.String(l.seed, k.key) ^ bits.RotateLeft64(maphash.String(l.seed, k.plan), 31)
}

// lookup returns the entry of k in sh, or nil. sh.mu is held. An entry
// evicted but not yet released comes back from the limbo into the LRU.
// Two keys whose 64-bit hashes collide (a chance of about n²/2⁶⁵ with n
// keys, and the seed is secret) share an LRU slot: the newcomer evicts
// the other, whose lease goes back to the store and whose bucket comes
// back full.
func (sh *shard) lookup(h uint64, k entryKey) *entry {
	e := sh.index[h]
	if e != nil && e.key == k {
		return e
	}
	if e != nil {
		sh.entries.Remove(h)
	}
	if e = sh.limbo[k]; e != nil {
		delete(sh.limbo, k)
		e.out.Store(false)
		sh.entries.Add(h, e)
		sh.index[h] = e
	}
	return e
}

// entryFor returns k's entry in sh, adding one if it has none. sh.mu is
// held.
func (sh *shard) entryFor(h uint64, k entryKey, ns int64) *entry {
	e := sh.lookup(h, k)
	switch {
	case e == nil:
		e = &entry{key: k, touched: ns}
		sh.entries.Add(h, e)
		sh.index[h] = e
	case ns-e.touched > touchEvery:
		sh.entries.Get(h)
		e.touched = ns
	}
	return e
}

// Allow is AllowAt with time.Now().
func (l *Limiter) Allow(ctx context.Context, plan, key string, lim Limits) (Decision, error) {
	return l.AllowAt(ctx, plan, key, lim, time.Now())
}

// AllowAt decides one request of key under plan at time now. An error
// means the store failed; the request was not admitted.
func (l *Limiter) AllowAt(ctx context.Context, plan, key string, lim Limits, now time.Time) (Decision, error) {
	if l.shared != nil {
		return l.allowShared(ctx, l.shared, plan, key, lim, now)
	}
	k := entryKey{plan, key}
	h := l.hash(k)
	sh := &l.shards[h%shardCount]
	ns := now.UnixNano()
	sh.mu.Lock()
	e := sh.entryFor(h, k, ns)
	if lim.QPS != Unlimited {
		if ok, tokens := e.b.allow(now, lim.QPS); !ok {
			evicted := l.takeEvicted(sh)
			// The quota's position, for the refusal's headers. q.mu is
			// free unless a reservation is in flight for this key; then
			// wait for it outside the shard's lock (release takes q.mu
			// before the shard's lock).
			locked := lim.Quota != Unlimited && e.q.mu.TryLock()
			sh.mu.Unlock()
			l.release(ctx, evicted)
			wait := time.Duration((1 - tokens) / float64(lim.QPS) * float64(time.Second))
			d := Decision{Refused: LimitQPS, Remaining: Unlimited, RetryAfter: max(wait, time.Nanosecond)}
			if lim.Quota != Unlimited {
				if !locked {
					e.q.mu.Lock()
				}
				d.Remaining, d.Reset = e.q.remaining(lim, now)
				e.q.mu.Unlock()
			}
			return d, nil
		}
	}
	if lim.Quota == Unlimited {
		evicted := l.takeEvicted(sh)
		sh.mu.Unlock()
		l.release(ctx, evicted)
		return Decision{Allowed: true, Remaining: Unlimited}, nil
	}
	// Fast path: a lease in hand for the current period, or a quota
	// known to be spent, and nobody reserving for this key right now.
	if len(sh.evicted) == 0 && e.q.mu.TryLock() {
		d, ok := e.q.fromMemory(lim, ns)
		if ok && d.Allowed {
			l.fetchAhead(e, lim.Quota)
		}
		e.q.mu.Unlock()
		if ok {
			sh.mu.Unlock()
			return d, nil
		}
	}
	evicted := l.takeEvicted(sh)
	sh.mu.Unlock()
	l.release(ctx, evicted)
	for {
		d, err, ok := l.takeQuota(ctx, e, lim, now)
		if ok {
			return d, err
		}
		// e was evicted and released meanwhile: count on the key's
		// entry now (its QPS token was taken from e's bucket).
		sh.mu.Lock()
		e = sh.entryFor(h, k, ns)
		evicted := l.takeEvicted(sh)
		sh.mu.Unlock()
		l.release(ctx, evicted)
	}
}

// fromMemory admits a request from q's lease, or refuses it when q's
// quota is known to be spent, when the period and limits are unchanged;
// ok is false when the slow path must decide. q.mu is held.
func (q *quota) fromMemory(lim Limits, ns int64) (d Decision, ok bool) {
	if q.spent(lim, ns) {
		return q.refusal(ns), true
	}
	if q.lease == 0 || !q.span.holds(lim, ns) || q.used-q.lease >= lim.Quota {
		return Decision{}, false
	}
	q.lease--
	d = Decision{Allowed: true, Remaining: max(lim.Quota-(q.used-q.lease), 0)}
	if q.span.end != 0 {
		d.Reset = time.Unix(0, q.span.end)
	}
	return d, true
}

// takeQuota counts one request against e's quota. ok is false, and
// nothing was counted, when e is dead: the caller must use the key's
// current entry.
func (l *Limiter) takeQuota(ctx context.Context, e *entry, lim Limits, now time.Time) (d Decision, err error, ok bool) {
	q := &e.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return Decision{}, nil, false
	}
	ns := now.UnixNano()
	l.roll(ctx, q, e.key, lim, now)
	if q.lease > 0 && q.used-q.lease >= lim.Quota {
		l.giveBack(ctx, e) // the quota was lowered below what we hold
	}
	for q.lease == 0 && q.fetching {
		q.fetched.Wait() // a lease is on its way; a second one could strand units
	}
	if q.spent(lim, ns) {
		return q.refusal(ns), nil, true
	}
	if q.lease == 0 {
		n := l.leaseFor(lim.Quota)
		granted, used, err := l.store.Reserve(ctx, Counter{Plan: e.key.plan, Key: e.key.key, Window: q.window()}, n, lim.Quota)
		if err != nil {
			return Decision{}, err, true
		}
		q.lease, q.used, q.full = granted, used, granted == n
		q.spentAt = 0
		if granted == 0 {
			q.spentAt = ns
			if ns == 0 {
				q.spentAt = 1
			}
			return q.refusal(ns), nil, true
		}
	}
	q.lease--
	if e.out.Load() && q.lease > 0 {
		// Evicted while we reserved: its release may have run already.
		l.giveBack(ctx, e)
	}
	l.fetchAhead(e, lim.Quota)
	d.Allowed = true
	d.Remaining = max(lim.Quota-(q.used-q.lease), 0)
	if end := q.span.end; end != 0 {
		d.Reset = time.Unix(0, end)
	}
	return d, nil, true
}

// remaining is the quota left under lim at now, and the period's end
// (zero for Total): what a QPS refusal, which does not touch the quota,
// reports. In a period q has not decided in yet, nothing of it is known
// to be used. q.mu is held.
func (q *quota) remaining(lim Limits, now time.Time) (int64, time.Time) {
	if !q.span.holds(lim, now.UnixNano()) {
		_, end := lim.Period.Window(now, lim.Location)
		return lim.Quota, end
	}
	var reset time.Time
	if q.span.end != 0 {
		reset = time.Unix(0, q.span.end)
	}
	return max(lim.Quota-(q.used-q.lease), 0), reset
}

// MaxLeaseShare bounds a lease to this fraction of the plan's quota
// (1/100), so that a crash forfeits at most 1% of any quota. Stores that
// lose nothing to a crash (MemoryStore's unbounded lease) are exempt.
const MaxLeaseShare = 100

// leaseFor is the lease to reserve under a quota of limit.
func (l *Limiter) leaseFor(limit int64) int64 {
	if l.lease == math.MaxInt64 || l.lease == 1 {
		return l.lease
	}
	return min(l.lease, max(limit/MaxLeaseShare, 1))
}

// fetchAhead starts a background reservation of e's next lease when
// prefetching is on and half the lease is spent. e.q.mu is held.
func (l *Limiter) fetchAhead(e *entry, limit int64) {
	q := &e.q
	full := l.leaseFor(limit)
	if !l.prefetch || q.fetching || e.out.Load() || !q.full || q.lease >= full/2 {
		return
	}
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.closed {
		return
	}
	q.fetching = true
	if q.fetched == nil {
		q.fetched = sync.NewCond(&q.mu)
	}
	// Top the lease up to one full lease, not more: a crash still
	// forfeits at most one lease per key.
	window, n := q.window(), full-q.lease
	l.bg.Go(func() { l.reserveAhead(e, window, n, limit) })
}

// reserveAhead adds a lease to e, or gives it back if the period ended
// or the entry was evicted meanwhile.
func (l *Limiter) reserveAhead(e *entry, window, n, limit int64) {
	ctx := context.Background()
	c := Counter{Plan: e.key.plan, Key: e.key.key, Window: window}
	granted, used, err := l.store.Reserve(ctx, c, n, limit)
	q := &e.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fetching = false
	defer q.fetched.Broadcast()
	if err != nil || granted == 0 {
		q.full = false
		return // the next decision that needs units asks the store itself
	}
	if q.window() != window || e.out.Load() {
		_ = l.store.Release(ctx, c, granted) // best effort: under-admits, never over
		return
	}
	// used counts every lease this limiter holds, so consumed
	// (used - lease) stays right; a later synchronous Reserve may already
	// have seen a higher usage.
	q.lease += granted
	q.used = max(q.used, used)
	q.full = granted == n
}

// takeEvicted returns the entries the LRU pushed out. sh.mu is held.
func (l *Limiter) takeEvicted(sh *shard) []*entry {
	if len(sh.evicted) == 0 {
		return nil
	}
	ev := sh.evicted
	sh.evicted = nil
	return ev
}

// release gives back the unused leases of evicted entries, unless they
// came back from the limbo meanwhile; an entry in use elsewhere gives its
// lease back when that use ends. An entry leaves the limbo (and is dead)
// only once its lease is back in the store, under its quota's lock: a
// decision on the key finds either this entry or none, and a new entry
// never finds units still held by an old one.
func (l *Limiter) release(ctx context.Context, evicted []*entry) {
	for _, e := range evicted {
		sh := &l.shards[l.hash(e.key)%shardCount]
		e.q.mu.Lock()
		// Even if the entry came back meanwhile (it then reserves
		// again): it may be out again by the time the shard is locked.
		l.giveBack(ctx, e)
		sh.mu.Lock()
		if e.out.Load() && sh.limbo[e.key] == e {
			delete(sh.limbo, e.key)
			e.q.dead = true
		}
		sh.mu.Unlock()
		e.q.mu.Unlock()
	}
}

// giveBack releases e's unused lease. e.q.mu is held.
func (l *Limiter) giveBack(ctx context.Context, e *entry) {
	if e.q.lease > 0 {
		// Best effort: a failure under-admits, never over-admits.
		_ = l.store.Release(ctx, Counter{Plan: e.key.plan, Key: e.key.key, Window: e.q.window()}, e.q.lease)
		e.q.used -= e.q.lease
		e.q.lease = 0
	}
}

// bucket is a token bucket that never sees time go backwards: callers
// racing with slightly different clocks would otherwise let
// rate.Limiter refill twice.
type bucket struct {
	lim   rate.Limiter
	last  int64 // latest time seen, Unix nanoseconds; 0 for a new bucket
	burst int   // lim's burst, read without its lock
}

// allow takes a token at now (or at the latest time seen, if later),
// first setting the rate and burst to qps if they changed. It returns
// whether there was a token, and the tokens left when there was not.
func (b *bucket) allow(now time.Time, qps int64) (bool, float64) {
	burst := int(min(qps, math.MaxInt32))
	if ns := now.UnixNano(); ns >= b.last {
		b.last = ns
	} else {
		now = time.Unix(0, b.last)
	}
	if b.burst != burst {
		// A new bucket is set up at the zero Time, so that its first
		// use finds it full; a changed one keeps its tokens.
		at := now
		if b.burst == 0 {
			at = time.Time{}
		}
		b.lim.SetLimitAt(at, rate.Limit(qps))
		b.lim.SetBurstAt(at, burst)
		b.burst = burst
	}
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, b.lim.TokensAt(now)
}

// roll moves q into the period containing now, giving back the unused
// lease of the period that ended. q.mu is held.
func (l *Limiter) roll(ctx context.Context, q *quota, k entryKey, lim Limits, now time.Time) {
	if q.span.holds(lim, now.UnixNano()) {
		return
	}
	next := l.spanAt(lim, now)
	if old := q.window(); next.window != old {
		if q.lease > 0 {
			// Best effort: a failure only leaves the old period over-counted.
			_ = l.store.Release(ctx, Counter{Plan: k.plan, Key: k.key, Window: old}, q.lease)
		}
		q.lease, q.used = 0, 0
		l.prune(k.plan, next)
	}
	q.spentAt = 0
	q.span = next
}

// prune asks a Pruner store, once per plan and period, to delete plan's
// counters of the periods before the one that precedes s: a plan keeps
// its current and its previous period's counts. It runs in the
// background; Close waits for it.
func (l *Limiter) prune(plan string, s *span) {
	if l.pruner == nil || s.window == 0 {
		return
	}
	l.pruneMu.Lock()
	if l.pruned[plan] >= s.prev {
		l.pruneMu.Unlock()
		return
	}
	if l.pruned == nil {
		l.pruned = map[string]int64{}
	}
	l.pruned[plan] = s.prev
	l.pruneMu.Unlock()
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.closed {
		return
	}
	before := s.prev
	// Best effort: counters left behind are deleted at the next period.
	l.bg.Go(func() { _ = l.pruner.Prune(context.Background(), plan, before) })
}
