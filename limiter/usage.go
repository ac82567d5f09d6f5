package limiter

import (
	"context"
	"fmt"
	"time"
)

// counter returns the store counter of (plan, key) for the period
// containing now.
func counter(plan, key string, lim Limits, now time.Time) Counter {
	c := Counter{Plan: plan, Key: key}
	if lim.Period != Total {
		start, _ := lim.Period.Window(now, lim.Location)
		c.Window = start.Unix()
	}
	return c
}

// unusedLease returns the units this limiter holds for c and has not
// admitted yet; they are counted in the store but not used.
func (l *Limiter) unusedLease(c Counter) int64 {
	sh, e := l.entryOf(entryKey{c.Plan, c.Key})
	if e == nil {
		return 0
	}
	q := &e.q
	sh.hold(e)
	defer sh.drop(e)
	if !q.is(qCounted) || q.window(e) != c.Window {
		return 0
	}
	return q.leased()
}

// Usage returns the requests of key admitted under plan in the period
// containing now.
func (l *Limiter) Usage(ctx context.Context, plan, key string, lim Limits, now time.Time) (int64, error) {
	c := counter(plan, key, lim, now)
	used, err := l.store.Usage(ctx, c)
	if err != nil {
		return 0, err
	}
	return max(used-l.unusedLease(c), 0), nil
}

// SetUsage sets the usage of key under plan in the period containing now
// to used (an adjustment; 0 resets). This limiter's unused lease is
// dropped with it. The key's entry is held meanwhile (made, as a request
// would make it, if the key has none), so that the key's requests
// reserve before the new count or after it, never across it.
func (l *Limiter) SetUsage(ctx context.Context, plan, key string, lim Limits, now time.Time, used int64) error {
	c := counter(plan, key, lim, now)
	if l.shared != nil { // no entry holds a lease
		return l.store.SetUsage(ctx, c, used)
	}
	// The key's entry, made if it has none, is held throughout: a request
	// of the key that would reserve meanwhile waits, so that no lease the
	// store counted before the new count is left in an entry after it.
	sh, e := l.heldEntry(ctx, entryKey{plan, key}, &lim, now)
	defer sh.drop(e)
	q := &e.q
	if q.is(qCounted) && q.window(e) == c.Window {
		q.lease, q.used = 0, max(used, 0)
		q.set(qReset, q.is(qFetching))
		if q.is(qOwned) {
			return nil // the entry holds the count
		}
	}
	if l.mem != nil {
		l.mem.setUsage(c, used) // the quota is held: not through SetUsage, which would hold it
		return nil
	}
	return l.store.SetUsage(ctx, c, used)
}

// heldEntry returns the entry of k, made if k has none, with its quota
// held (an entry released meanwhile is passed over for the key's next
// one).
func (l *Limiter) heldEntry(ctx context.Context, k entryKey, lim *Limits, now time.Time) (*shard, *entry) {
	h := l.hash(k)
	sh := l.shardOf(h)
	for {
		e := l.keyEntry(ctx, sh, h, k, lim, now)
		sh.hold(e)
		if !e.q.is(qDead) {
			return sh, e
		}
		sh.drop(e)
	}
}

// GrantUsage lowers the usage of key under plan in the period containing
// now by units (not below 0), giving the key that many more requests in
// the period, and returns the usage after. The store lowers its count
// in one step (Store.Release), so grants, resets and decisions made at
// the same time, here or by other Limiters on the store, all count;
// reading the usage and setting it lowered would lose one of two grants
// made at once. This limiter's unused lease goes back with the grant.
// A grant larger than the usage takes from the store the units other
// Limiters hold as leases too (the store lowers a count to 0 at most),
// so each of them can admit up to one lease more in the period.
func (l *Limiter) GrantUsage(ctx context.Context, plan, key string, lim Limits, now time.Time, units int64) (int64, error) {
	if units < 0 {
		return 0, fmt.Errorf("limiter: a grant of %d units; grant 0 or more", units)
	}
	c := counter(plan, key, lim, now)
	used, held, err := l.grant(ctx, c, units)
	if err != nil || held {
		return used, err
	}
	return l.Usage(ctx, plan, key, lim, now)
}

// grant releases units of c in the store, and the unused lease of c's
// entry with them; held reports that the entry holds c's count, which
// is then used. It waits for the entry's background reservation, if one
// is in flight: the store, which lowers a count to 0 at most, would
// otherwise let the grant take the reservation's units too, which the
// entry then holds uncounted, and the reply would bring back the count
// from before the grant.
func (l *Limiter) grant(ctx context.Context, c Counter, units int64) (used int64, held bool, err error) {
	k := entryKey{c.Plan, c.Key}
	sh, e := l.entryOf(k)
	if e == nil {
		return 0, false, l.store.Release(ctx, c, units)
	}
	q := &e.q
	sh.hold(e)
	for q.is(qFetching) {
		if !l.awaitFetch(sh, e) { // released meanwhile: the key's entry now
			sh.drop(e)
			return l.grant(ctx, c, units)
		}
	}
	defer sh.drop(e)
	if !q.is(qCounted) || q.window(e) != c.Window {
		if l.mem != nil {
			l.mem.release(c, units) // the quota is held: not through Release, which would hold it
			return 0, false, nil
		}
		return 0, false, l.store.Release(ctx, c, units)
	}
	if q.is(qOwned) {
		q.used = max(q.used-units, 0)
		return q.used, true, nil
	}
	n := units + q.leased()
	if err := l.releaseLease(ctx, e, c, n); err != nil {
		return 0, false, err
	}
	q.lease, q.used = 0, max(q.used-n, 0)
	return 0, false, nil
}

// Shared reports whether the Limiter's store is a SharedStore, which
// decides every request itself: Limiters on one such store (the
// instances of a fleet on one Redis) share their counts exactly, and a
// reset through one resets them for all.
func (l *Limiter) Shared() bool { return l.shared != nil }

// ResetUsage is SetUsage with 0.
func (l *Limiter) ResetUsage(ctx context.Context, plan, key string, lim Limits, now time.Time) error {
	return l.SetUsage(ctx, plan, key, lim, now, 0)
}

// PlanUsage returns, per key, the requests admitted under plan in the
// period containing now, and their sum.
func (l *Limiter) PlanUsage(ctx context.Context, plan string, lim Limits, now time.Time) (map[string]int64, int64, error) {
	window := counter(plan, "", lim, now).Window
	byKey, err := l.store.PlanUsage(ctx, plan, window)
	if err != nil {
		return nil, 0, err
	}
	var sum int64
	for key, used := range byKey {
		used = max(used-l.unusedLease(Counter{Plan: plan, Key: key, Window: window}), 0)
		byKey[key] = used
		sum += used
	}
	return byKey, sum, nil
}

// Close gives every unused lease back to the store, so that a graceful
// shutdown forfeits nothing. It does not close the store. Close is
// idempotent; the Limiter must not be used afterwards.
func (l *Limiter) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.bgMu.Lock()
		l.closed = true
		l.bgMu.Unlock()
		l.bg.Wait()
		for i := range l.shards {
			sh := &l.shards[i]
			sh.mu.Lock()
			entries := append(sh.entries.all(), sh.evicted...)
			for _, e := range sh.limbo {
				entries = append(entries, e) // evicted and being released; a second giveBack finds no lease
			}
			sh.evicted = nil
			sh.mu.Unlock()
			for _, e := range entries {
				sh.hold(e)
				if err := l.giveBack(ctx, e); err != nil && l.closeErr == nil {
					l.closeErr = err
				}
				sh.drop(e)
			}
		}
		if l.mem != nil {
			l.mem.owner.CompareAndSwap(l, nil) // every count is in the store now
		}
	})
	return l.closeErr
}

// entryOf returns the entry of k, or nil, and its shard.
func (l *Limiter) entryOf(k entryKey) (*shard, *entry) {
	h := l.hash(k)
	sh := l.shardOf(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh, sh.lookup(h, k)
}
