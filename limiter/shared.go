package limiter

import (
	"context"
	"math"
	"strconv"
	"time"
)

// SharedStore is a Store that also keeps the buckets, so that every
// limit is exact across instances sharing it (Redis). The Limiter then
// keeps no local state for the key and makes one Take per decision: the
// buckets and the quota in one atomic step, on the store's clock. Like
// every Store, it must be safe for concurrent use: Take is called from
// every goroutine that asks for a decision.
type SharedStore interface {
	Store
	// Take decides t all or nothing: if every bucket holds a token and
	// the quota has t.Units left, it takes them all; otherwise it takes
	// nothing.
	Take(ctx context.Context, t Take) (TakeResult, error)
}

// Take is one decision on a SharedStore.
type Take struct {
	// Counter is the quota's counter; its (Plan, Key) own the buckets.
	Counter Counter
	// Buckets are the token buckets the request passes, each taking one
	// token (requests are counted, not units).
	Buckets []Bucket
	Units   int64 // quota units, at least 0
	Quota   int64 // the counter's limit; Unlimited skips the quota
	// Charge makes the Take a charge (Limiter.ChargeAt): it has no
	// Buckets, is never refused, and takes min(Units, Quota-usage), at
	// least 0, from the quota (TakeResult.Charged).
	Charge bool
	// Alerts are quota usage levels, in units (at most MaxAlerts): the
	// store reports in TakeResult.Crossed those that this Take took the
	// usage from below to at least, in the same atomic step.
	Alerts []int64
}

// Bucket is one token bucket of a SharedStore, per (plan, key): a token
// every Interval, at most Burst tokens.
type Bucket struct {
	// ID names the bucket among its (plan, key)'s: "qps", "w<i>" for
	// window i, "t:<API ID>" for a throttle. A store keys on it and on
	// the counter's (plan, key), nothing else, so that buckets never
	// merge.
	ID       string
	Interval time.Duration // at least 1 ns
	Burst    int64         // at least 1
}

// BucketState is a bucket's state after a Take.
type BucketState struct {
	OK        bool          // it held a token
	Remaining int64         // whole tokens left
	Wait      time.Duration // when !OK: until it holds one
	Reset     time.Duration // until it is full again
}

// TakeResult is what SharedStore.Take decided.
type TakeResult struct {
	Allowed bool          // everything was taken
	Buckets []BucketState // one per Take.Buckets, in order
	Used    int64         // quota usage after the call (when Quota is not Unlimited)
	Charged int64         // the units a Charge took from the quota
	// Crossed has bit i set when the call took the quota's usage from
	// below Take.Alerts[i] to at least it.
	Crossed uint64
}

// ID returns an identity of c that differs for every different Counter:
// stores may key on it without knowing c's fields.
func (c Counter) ID() string {
	b := make([]byte, 0, 24+len(c.Plan)+len(c.Key))
	b = strconv.AppendInt(b, int64(len(c.Plan)), 10)
	b = append(b, ':')
	b = append(b, c.Plan...)
	b = strconv.AppendInt(b, int64(len(c.Key)), 10)
	b = append(b, ':')
	b = append(b, c.Key...)
	b = strconv.AppendInt(b, c.Window, 10)
	return string(b)
}

// sharedBuckets lists r's buckets for a SharedStore, with their policy
// names and kinds.
func sharedBuckets(r *Request) (bs []Bucket, kinds []Limit, names []string) {
	lim := &r.Limits
	add := func(k Limit, name, id string, g gcra) {
		bs = append(bs, Bucket{ID: id, Interval: time.Duration(g.interval), Burst: g.burst})
		kinds = append(kinds, k)
		names = append(names, name)
	}
	if lim.Throttle.QPS > 0 {
		add(LimitThrottle, nameThrottle, "t:"+r.API, perSecond(lim.Throttle.QPS, lim.Throttle.Burst))
	}
	if lim.QPS != Unlimited {
		add(LimitQPS, nameQPS, "qps", perSecond(lim.QPS, lim.Burst))
	}
	for i, w := range lim.Windows {
		add(LimitWindow, w.Name, "w"+strconv.Itoa(i), windowBucket(w))
	}
	return bs, kinds, names
}

// allowShared decides on a SharedStore.
func (l *Limiter) allowShared(ctx context.Context, s SharedStore, r *Request, now time.Time) (Decision, error) {
	lim := &r.Limits
	bs, kinds, names := sharedBuckets(r)
	if len(bs) == 0 && lim.Quota == Unlimited {
		return Decision{Allowed: true, Remaining: Unlimited}, nil
	}
	t := Take{Counter: Counter{Plan: r.Plan, Key: r.Key}, Buckets: bs, Units: r.units(), Quota: lim.Quota, Alerts: l.alertLevels(lim)}
	var start, end int64
	if lim.Period != Total && lim.Quota != Unlimited {
		st, en := lim.Period.Window(now, lim.Location)
		t.Counter.Window, start, end = st.Unix(), st.UnixNano(), en.UnixNano()
	}
	res, err := s.Take(ctx, t)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Remaining: Unlimited}
	shared := make([]Policy, 0, len(bs)+1)
	var refused Limit
	var wait int64
	for i, b := range res.Buckets {
		if i >= len(bs) {
			break
		}
		p := Policy{Limit: kinds[i], Name: names[i], Quota: bs[i].Burst, Window: time.Duration(int64(bs[i].Interval) * bs[i].Burst),
			Remaining: b.Remaining, Reset: b.Reset, Refused: !b.OK}
		if !b.OK {
			p.Reset = b.Wait
			if int64(b.Wait) >= wait {
				refused, wait = kinds[i], int64(b.Wait)
			}
		}
		shared = append(shared, p)
	}
	if lim.Quota != Unlimited {
		p := Policy{Limit: LimitQuota, Name: nameQuota, Quota: lim.Quota, Remaining: max(lim.Quota-res.Used, 0)}
		if end != 0 {
			p.Window, p.Reset = time.Duration(end-start), time.Duration(end-now.UnixNano())
			d.Reset = time.Unix(0, end)
		}
		if !res.Allowed && p.Remaining < t.Units {
			p.Refused = true
			if end == 0 {
				refused, wait = LimitQuota, math.MaxInt64
			} else if int64(p.Reset) >= wait {
				refused, wait = LimitQuota, int64(p.Reset)
			}
		}
		d.Remaining = p.Remaining
		shared = append(shared, p)
	}
	d.shared = &shared
	if res.Allowed {
		d.Allowed = true
		l.deliver(r, crossing{mask: res.Crossed, used: min(res.Used, lim.Quota), window: t.Counter.Window})
		return d, nil
	}
	d.Refused = refused
	if refused == LimitNone {
		d.Refused = LimitQuota // the store refused what it did not report: only the quota can
	}
	if wait != math.MaxInt64 {
		d.RetryAfter = max(time.Duration(wait), time.Nanosecond)
	}
	if lim.DryRun {
		d.Allowed, d.DryRun = true, true
	}
	return d, nil
}
