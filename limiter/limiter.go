package limiter

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// DefaultCapacity is the default number of (plan, key) entries kept in
// memory.
const DefaultCapacity = 1 << 20

const shardCount = 256

// Config holds the Limiter's optional settings; the zero value is the
// documented default.
type Config struct {
	// Capacity bounds the (plan, key) entries kept in memory (one per
	// active plan and key: its QPS bucket and quota position); when full,
	// one not used for a while is evicted (CLOCK) and its buckets come
	// back full, so an evicted key gets at most one extra burst. The
	// windows and throttles of the entries are bounded to MaxWindows per
	// entry on average. 0 means DefaultCapacity.
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
	// Close waits for them. A SetUsage or ResetUsage of a key while its
	// reservation is in flight drops that reservation's units, which the
	// store may or may not count after the reset: up to one lease goes
	// unused, none is admitted twice. Off by default.
	Prefetch bool
	// OnAlert, when set, is told each time a key's quota consumption
	// reaches one of its Limits.Alerts thresholds, once per (plan, key,
	// period, threshold): the step that crossed it (an admitted request,
	// or a charge) reports it, on a SharedStore in the store's atomic
	// step, so that a fleet sharing the store reports it once. It is
	// called synchronously from the goroutine of that AllowAt or
	// ChargeAt, after every lock is released, and may be called
	// concurrently from many goroutines: it must be safe for concurrent
	// use and should return quickly (hand slow work to a goroutine of
	// your own). nil computes nothing.
	OnAlert func(Alert)
}

// LeaseSizer is implemented by a Store that picks the lease size when
// Config.LeaseSize is 0. MemoryStore leases all remaining quota at once:
// nothing is durable or shared, so nothing is lost by it. New calls
// LeaseSize once; it need not be safe for concurrent use.
type LeaseSizer interface {
	LeaseSize() int64
}

// Limiter decides, per (plan, key), whether a request is admitted by
// every limit of its Limits: the API's throttle, the QPS bucket, the
// windows and the quota, all or nothing. It is safe for concurrent use.
// Call it only for authenticated keys: it keeps state per key. The zero
// Limiter is not usable (it has no store): build one with New, and Close
// it to return unused quota leases.
type Limiter struct {
	// shards come first: a Limiter is allocated on a page boundary, so
	// that each shard starts a cache line.
	shards [shardCount]shard
	store  Store
	shared SharedStore  // the store, when it keeps the buckets too
	mem    *MemoryStore // the store, when this Limiter holds its counts (see MemoryStore)
	lease  int64
	seed   maphash.Seed

	keys    atomic.Pointer[keyTable] // entries by the identity of their key string
	probe   atomic.Bool              // look entries up in keys (see tally)
	against atomic.Int32             // shards whose last vote was against probe
	made    atomic.Int64             // entries made, which sizes keys
	growing atomic.Bool              // a goroutine is growing keys
	keysMax int                      // the most slots keys grows to

	spans sync.Map // spanKey → *span: the latest span of each plan, period and zone
	plans [64]atomic.Pointer[planHashed]

	pruner  Pruner // the store, when it deletes finished periods
	pruneMu sync.Mutex
	pruned  map[string]int64 // per plan, the Prune bound last asked for

	closeOnce sync.Once
	closeErr  error

	onAlert func(Alert)

	// general, set by tests, decides every request the general way
	// (not allowPlain).
	general bool

	prefetch bool
	bgMu     sync.Mutex // guards closed and fetches
	closed   bool
	fetches  map[*entry]chan struct{} // closed when the entry's background reservation lands
	bg       sync.WaitGroup
}

type entryKey struct{ plan, key string }

// shard holds the state of the keys that hash to it.
type shard struct {
	mu sync.Mutex
	// same and other count the shorter path's decisions by the hash
	// whose key string was, or was not, their entry's own, and hits
	// those through the key table, in steps of hitChunk (see
	// Limiter.tally);
	// in the lock's cache line.
	same, other uint32
	hits        atomic.Uint32
	off         bool // the shard's last vote was against the key table
	// entries indexes the entries by the hash of (plan, key); an entry
	// whose key differs from the caller's is a hash collision (see
	// lookup).
	entries entries
	// extras holds the windows' and throttles' buckets.
	extras extras
	// evicted holds entries pushed out, to be given back to the store
	// outside the lock.
	evicted []*entry
	// limbo holds the evicted entries whose lease is not back in the
	// store yet. A key asked for meanwhile gets its entry back from here,
	// so that a key never has two entries: a second entry would find the
	// first one's lease still counted in the store and could refuse a
	// request for quota that the key has.
	limbo map[entryKey]*entry
	_     [40]byte // a multiple of 64 bytes: no two shards' locks share a cache line
}

// entry is one (plan, key): its QPS bucket and its quota position, in 64
// bytes.
type entry struct {
	key  string
	span atomic.Pointer[span] // the plan and, once a quota was counted, its current period
	tat  int64                // the QPS bucket's theoretical arrival time, Unix ns (0: full); under the entry's decision lock
	q    quota
}

func (e *entry) plan() string { return e.span.Load().plan }

// Entries made for a plan with windows hold the windows' buckets inline,
// right after the entry (one allocation, the cache lines next to it):
// entryN is an entry with n of them. Windows beyond those an entry was
// made with (the plan gained some) use the extras table.
type (
	entry1 struct {
		entry
		x [1]int64
	}
	entry2 struct {
		entry
		x [2]int64
	}
	entry3 struct {
		entry
		x [3]int64
	}
	entry4 struct {
		entry
		x [4]int64
	}
)

// newEntry returns an entry for key with n window buckets inline.
func newEntry(key string, n int) *entry {
	var e *entry
	switch min(n, MaxWindows) {
	case 0:
		e = &entry{}
	case 1:
		e = &(&entry1{}).entry
	case 2:
		e = &(&entry2{}).entry
	case 3:
		e = &(&entry3{}).entry
	default:
		e = &(&entry4{}).entry
	}
	e.key = key
	e.q.nx = uint8(min(n, MaxWindows))
	return e
}

// inline returns e's inline window buckets (theoretical arrival times);
// they follow e in the entryN that holds it. Under e's decision lock.
func (e *entry) inline() []int64 {
	if e.q.nx == 0 {
		return nil
	}
	return unsafe.Slice((*int64)(unsafe.Add(unsafe.Pointer(e), unsafe.Sizeof(entry{}))), e.q.nx)
}

func (e *entry) id() entryKey { return entryKey{e.plan(), e.key} }

// quota is one (plan, key)'s position in its current period.
//
// Its fields (flags, lease, used, and the entry's span) belong to the
// goroutine that holds the entry's decision lock (see entry.lock) while
// the quota is not held, or to the goroutine that holds the quota (see
// shard.hold): that goroutine owns the quota. A decision that finds a
// lease in hand, or a quota known to be spent, reads and changes them
// under the decision lock, one lock per decision; work that calls the
// store (a reservation, a release, an adjustment) holds the quota
// meanwhile, without any lock. The entry's buckets (tat, the inline
// windows) and lk also belong to the decision lock's holder. The
// general path takes the decision lock inside the shard's lock; the
// shorter path takes it alone, so that a decision writes the entry's
// cache line and no other.
type quota struct {
	// mu is locked by the quota's holder, so that a second one sleeps
	// on it instead of spinning on the shard's lock.
	mu sync.Mutex
	// st holds stOut, set (under the shard's lock) while the entry is
	// out of the index, in the shard's limbo or dead; stLock, the
	// entry's decision lock, and stWait (see entry.lock); and stRef, set
	// when a decision found the entry through the key table since the
	// CLOCK hand last passed (see entries.evictOne).
	st    atomic.Uint32
	flags uint8 // qDead, qFetching, qFull, qCounted, qOwned, qReset
	// nx is the entry's number of inline window buckets (see
	// entry.inline); set when the entry is made.
	nx uint8
	// lk holds lkHeld, set under the decision lock while a goroutine
	// holds the quota (see shard.hold), and in its other bits the count
	// of decisions through the key table, for the shard's vote (see
	// Limiter.tally); under the decision lock.
	lk uint8
	// shard is the index of the entry's shard, set when the entry is
	// made (it fills the quota's padding; a decision that finds the
	// entry by its key's identity has no hash to pick the shard with).
	shard uint8
	// lease is the units reserved but unused, or, below 0, -lease is
	// when (Unix ns, the decision's clock) the store last answered that
	// this period's quota was spent. Until the period, the limits or the
	// usage change, or spentRecheck passes, a refusal is then decided
	// from memory.
	lease int64
	used  int64 // store usage at the last Reserve
}

// The quota's flags.
const (
	qDead     uint8 = 1 << iota // evicted and its lease given back: use the key's new entry (set under mu and the shard's lock)
	qFetching                   // a background reservation is in flight
	qFull                       // the last reservation got a whole lease, so more may be left
	qCounted                    // the entry's span is a period this quota has counted in
	qOwned                      // the count of the entry's period is held here, not in the Limiter's MemoryStore (see MemoryStore)
	qReset                      // SetUsage set the count while a background reservation was in flight (see reserveAhead)
)

// lkHeld is the quota's lk bit set while a goroutine holds it; the
// bits above it count decisions through the key table (see
// Limiter.hit).
const lkHeld uint8 = 1

// held reports whether a goroutine holds q (see shard.hold). The
// entry's decision lock is held.
func (q *quota) held() bool { return q.lk&lkHeld != 0 }

// The quota's st bits.
const (
	stOut uint32 = 1 << iota
	stLock
	stRef
	stWait // a goroutine holding the shard's lock waits for stLock
)

// out reports whether e is out of the index (in the limbo, or dead).
func (e *entry) out() bool { return e.q.st.Load()&stOut != 0 }

// lock takes e's decision lock, for a goroutine that holds e's shard's
// lock (so at most one such goroutine waits for it). The lock is held
// for a few dozen nanoseconds, and never across a call that can block,
// so lock spins; after a few tries it sets stWait, which keeps the
// shorter path (lockIn) off the entry until lock has it: decisions
// through the key table on a hot key cannot starve it, and with it the
// shard.
func (e *entry) lock() {
	for try := 0; ; try++ {
		v := e.q.st.Load()
		if v&stLock == 0 && e.q.st.CompareAndSwap(v, (v|stLock)&^stWait) {
			return
		}
		if try == spinTries {
			e.q.st.Or(stWait)
		}
		if try >= spinTries {
			runtime.Gosched()
		}
	}
}

// spinTries is how often lock tries before it yields.
const spinTries = 32

// lockIn takes e's decision lock, unless e is out of the index or lock
// waits for it: then it reports false, having taken nothing, and the
// caller takes the shard's lock. It leaves stRef as it is (see mark).
func (e *entry) lockIn() bool {
	// The first try guesses the usual state instead of loading it: a
	// compare-and-swap, failed or not, takes e's cache line for writing
	// in one transfer from the core that last decided on e, where a load
	// would take it shared and the swap a second transfer.
	v := stRef
	for try := 0; ; try++ {
		if v&(stOut|stWait) != 0 {
			return false
		}
		if v&stLock == 0 && e.q.st.CompareAndSwap(v, v|stLock) {
			return true
		}
		if try >= spinTries {
			runtime.Gosched()
		}
		v = e.q.st.Load()
	}
}

// mark sets e's stRef, which keeps the CLOCK hand from evicting e at
// its next pass: a decision through the key table used e. Under e's
// decision lock (the line is then this core's, and the bit is mostly
// set already).
func (e *entry) mark() {
	if e.q.st.Load()&stRef == 0 {
		e.q.st.Or(stRef)
	}
}

// unlock releases e's decision lock.
func (e *entry) unlock() { e.q.st.And(^stLock) }

func (q *quota) is(f uint8) bool { return q.flags&f != 0 }

func (q *quota) set(f uint8, on bool) {
	if on {
		q.flags |= f
	} else {
		q.flags &^= f
	}
}

// leased is q's unused lease. The caller owns q.
func (q *quota) leased() int64 { return max(q.lease, 0) }

// spentRecheck is how long a key whose quota the store reported spent is
// refused from memory before the store is asked again. Within a period,
// usage goes down only by a reset or adjustment (which, made through the
// Limiter, takes effect at once) or by another Limiter on the same store
// giving back its unused lease; the re-check bounds how long such units
// stay unused here.
const spentRecheck = int64(time.Second)

// spent reports whether q's quota is known to be spent at ns under lim
// for units, so that the store need not be asked. The caller owns q.
func (q *quota) spent(s *span, lim *Limits, ns int64) bool {
	return q.lease < 0 && q.used >= lim.Quota && ns+q.lease < spentRecheck && q.is(qCounted) && s.holds(lim, ns)
}

// span is one plan's quota period in one time zone. Entries share it
// (see Limiter.spanAt), so an entry pays a pointer for its plan and
// period.
type span struct {
	plan       string
	period     Period
	loc        *time.Location
	window     int64     // Counter.Window: the start in Unix seconds, 0 for Total
	start, end int64     // Unix nanoseconds; end is 0 for Total
	prev       int64     // the previous period's Counter.Window; 0 for Total
	reset      time.Time // time.Unix(0, end), a Decision's Reset; zero for Total
}

// holds reports whether s is the period of lim that contains ns.
func (s *span) holds(lim *Limits, ns int64) bool {
	return s.period == lim.Period && s.loc == lim.Location &&
		(s.end == 0 || ns >= s.start && ns < s.end)
}

type spanKey struct {
	plan   string
	period Period
	loc    *time.Location
}

// spanAt returns the shared span of plan's period under lim containing
// now.
func (l *Limiter) spanAt(plan string, lim *Limits, now time.Time) *span {
	k := spanKey{plan, lim.Period, lim.Location}
	ns := now.UnixNano()
	v, ok := l.spans.Load(k)
	if ok && v.(*span).holds(lim, ns) {
		return v.(*span)
	}
	s := &span{plan: plan, period: lim.Period, loc: lim.Location}
	if lim.Period != Total {
		start, end := lim.Period.Window(now, lim.Location)
		s.window, s.start, s.end = start.Unix(), start.UnixNano(), end.UnixNano()
		prev, _ := lim.Period.Window(start.Add(-time.Nanosecond), lim.Location)
		s.prev = prev.Unix()
		s.reset = time.Unix(0, s.end)
	}
	if !ok || v.(*span).end < s.end {
		l.spans.Store(k, s) // racing stores of one period store equal spans
	}
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
	l := &Limiter{store: store, lease: max(lease, 1), seed: maphash.MakeSeed(), onAlert: cfg.OnAlert}
	l.shared, _ = store.(SharedStore)
	l.pruner, _ = store.(Pruner)
	l.prefetch = cfg.Prefetch && l.lease > 1
	if ms, ok := store.(*MemoryStore); ok && l.lease == math.MaxInt64 && ms.owner.CompareAndSwap(nil, l) {
		l.mem = ms
		l.prefetch = false // a lease of all the quota is never topped up
	}
	l.keysMax = max(minKeySlots, 1<<bits.Len(uint(min(capacity, maxKeySlots)-1)))
	l.keys.Store(newKeyTable(minKeySlots))
	l.probe.Store(true)
	per := max(capacity/shardCount, 1)
	for i := range l.shards {
		sh := &l.shards[i]
		sh.entries.max = per
		sh.extras.max = per * MaxWindows
		sh.limbo = make(map[entryKey]*entry)
	}
	return l, nil
}

// hash is the one hash of (plan, key) a decision computes: it picks the
// shard (bits 9–16, see shardOf) and the entry's slot, and its bits 1–8
// are the plan's tag (planTag): an index slot, which holds the hash,
// tells the plan of its entry to 1 in 256 without reading the entry
// (see ownedPlanUsage). Bit 0 is the index's CLOCK bit.
func (l *Limiter) hash(k entryKey) uint64 {
	ph := l.planHash(k.plan)
	h := maphash.String(l.seed, k.key) ^ bits.RotateLeft64(ph, 31)
	return h&^tagMask | planTag(ph)
}

// tagMask selects a hash's plan tag.
const tagMask = 0xff << 1

// planTag is the tag of the plan hashed ph, in a hash's bits 1–8.
func planTag(ph uint64) uint64 { return ph & 0xff << 1 }

// shardOf is the shard of the (plan, key) hashed h.
func (l *Limiter) shardOf(h uint64) *shard { return &l.shards[shardIndex(h)] }

// shardIndex is the index of the shard of the (plan, key) hashed h.
func shardIndex(h uint64) uint8 { return uint8(h >> 9 % shardCount) }

// planHashed is a plan ID and its hash.
type planHashed struct {
	id string
	h  uint64
}

// planHash returns the hash of plan, from a small cache keyed by the
// address of plan's bytes: callers pass the same plan ID string (the
// registry's) for every request of a plan, so most decisions hash only
// the key. A cached ID keeps its bytes alive, so an address that
// matches with the same length holds the same ID.
func (l *Limiter) planHash(plan string) uint64 {
	if len(plan) == 0 {
		return maphash.String(l.seed, plan)
	}
	p := unsafe.StringData(plan)
	slot := &l.plans[(uintptr(unsafe.Pointer(p))>>4)%uintptr(len(l.plans))]
	if c := slot.Load(); c != nil && unsafe.StringData(c.id) == p && len(c.id) == len(plan) {
		return c.h
	}
	h := maphash.String(l.seed, plan)
	slot.Store(&planHashed{id: plan, h: h})
	return h
}

// evict moves e out of the index into the limbo. sh.mu is held.
func (sh *shard) evict(e *entry) {
	e.q.st.Or(stOut)
	sh.limbo[e.id()] = e
	sh.evicted = append(sh.evicted, e)
}

// lookup returns the entry of k in sh, or nil. sh.mu is held. An entry
// evicted but not yet released comes back from the limbo into the
// index. Two keys of a plan whose hashes collide (a chance of about
// n²/2⁵⁷ with n keys: 8 of the hash's bits are the plan's tag; the seed
// is secret) share a slot: the newcomer evicts
// the other, whose lease goes back to the store and whose buckets come
// back full.
func (sh *shard) lookup(h uint64, k entryKey) *entry {
	i := sh.entries.find(h)
	if i >= 0 {
		e := sh.entries.slots[i].e
		if e.key == k.key && e.plan() == k.plan {
			sh.entries.touch(i)
			return e
		}
		sh.entries.remove(i)
		sh.evict(e)
	}
	e := sh.limbo[k]
	if e != nil {
		delete(sh.limbo, k)
		e.q.st.And(^stOut)
		sh.entries.insert(h, e, sh.evict)
	}
	return e
}

// entryFor returns k's entry in sh, adding one if it has none. sh.mu is
// held.
func (l *Limiter) entryFor(sh *shard, h uint64, k entryKey, lim *Limits, now time.Time) *entry {
	e := sh.lookup(h, k)
	if e == nil {
		e = newEntry(k.key, len(lim.Windows))
		e.q.shard = shardIndex(h)
		e.span.Store(l.spanAt(k.plan, lim, now))
		sh.entries.insert(h, e, sh.evict)
		l.grewBy(1)
	}
	l.remember(k.key, e)
	return e
}

// Allow is AllowAt with time.Now().
func (l *Limiter) Allow(ctx context.Context, r Request) (Decision, error) {
	return l.AllowAt(ctx, time.Now(), r)
}

// AllowAt decides one request at time now: it is admitted only if every
// limit of r.Limits admits it, and then it takes a token from each bucket
// and r.Units from the quota; a refused request takes nothing. An error
// means invalid Limits (ErrInvalidLimits) or a store failure; the request
// was not admitted.
func (l *Limiter) AllowAt(ctx context.Context, now time.Time, r Request) (d Decision, err error) {
	if !r.plain() {
		if err := r.checkAll(); err != nil {
			return Decision{}, err
		}
	}
	if l.shared != nil {
		return l.allowShared(ctx, l.shared, &r, now)
	}
	k := entryKey{r.Plan, r.Key}
	var h uint64 // 0: not computed yet
	if !l.general && r.Limits.quick() {
		var done bool
		if done, h = l.allowPlain(&d, &r, now); done {
			return d, nil
		}
	}
	if h == 0 {
		h = l.hash(k)
	}
	lim := &r.Limits
	sh := l.shardOf(h)
	ns := now.UnixNano()
	var rt rates
	l.ratesOf(&r, &rt)
	var ev evaluation
	sh.mu.Lock()
	e := l.entryFor(sh, h, k, lim, now)
	e.lock()
	l.eval(&ev, sh, e, h, &r, &rt, ns)
	if !ev.ok {
		// The quota's position, for the refusal's policies: read here
		// unless a goroutine holds the quota (a reservation in flight);
		// then once it is done.
		var qv quotaView
		wait := lim.Quota != Unlimited && e.q.held()
		if lim.Quota != Unlimited && !wait {
			e.q.view(&qv, e, lim, ns)
		}
		evicted := l.takeEvicted(sh)
		e.unlock()
		sh.mu.Unlock()
		l.release(ctx, evicted)
		if wait {
			sh.hold(e)
			e.q.view(&qv, e, lim, ns)
			sh.drop(e)
		}
		l.decide(&d, &ev, &qv, &r, now, false)
		return d, nil
	}
	if lim.Quota == Unlimited {
		ev.commit(sh, e, ns)
		evicted := l.takeEvicted(sh)
		e.unlock()
		sh.mu.Unlock()
		l.release(ctx, evicted)
		l.decide(&d, &ev, nil, &r, now, true)
		return d, nil
	}
	// Fast path: a lease in hand for the current period, or a quota
	// known to be spent, and nobody holding the quota (reserving for
	// this key) right now.
	if len(sh.evicted) == 0 && !e.q.held() {
		q := &e.q
		s := e.span.Load()
		taken := q.is(qCounted) && s.holds(lim, ns) && q.leased() >= r.units() && q.used-q.lease <= lim.Quota-r.units()
		if taken || q.spent(s, lim, ns) {
			var x crossing
			if taken {
				ev.commit(sh, e, ns)
				if l.onAlert != nil && len(lim.Alerts) > 0 {
					x = l.crossed(lim, q.used-q.lease, q.used-q.lease+r.units(), s.window)
				}
				q.lease -= r.units()
				if l.prefetch {
					l.fetchAhead(e, lim.Quota)
				}
			}
			// Both cases found q counted in s, the period of ns: what
			// q.view would check again.
			qv := quotaView{known: true, remaining: max(lim.Quota-(q.used-q.leased()), 0), start: s.start, end: s.end, reset: &s.reset}
			e.unlock()
			sh.mu.Unlock()
			l.decide(&d, &ev, &qv, &r, now, taken)
			if x.mask != 0 {
				l.deliver(&r, x)
			}
			return d, nil
		}
	}
	evicted := l.takeEvicted(sh)
	e.unlock()
	sh.mu.Unlock()
	l.release(ctx, evicted)
	for {
		var x crossing
		d, err, ok := l.takeQuota(ctx, e, sh, h, &r, &rt, now, &x)
		if ok {
			l.deliver(&r, x)
			return d, err
		}
		// e was evicted and released meanwhile: decide on the key's
		// entry now.
		e = l.keyEntry(ctx, sh, h, k, lim, now)
	}
}

// keyEntry is entryFor under sh's lock, then gives back the leases of
// the entries that making k's entry evicted.
func (l *Limiter) keyEntry(ctx context.Context, sh *shard, h uint64, k entryKey, lim *Limits, now time.Time) *entry {
	sh.mu.Lock()
	e := l.entryFor(sh, h, k, lim, now)
	evicted := l.takeEvicted(sh)
	sh.mu.Unlock()
	l.release(ctx, evicted)
	return e
}

// quick reports whether valid Limits can be decided by allowPlain: a
// QPS bucket and windows, with or without a quota and its alerts, and
// no throttle.
func (lim *Limits) quick() bool {
	return lim.QPS != Unlimited && lim.Throttle.QPS == 0
}

// allowPlain decides r, whose Limits are valid and quick, into *d,
// zero, in the common case: its key's entry is in the index with every
// window inline, its quota (if it has one) counted in the period of now
// and not held, and a bucket refuses the request, or it is admitted
// from the lease in hand (or with no quota), or the quota is known to
// be spent (an admission reports the alert thresholds it crosses). That
// takes one lock, the entry's (and the shard's while it finds the entry
// by the hash), and none of the general evaluation (evaluation, decide), and decides exactly as they
// would (TestPlainPathDecidesAsTheGeneralOne). The entry is found
// through the key table when it can be (see keyTable), else by the hash
// of (plan, key), which is then returned as h (0 when not computed).
// done is false, and nothing was changed, when r must be decided the
// general way.
func (l *Limiter) allowPlain(d *Decision, r *Request, now time.Time) (done bool, h uint64) {
	lim := &r.Limits
	nw := len(lim.Windows)
	hasQuota := lim.Quota != Unlimited
	g := perSecond(lim.QPS, lim.Burst)
	units := r.units()
	ns := now.UnixNano()
	// The entry, by its key's identity under its decision lock alone
	// (lockIn fails for an entry in the limbo: the hash path brings it
	// back, or its release takes it out of the table), else by the hash,
	// under the shard's lock until the decision lock is taken. (An empty
	// key has no address of its own.)
	var e *entry
	if l.probe.Load() && len(r.Key) != 0 {
		if e = l.keys.Load().take(r.Plan, r.Key); e != nil {
			l.hit(e)
		}
	}
	if e == nil {
		h = l.hash(entryKey{r.Plan, r.Key})
		sh := l.shardOf(h)
		sh.mu.Lock()
		i := sh.entries.find(h)
		if i < 0 {
			sh.mu.Unlock()
			return false, h
		}
		e = sh.entries.slots[i].e
		if e.key != r.Key || e.span.Load().plan != r.Plan || len(sh.evicted) != 0 {
			sh.mu.Unlock()
			return false, h
		}
		l.remember(r.Key, e) // if e's key is this very string
		l.tally(sh, same(e.key, r.Key))
		sh.entries.touch(i)
		e.lock()
		sh.mu.Unlock()
	}
	q := &e.q
	s := e.span.Load()
	if hasQuota && (q.held() || !q.is(qCounted) || !s.holds(lim, ns)) || nw > int(q.nx) {
		e.unlock()
		return false, h
	}
	// The QPS bucket, then the windows (inline, in order). A refused
	// bucket's next is its wait, as in evaluation.add; d.tats takes
	// each bucket's time before the request.
	tat := e.tat
	next, wait, ok := g.take(tat, ns, 1)
	var wnext [MaxWindows]int64
	var wrefused uint8 // bit i: window i refused
	if nw > 0 {
		inline := e.inline()
		for i, w := range lim.Windows {
			d.tats[1+i] = inline[i]
			n, wt, wok := windowBucket(w).take(inline[i], ns, 1)
			if !wok {
				n = wt
				wrefused |= 1 << i
			}
			wnext[i] = n
		}
	}
	all := ok && wrefused == 0
	taken := all && (!hasQuota || q.leased() >= units && q.used-q.lease <= lim.Quota-units)
	if all && !taken && !q.spent(s, lim, ns) {
		e.unlock()
		clear(d.tats[1 : 1+nw])
		return false, h // the store must be asked
	}
	var x crossing
	if taken {
		e.tat = next
		if nw > 0 {
			copy(e.inline(), wnext[:nw])
		}
		if hasQuota {
			if l.onAlert != nil && len(lim.Alerts) > 0 {
				x = l.crossed(lim, q.used-q.lease, q.used-q.lease+units, s.window)
			}
			q.lease -= units
			if l.prefetch {
				l.fetchAhead(e, lim.Quota)
			}
		}
	}
	remaining := int64(Unlimited)
	if hasQuota {
		remaining = max(lim.Quota-(q.used-q.leased()), 0)
	}
	e.unlock()
	if x.mask != 0 {
		l.deliver(r, x)
	}

	// What decide makes of it.
	d.ns, d.nb = ns, uint8(1+nw)
	d.qps, d.burst, d.windows = lim.QPS, lim.Burst, lim.Windows
	d.Remaining = remaining
	if hasQuota {
		d.flags = dQuota
		d.quota = lim.Quota
		if s.end != 0 {
			d.qWindow, d.qReset = s.end-s.start, s.end-ns
			d.Reset = s.reset
		}
	}
	if taken {
		d.flags |= dTaken
		d.tats[0] = next
		if nw > 0 {
			copy(d.tats[1:], wnext[:nw])
		}
		d.Allowed = true
		return true, h
	}
	d.tats[0] = tat
	var refused Limit
	if !ok {
		refused = LimitQPS
	} else {
		wait = 0
	}
	for i := range nw {
		if wrefused&(1<<i) != 0 && wnext[i] >= wait {
			refused, wait = LimitWindow, wnext[i]
		}
	}
	d.refuse(refused, wait, hasQuota && remaining < units, s.end, ns, lim.DryRun)
	return true, h
}

// quotaView is a quota's position, as a decision reports it.
type quotaView struct {
	known      bool       // q counted in the period of the decision
	remaining  int64      // when known
	start, end int64      // the period, Unix ns, when known; end is 0 for Total
	reset      *time.Time // time.Unix(0, end), when known
}

// view sets *qv, zero, to q's position at ns under lim. (Through a
// pointer: a returned quotaView is copied with wide loads of what was
// just stored narrow, which stalls the refusal path.) The caller owns
// q.
func (q *quota) view(qv *quotaView, e *entry, lim *Limits, ns int64) {
	s := e.span.Load()
	if !q.is(qCounted) || !s.holds(lim, ns) {
		return
	}
	*qv = quotaView{known: true, remaining: max(lim.Quota-(q.used-q.leased()), 0), start: s.start, end: s.end, reset: &s.reset}
}

// decide sets *d, zero, to the Decision on r after its buckets were
// evaluated (ev) and, when taken, everything was taken. qv is the
// quota's position (nil without a quota).
func (l *Limiter) decide(d *Decision, ev *evaluation, qv *quotaView, r *Request, now time.Time, taken bool) {
	lim := &r.Limits
	ns := now.UnixNano()
	d.Remaining = Unlimited
	d.ns, d.nb = ns, uint8(ev.n)
	d.qps, d.burst, d.thr, d.windows = lim.QPS, lim.Burst, lim.Throttle, lim.Windows
	var refused Limit
	var wait int64
	if taken {
		d.flags = dTaken
		for i := range ev.n {
			d.tats[i] = ev.b[i].next
		}
	} else {
		for i := range ev.n {
			b := &ev.b[i]
			d.tats[i] = b.tat
			if !b.ok && b.next >= wait {
				refused, wait = b.limit, b.next // next is the wait
			}
		}
	}
	var end int64 // the quota period's end, Unix ns (0: Total)
	quotaShort := false
	if lim.Quota != Unlimited {
		d.flags |= dQuota
		d.quota = lim.Quota
		var start int64
		start, end = qv.start, qv.end
		remaining := qv.remaining
		if !qv.known {
			// A period the quota has not counted in yet: nothing of it
			// is known to be used.
			remaining = lim.Quota
			if lim.Period != Total {
				st, en := lim.Period.Window(now, lim.Location)
				start, end = st.UnixNano(), en.UnixNano()
			}
		}
		if end != 0 {
			d.qWindow, d.qReset = end-start, end-ns
			if qv.reset != nil {
				d.Reset = *qv.reset // the span's: computed once per period
			} else {
				d.Reset = time.Unix(0, end)
			}
		}
		quotaShort = remaining < r.units()
		d.Remaining = remaining
	}
	if taken {
		d.Allowed = true
		return
	}
	d.refuse(refused, wait, quotaShort, end, ns, lim.DryRun)
}

// refuse completes d, a refusal whose buckets' longest wait is wait (ns,
// math.MaxInt64 for never) by refused: when quotaShort, the quota, whose
// period ends at end (Unix ns; 0 for a Total quota, which never comes
// back), refuses too, and is reported when its wait is at least as long.
// A dry run serves the request.
func (d *Decision) refuse(refused Limit, wait int64, quotaShort bool, end, ns int64, dryRun bool) {
	if quotaShort {
		d.flags |= dQuotaRefused
		if end == 0 {
			refused, wait = LimitQuota, math.MaxInt64
		} else if end-ns >= wait {
			refused, wait = LimitQuota, end-ns
		}
	}
	d.Refused = refused
	if wait != math.MaxInt64 {
		d.RetryAfter = max(time.Duration(wait), time.Nanosecond)
	}
	if dryRun {
		d.Allowed, d.DryRun = true, true
	}
}

// takeQuota decides r with a store reservation when e's lease cannot
// cover it. ok is false, and nothing was counted, when e is dead: the
// caller must use the key's current entry. *x is set to the alert
// thresholds the request crossed, for the caller to deliver.
func (l *Limiter) takeQuota(ctx context.Context, e *entry, sh *shard, h uint64, r *Request, rt *rates, now time.Time, x *crossing) (d Decision, err error, ok bool) {
	q := &e.q
	lim := &r.Limits
	units := r.units()
	sh.hold(e)
	defer sh.drop(e)
	if q.is(qDead) {
		return Decision{}, nil, false
	}
	ns := now.UnixNano()
	l.roll(ctx, e, lim, now)
	if q.leased() > 0 && q.used-q.leased() >= lim.Quota {
		l.giveBack(ctx, e) // the quota was lowered below what we hold
	}
	for q.leased() < units && q.is(qFetching) {
		// A lease is on its way; a second one could strand units.
		if !l.awaitFetch(sh, e) {
			return Decision{}, nil, false
		}
	}
	var ev evaluation
	if !q.spent(e.span.Load(), lim, ns) && q.leased() < units {
		n := max(l.leaseFor(lim.Quota), units-q.leased())
		granted, used, err := l.reserve(ctx, e, Counter{Plan: r.Plan, Key: r.Key, Window: q.window(e)}, n, lim.Quota)
		if err != nil {
			return Decision{}, err, true
		}
		q.lease, q.used = q.leased()+granted, used
		q.set(qFull, granted == n)
		if granted == 0 && q.lease == 0 {
			q.lease = -max(ns, 1)
		}
	}
	// The buckets again, with the quota settled: a bucket that admitted
	// before the store call may be empty now.
	sh.mu.Lock()
	e.lock()
	l.eval(&ev, sh, e, h, r, rt, ns)
	taken := ev.ok && q.leased() >= units && q.used-q.leased() <= lim.Quota-units
	if taken {
		ev.commit(sh, e, ns)
		*x = l.crossed(lim, q.used-q.lease, q.used-q.lease+units, q.window(e))
		q.lease -= units
	}
	e.unlock()
	sh.mu.Unlock()
	if taken && e.out() && q.leased() > 0 {
		// Evicted while we reserved: its release may have run already.
		l.giveBack(ctx, e)
	}
	if taken {
		l.fetchAhead(e, lim.Quota)
	}
	var qv quotaView
	q.view(&qv, e, lim, ns)
	l.decide(&d, &ev, &qv, r, now, taken)
	return d, nil, true
}
