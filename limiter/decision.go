package limiter

import "time"

// Limit names a kind of limit.
type Limit uint8

const (
	LimitNone     Limit = iota // admitted
	LimitQPS                   // the plan's per-key bucket (Limits.QPS, Burst)
	LimitQuota                 // the quota of the period (Limits.Quota)
	LimitWindow                // one of Limits.Windows
	LimitThrottle              // the API's bucket (Limits.Throttle)
)

// String returns "none", "qps", "quota", "window" or "throttle".
func (l Limit) String() string {
	switch l {
	case LimitQPS:
		return "qps"
	case LimitQuota:
		return "quota"
	case LimitWindow:
		return "window"
	case LimitThrottle:
		return "throttle"
	}
	return "none"
}

// maxPolicies is the most policies a decision reports: the throttle,
// the QPS bucket, the windows and the quota.
const maxPolicies = 3 + MaxWindows

// Policy is one limit's state after a decision.
type Policy struct {
	Limit Limit
	// Name is "throttle", "qps", the window's Name or "quota".
	Name string
	// Quota is what the policy admits per Window: the bucket's burst
	// (requests), or the quota (units).
	Quota int64
	// Window is the time a bucket takes to refill from empty, or the
	// quota period's length (0 for a Total quota, which never resets).
	Window time.Duration
	// Remaining is what is left: whole tokens for a bucket, units for
	// the quota.
	Remaining int64
	// Reset is how long until the bucket is full again (when it is
	// empty: until its next token), or until the quota period ends (0
	// for a Total quota).
	Reset time.Duration
	// Refused is set when this limit refused the request (or, in a dry
	// run, would have).
	Refused bool
}

// Decision is the outcome of one request. Being refused is a Decision,
// not an error. A Decision is a value: it holds what its policies are
// computed from (Policies and Closest compute them when called, and
// change nothing), so a copy is independent and reading one from several
// goroutines is safe. The zero Decision is a refusal by no limit (Allowed
// false, Refused LimitNone): what a failed call returns.
type Decision struct {
	// Allowed is whether the request may be served: every limit admitted
	// it, or Limits.DryRun served a request that a limit refused (then
	// Refused names that limit and DryRun is set).
	Allowed bool
	// Refused is the limit that refused the request with the longest
	// wait; LimitNone when every limit admitted it.
	Refused Limit
	// DryRun is set when a refusal was not enforced.
	DryRun bool
	// Remaining is the quota left in the period after this decision, or
	// Unlimited when the quota is. A refusal consumes no quota and
	// reports what is left of it, as this Limiter knows it (a shared
	// store reads it in the same step).
	Remaining int64
	// RetryAfter is, for a refusal, how long until a retry can succeed:
	// the longest wait among the limits that refused (until a bucket
	// holds a token, or until the quota period resets; 0 for a Total
	// quota, which never resets).
	RetryAfter time.Duration
	// Reset is when the quota period ends; zero for Total or an
	// unlimited quota.
	Reset time.Time

	// What the policies are computed from (see fill): the buckets'
	// theoretical arrival times after the decision (before it, when the
	// request took nothing), in the order throttle, QPS, windows, and
	// the limits that made them.
	flags   uint8 // dTaken, dQuota, dQuotaRefused
	nb      uint8 // buckets in tats
	ns      int64 // the decision's time, Unix ns
	qps     int64
	burst   int64
	thr     Throttle
	quota   int64
	windows []Window // the request's Limits.Windows (their names)
	tats    [maxBuckets]int64
	qWindow int64 // the quota period's length, 0 for Total
	qReset  int64 // until the quota period ends, 0 for Total
	// shared holds the policies of a decision on a SharedStore, which
	// the store reported.
	shared *[]Policy
}

// The Decision's flags.
const (
	dTaken        uint8 = 1 << iota // the request took its tokens and units
	dQuota                          // a quota applied
	dQuotaRefused                   // the quota refused the request
)

// Policies returns the state of every limit that applied to the request
// (the throttle, the QPS bucket, each window, the quota, in that order),
// in a new slice: they are computed on each call. The windows' policies
// read the elements of the request's Limits.Windows when called, so
// those must not be changed while the Decision is in use (the
// middleware builds them once per plan version and never changes them).
func (d *Decision) Policies() []Policy {
	var ps [maxPolicies]Policy
	n := d.fill(&ps)
	return append([]Policy(nil), ps[:n]...)
}

// fill computes d's policies into ps and returns how many there are.
func (d *Decision) fill(ps *[maxPolicies]Policy) int {
	if d.shared != nil {
		return copy(ps[:], *d.shared)
	}
	n := 0
	taken := d.flags&dTaken != 0
	bucket := func(limit Limit, name string, g gcra) {
		tat := d.tats[n]
		rem, reset := g.state(tat, d.ns)
		ok := true
		if !taken {
			var wait int64
			if _, wait, ok = g.take(tat, d.ns, 1); !ok {
				reset = time.Duration(wait)
			}
		}
		ps[n] = Policy{Limit: limit, Name: name, Quota: g.burst, Window: time.Duration(g.tol),
			Remaining: rem, Reset: reset, Refused: !ok}
		n++
	}
	if d.nb > 0 {
		if d.thr.QPS > 0 {
			bucket(LimitThrottle, nameThrottle, perSecond(d.thr.QPS, d.thr.Burst))
		}
		if d.qps != Unlimited {
			bucket(LimitQPS, nameQPS, perSecond(d.qps, d.burst))
		}
		for _, w := range d.windows {
			if n >= int(d.nb) {
				break
			}
			bucket(LimitWindow, w.Name, windowBucket(w))
		}
	}
	if d.flags&dQuota != 0 {
		ps[n] = Policy{Limit: LimitQuota, Name: nameQuota, Quota: d.quota, Window: time.Duration(d.qWindow),
			Remaining: d.Remaining, Reset: time.Duration(d.qReset), Refused: d.flags&dQuotaRefused != 0}
		n++
	}
	return n
}

// Closest returns the policy closest to exhaustion: a refusing one (the
// longest wait), else the one with the least remaining relative to its
// quota (of two alike, the one that takes longer to reset). ok is false
// when no limit applied.
func (d *Decision) Closest() (p Policy, ok bool) {
	var ps [maxPolicies]Policy
	n := d.fill(&ps)
	best := -1
	for i := range n {
		q := &ps[i]
		if best < 0 {
			best = i
			continue
		}
		b := &ps[best]
		switch {
		case q.Refused != b.Refused:
			if q.Refused {
				best = i
			}
		case q.Refused:
			if q.Reset > b.Reset {
				best = i
			}
		default:
			qr, br := float64(q.Remaining)/float64(max(q.Quota, 1)), float64(b.Remaining)/float64(max(b.Quota, 1))
			if qr < br || qr == br && q.Reset > b.Reset {
				best = i
			}
		}
	}
	if best < 0 {
		return Policy{}, false
	}
	return ps[best], true
}
