package limiter

import (
	"context"
	"math"
	"time"
)

// hold makes the calling goroutine the holder of e's quota, for work
// that calls the store: until drop, the quota is the caller's alone and
// decisions on e that need it wait (see quota). A second holder sleeps
// on q.mu. Neither lock is held; sh is e's shard.
func (sh *shard) hold(e *entry) {
	e.q.mu.Lock()
	sh.mu.Lock()
	e.setHeld(true)
	sh.mu.Unlock()
}

// drop ends the caller's hold of e's quota. sh.mu is not held.
func (sh *shard) drop(e *entry) {
	sh.mu.Lock()
	e.setHeld(false)
	sh.mu.Unlock()
	e.q.mu.Unlock()
}

// setHeld sets or clears lkHeld, under e's decision lock. e's shard's
// lock is held.
func (e *entry) setHeld(on bool) {
	e.lock()
	if on {
		e.q.lk |= lkHeld
	} else {
		e.q.lk &^= lkHeld
	}
	e.unlock()
}

// shardOfEntry is e's shard.
func (l *Limiter) shardOfEntry(e *entry) *shard { return &l.shards[e.q.shard] }

// window is q's store window (Counter.Window) in e's span. The caller
// owns q.
func (q *quota) window(e *entry) int64 {
	if !q.is(qCounted) {
		return 0
	}
	return e.span.Load().window
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
// prefetching is on and half the lease is spent. The caller owns e's
// quota.
func (l *Limiter) fetchAhead(e *entry, limit int64) {
	q := &e.q
	full := l.leaseFor(limit)
	if !l.prefetch || q.is(qFetching) || e.out() || !q.is(qFull) || q.leased() >= full/2 {
		return
	}
	// Callers may hold e's decision lock, a spin lock: never wait for
	// bgMu under it. A top-up not started now is started by the next
	// decision.
	if !l.bgMu.TryLock() {
		return
	}
	defer l.bgMu.Unlock()
	if l.closed {
		return
	}
	q.set(qFetching, true)
	q.set(qReset, false)
	if l.fetches == nil {
		l.fetches = map[*entry]chan struct{}{}
	}
	l.fetches[e] = make(chan struct{})
	// Top the lease up to one full lease, not more: a crash still
	// forfeits at most one lease per key.
	window, n := q.window(e), full-q.leased()
	l.bg.Go(func() { l.reserveAhead(e, window, n, limit) })
}

// awaitFetch waits, with e's quota dropped meanwhile, for e's
// background reservation to land, and reports whether e is still alive:
// an entry evicted meanwhile is released once its reservation lands
// (see release), and a caller that went on with it would reserve units
// that nothing gives back, beside the key's new entry. The caller holds
// e's quota; sh is e's shard.
func (l *Limiter) awaitFetch(sh *shard, e *entry) (alive bool) {
	l.bgMu.Lock()
	ch := l.fetches[e]
	l.bgMu.Unlock()
	if ch != nil {
		sh.drop(e)
		<-ch
		sh.hold(e)
	}
	return !e.q.is(qDead)
}

// reserveAhead adds a lease to e, or gives it back if the period ended
// or the entry was evicted meanwhile.
func (l *Limiter) reserveAhead(e *entry, window, n, limit int64) {
	ctx := context.Background()
	c := Counter{Plan: e.plan(), Key: e.key, Window: window}
	granted, used, err := l.store.Reserve(ctx, c, n, limit)
	q := &e.q
	sh := l.shardOfEntry(e)
	sh.hold(e)
	// An entry evicted while this reservation was on its way was left in
	// the limbo (see release): release it once this is done.
	defer func() {
		if e.out() {
			l.release(ctx, []*entry{e})
		}
	}()
	defer sh.drop(e)
	q.set(qFetching, false)
	defer func() {
		l.bgMu.Lock()
		close(l.fetches[e])
		delete(l.fetches, e)
		l.bgMu.Unlock()
	}()
	if err != nil || granted == 0 {
		q.set(qFull, false)
		return // the next decision that needs units asks the store itself
	}
	if q.is(qReset) {
		// A SetUsage set the count meanwhile. The store counts these
		// units only if the reservation ran after it, which cannot be
		// told: holding them could admit them twice, dropping them
		// leaves at most one lease unused.
		q.set(qReset, false)
		q.set(qFull, false)
		return
	}
	if q.window(e) != window || e.out() {
		_ = l.store.Release(ctx, c, granted) // best effort: under-admits, never over
		return
	}
	// used counts every lease this limiter holds, so consumed
	// (used - lease) stays right; a later synchronous Reserve may already
	// have seen a higher usage. (A grant waits for this reply.)
	q.lease = q.leased() + granted
	q.used = max(q.used, used)
	q.set(qFull, granted == n)
}

// takeEvicted returns the entries pushed out. sh.mu is held.
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
		k := e.id()
		sh := l.shardOfEntry(e)
		sh.hold(e)
		if e.q.is(qFetching) {
			// A reservation is on its way: its units are in the store
			// already, so the entry stays in the limbo until it lands
			// and gives them back, then releases the entry (see
			// reserveAhead). A new entry would count them as used.
			sh.drop(e)
			continue
		}
		// Even if the entry came back meanwhile (it then reserves
		// again): it may be out again by the time the shard is locked.
		l.giveBack(ctx, e)
		sh.mu.Lock()
		dead := e.out() && sh.limbo[k] == e
		if dead {
			delete(sh.limbo, k)
			e.q.set(qDead, true)
		}
		e.setHeld(false)
		sh.mu.Unlock()
		e.q.mu.Unlock()
		if dead {
			l.forget(e.key, e) // the key table keeps no dead entry alive
		}
	}
}

// giveBack releases e's unused lease (and moves a count e holds into
// the MemoryStore). The caller holds e's quota. A failure under-admits,
// never over-admits.
func (l *Limiter) giveBack(ctx context.Context, e *entry) error {
	q := &e.q
	if q.lease <= 0 && !q.is(qOwned) {
		return nil
	}
	n := q.leased()
	err := l.releaseLease(ctx, e, Counter{Plan: e.plan(), Key: e.key, Window: q.window(e)}, n)
	q.used -= n
	if q.lease > 0 {
		q.lease = 0
	}
	return err
}

// reserve reserves up to n units of c for e. The caller holds e's quota.
func (l *Limiter) reserve(ctx context.Context, e *entry, c Counter, n, limit int64) (granted, used int64, err error) {
	if l.mem != nil {
		granted, used = l.mem.ownReserve(e, c, n, limit)
		return granted, used, nil
	}
	return l.store.Reserve(ctx, c, n, limit)
}

// releaseLease gives back n units of c that e holds; a count e holds
// moves into the MemoryStore. The caller holds e's quota.
func (l *Limiter) releaseLease(ctx context.Context, e *entry, c Counter, n int64) error {
	if l.mem != nil {
		l.mem.ownRelease(e, c, n)
		return nil
	}
	return l.store.Release(ctx, c, n)
}

// spill moves the count of c out of its entry into the MemoryStore,
// for a direct call on the store that changes it.
func (l *Limiter) spill(c Counter) {
	sh, e := l.entryOf(entryKey{c.Plan, c.Key})
	if e == nil {
		return
	}
	q := &e.q
	sh.hold(e)
	defer sh.drop(e)
	if q.is(qOwned) && q.window(e) == c.Window {
		q.set(qOwned, false)
		l.mem.setUsage(c, q.used)
	}
}

// ownedUsage returns the usage of c (leases included, as a store counts
// it) when an entry holds it.
func (l *Limiter) ownedUsage(c Counter) (int64, bool) {
	sh, e := l.entryOf(entryKey{c.Plan, c.Key})
	if e == nil {
		return 0, false
	}
	q := &e.q
	sh.hold(e)
	defer sh.drop(e)
	if q.is(qOwned) && q.window(e) == c.Window {
		return q.used, true
	}
	return 0, false
}

// ownedPlanUsage adds to out the usage of plan's keys in window that
// entries hold (leases included, as a store counts them). It reads only
// the entries whose index slot carries plan's tag (1 in 256 of other
// plans' entries), not every entry.
func (l *Limiter) ownedPlanUsage(plan string, window int64, out map[string]int64) {
	tag := planTag(l.planHash(plan))
	var es []*entry
	for i := range l.shards {
		sh := &l.shards[i]
		es = es[:0]
		sh.mu.Lock()
		for _, s := range sh.entries.slots {
			if s.e != nil && s.h&tagMask == tag && s.e.plan() == plan {
				es = append(es, s.e)
			}
		}
		for _, e := range sh.limbo {
			if e.plan() == plan {
				es = append(es, e)
			}
		}
		sh.mu.Unlock()
		for _, e := range es {
			q := &e.q
			sh.hold(e)
			if q.is(qOwned) && q.window(e) == window {
				out[e.key] = q.used
			}
			sh.drop(e)
		}
	}
}

// roll moves e's quota into the period containing now, giving back the
// unused lease of the period that ended. The caller holds e's quota.
func (l *Limiter) roll(ctx context.Context, e *entry, lim *Limits, now time.Time) {
	q := &e.q
	cur := e.span.Load()
	if q.is(qCounted) && cur.holds(lim, now.UnixNano()) {
		return
	}
	next := l.spanAt(cur.plan, lim, now)
	if old := q.window(e); !q.is(qCounted) || next.window != old {
		if q.lease > 0 || q.is(qOwned) {
			// Best effort: a failure only leaves the old period over-counted.
			_ = l.releaseLease(ctx, e, Counter{Plan: cur.plan, Key: e.key, Window: old}, q.leased())
		}
		q.lease, q.used = 0, 0
		l.prune(cur.plan, next)
	}
	if q.lease < 0 {
		q.lease = 0
	}
	q.set(qCounted, true)
	e.span.Store(next)
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
