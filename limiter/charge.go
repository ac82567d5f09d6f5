package limiter

import (
	"context"
	"time"
)

// Charge is ChargeAt with time.Now().
func (l *Limiter) Charge(ctx context.Context, r Request) (overage int64, err error) {
	return l.ChargeAt(ctx, time.Now(), r)
}

// ChargeAt charges r.Units more quota units to (r.Plan, r.Key) in the
// period containing now, for work already done: an AI API's tokens,
// known only after the response. A charge is never refused. It takes
// what is left of the quota, down to 0 at most, and returns the units
// past it (the overage), which are not counted in the quota: a later
// raise of the quota is not eaten by them. The buckets are not touched,
// and a dry run (Limits.DryRun) is charged like any other plan: the work
// was done.
//
// r.Units 0 charges nothing; an unlimited quota counts nothing (the
// overage is 0). r.Units above MaxUnits is refused (ErrInvalidLimits),
// with nothing charged: charge more in several calls. The charge counts toward Limits.Alerts like an admitted
// request. An error means invalid Limits or a store failure; then the
// units the Limiter's lease held are charged and the rest is not.
func (l *Limiter) ChargeAt(ctx context.Context, now time.Time, r Request) (overage int64, err error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	if r.Units > MaxUnits {
		return 0, invalid("a charge of %d units, above MaxUnits (%d)", r.Units, int64(MaxUnits))
	}
	if r.Units == 0 || r.Limits.Quota == Unlimited {
		return 0, nil
	}
	if l.shared != nil {
		return l.chargeShared(ctx, &r, now)
	}
	lim := &r.Limits
	k := entryKey{r.Plan, r.Key}
	h := l.hash(k)
	sh := l.shardOf(h)
	for {
		e := l.keyEntry(ctx, sh, h, k, lim, now)
		var x crossing
		overage, err, ok := l.chargeEntry(ctx, sh, e, &r, now, &x)
		if ok {
			l.deliver(&r, x)
			return overage, err
		}
		// e was evicted and released meanwhile: charge the key's entry.
	}
}

// chargeEntry charges r.Units to e: from its lease first, then from the
// store with a Reserve, which adds at most what is left of the quota
// (the rest is the overage). ok is false, and nothing was charged, when
// e is dead. sh is e's shard. *x is set to the alert thresholds the charge crossed.
func (l *Limiter) chargeEntry(ctx context.Context, sh *shard, e *entry, r *Request, now time.Time, x *crossing) (overage int64, err error, ok bool) {
	q := &e.q
	lim := &r.Limits
	sh.hold(e)
	defer sh.drop(e)
	if q.is(qDead) {
		return 0, nil, false
	}
	ns := now.UnixNano()
	l.roll(ctx, e, lim, now)
	if q.leased() > 0 && q.used-q.leased() >= lim.Quota {
		_ = l.giveBack(ctx, e) // the quota was lowered below what we hold
	}
	for q.is(qFetching) {
		// Its units land in the store and the lease together.
		if !l.awaitFetch(sh, e) {
			return 0, nil, false
		}
	}
	n := r.Units
	fromLease := min(q.leased(), n)
	if fromLease > 0 {
		q.lease -= fromLease
	}
	rest := n - fromLease
	var granted int64
	if rest > 0 && !q.spent(e.span.Load(), lim, ns) {
		c := Counter{Plan: r.Plan, Key: r.Key, Window: q.window(e)}
		g, used, err := l.reserve(ctx, e, c, rest, lim.Quota)
		if err != nil {
			*x = l.crossed(lim, q.used-q.leased()-fromLease, q.used-q.leased(), c.Window)
			return 0, err, true
		}
		granted, q.used = g, used
		if q.leased() == 0 && used >= lim.Quota {
			q.lease = -max(ns, 1) // spent: refuse from memory
		}
	}
	after := q.used - q.leased()
	*x = l.crossed(lim, after-fromLease-granted, after, q.window(e))
	return rest - granted, nil, true
}

// chargeShared charges r on a SharedStore, in one atomic step that also
// reports the alert thresholds it crossed.
func (l *Limiter) chargeShared(ctx context.Context, r *Request, now time.Time) (int64, error) {
	lim := &r.Limits
	t := Take{Counter: Counter{Plan: r.Plan, Key: r.Key}, Units: r.Units, Quota: lim.Quota, Charge: true, Alerts: l.alertLevels(lim)}
	if lim.Period != Total {
		start, _ := lim.Period.Window(now, lim.Location)
		t.Counter.Window = start.Unix()
	}
	res, err := l.shared.Take(ctx, t)
	if err != nil {
		return 0, err
	}
	l.deliver(r, crossing{mask: res.Crossed, used: min(res.Used, lim.Quota), window: t.Counter.Window})
	return r.Units - res.Charged, nil
}
