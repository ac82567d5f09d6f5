package limiter

import (
	"context"
	"time"
)

// SharedStore is a Store that also keeps the QPS buckets, so that QPS is
// exact across instances sharing it (Redis). The Limiter then keeps no
// local state for the key and makes one Take per decision: QPS and quota
// in one atomic step, on the store's clock.
type SharedStore interface {
	Store
	// Take checks c's token bucket (rate and burst qps; Unlimited skips
	// it) and, if a token was taken, reserves n units of quota without
	// passing limit (Unlimited skips it).
	Take(ctx context.Context, c Counter, qps, n, limit int64) (TakeResult, error)
}

// TakeResult is what SharedStore.Take decided.
type TakeResult struct {
	QPSAllowed bool
	RetryAfter time.Duration // when !QPSAllowed: until a token is back
	Granted    int64         // quota units reserved
	Used       int64         // quota usage after the call, also when !QPSAllowed (when limit is not Unlimited)
}

// allowShared decides on a SharedStore.
func (l *Limiter) allowShared(ctx context.Context, s SharedStore, plan, key string, lim Limits, now time.Time) (Decision, error) {
	if lim.QPS == Unlimited && lim.Quota == Unlimited {
		return Decision{Allowed: true, Remaining: Unlimited}, nil
	}
	c := Counter{Plan: plan, Key: key}
	var d Decision
	if lim.Period != Total {
		start, end := lim.Period.Window(now, lim.Location)
		c.Window, d.Reset = start.Unix(), end
	}
	qps, limit := lim.QPS, lim.Quota
	r, err := s.Take(ctx, c, qps, 1, limit)
	if err != nil {
		return Decision{}, err
	}
	switch {
	case !r.QPSAllowed:
		d.Refused, d.Remaining, d.RetryAfter = LimitQPS, Unlimited, max(r.RetryAfter, time.Nanosecond)
		if limit != Unlimited {
			d.Remaining = max(limit-r.Used, 0) // the quota is untouched, and Used reports it
		}
		return d, nil
	case limit == Unlimited:
		return Decision{Allowed: true, Remaining: Unlimited}, nil
	case r.Granted == 0:
		d.Refused = LimitQuota
		if !d.Reset.IsZero() {
			d.RetryAfter = d.Reset.Sub(now)
		}
		return d, nil
	}
	d.Allowed = true
	d.Remaining = max(limit-r.Used, 0)
	return d, nil
}
