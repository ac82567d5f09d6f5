package limiter

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Unlimited is the QPS or Quota that means no limit.
const Unlimited = -1

// MaxWindows is the most windows a Limits may hold besides its QPS
// bucket.
const MaxWindows = 4

// MaxUnits is the most units one ChargeAt charges (2^40, about 1.1e12);
// it refuses more with ErrInvalidLimits, charging nothing. It keeps the
// quota's and the usage history's int64 counts far from overflowing
// when a charge is a figure a client can influence: a larger amount of
// work is charged in several calls. A request's cost in a usage plan
// (at most usageplan.MaxCost) is far below it.
const MaxUnits = 1 << 40

// Request is one decision's input: who asks, under which limits, and for
// how much. Plan and Key are ordinary Go strings, which never change: the
// limiter keeps them, and finds a key's state by its string's address (a
// string made with unsafe over a buffer that is reused would have its
// requests decided as another key's).
type Request struct {
	Plan, Key string
	// API is the ID of the API called; it names the bucket of
	// Limits.Throttle, one per (plan, key, API).
	API string
	// Units is what the request costs the quota; 0 means 1. The buckets
	// (QPS, windows, throttle) count requests, whatever the units.
	// ChargeAt takes at most MaxUnits.
	Units  int64
	Limits Limits
}

// Limits are a plan's limits as they apply to one request, passed with
// every decision so that changes apply to the next request. A request is
// admitted only if every limit admits it; a refused request consumes
// nothing from any of them.
type Limits struct {
	// QPS is the rate of the per-key bucket in requests per second:
	// Unlimited or at least 1.
	QPS int64
	// Burst is the size of the per-key bucket in requests; 0 means QPS.
	// It must be 0 when QPS is Unlimited.
	Burst int64
	// Windows are up to MaxWindows more buckets per key, each admitting
	// Requests per Per and at most Requests at once.
	Windows []Window
	// Throttle is the bucket of the request's API inside the plan, kept
	// per (plan, key, API) apart from the plan's own; the zero Throttle
	// means the API has none.
	Throttle Throttle
	// Quota is the units per period per key: Unlimited or at least 1.
	Quota    int64
	Period   Period
	Location *time.Location // calendar periods' time zone; nil is UTC
	// DryRun decides and reports every request as if enforced, but
	// serves a request that a limit would refuse, and that request
	// consumes nothing. The zero value enforces.
	DryRun bool
	// Alerts are thresholds in percent of Quota (1 to 100, at most
	// MaxAlerts): when a key's consumption in a period reaches one,
	// Config.OnAlert is told once (see Alert). Without a quota they
	// are ignored.
	Alerts []int
}

// Window is a token bucket of rate Requests/Per and burst Requests: it
// admits Requests per Per and never more than Requests at once (unlike
// a fixed window, whose edges let twice as many through).
type Window struct {
	Name     string        // reported in the Decision's policies
	Requests int64         // at least 1
	Per      time.Duration // at least 1 ns
}

// Throttle is a per-API bucket: rate QPS requests per second, burst
// Burst requests (0 means QPS). The zero Throttle is no throttle.
type Throttle struct {
	QPS, Burst int64
}

// ErrInvalidLimits is wrapped by the error AllowAt returns for Limits
// (or Units) that admit no meaning: a QPS or quota of 0, negative values
// other than Unlimited, too many windows.
var ErrInvalidLimits = errors.New("limiter: invalid limits")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidLimits}, args...)...)
}

// plain reports whether r is a valid request under a plain plan: QPS
// and Quota limited and positive, Burst and Units not negative, and no
// windows, throttle or alerts. One test for the most common plans.
func (r *Request) plain() bool {
	lim := &r.Limits
	return uint64(lim.QPS-1) < math.MaxInt64-1 && uint64(lim.Quota-1) < math.MaxInt64-1 &&
		lim.Burst|r.Units|lim.Throttle.QPS|lim.Throttle.Burst|int64(len(lim.Windows)|len(lim.Alerts)) >= 0 &&
		lim.Throttle.QPS|lim.Throttle.Burst|int64(len(lim.Windows)|len(lim.Alerts)) == 0 && lim.Period <= Month
}

// check validates r's Limits and Units.
func (r *Request) check() error {
	if r.plain() {
		return nil
	}
	return r.checkAll()
}

// checkAll validates r's Limits and Units.
func (r *Request) checkAll() error {
	lim := &r.Limits
	switch {
	case lim.QPS != Unlimited && lim.QPS < 1:
		return invalid("QPS %d is neither Unlimited nor at least 1", lim.QPS)
	case lim.Burst < 0 || lim.Burst > 0 && lim.QPS == Unlimited:
		return invalid("Burst %d must be 0, or at least 1 with a limited QPS", lim.Burst)
	case lim.Quota != Unlimited && lim.Quota < 1:
		return invalid("Quota %d is neither Unlimited nor at least 1", lim.Quota)
	case lim.Period > Month:
		return invalid("unknown Period %d", lim.Period)
	case len(lim.Windows) > MaxWindows:
		return invalid("%d windows, at most %d", len(lim.Windows), MaxWindows)
	case lim.Throttle.QPS < 0 || lim.Throttle.Burst < 0 || lim.Throttle.Burst > 0 && lim.Throttle.QPS == 0:
		return invalid("Throttle %+v: QPS and Burst must not be negative, and a Burst needs a QPS", lim.Throttle)
	case r.Units < 0:
		return invalid("Units %d is negative", r.Units)
	case len(lim.Alerts) > 0:
		if err := checkAlerts(lim); err != nil {
			return err
		}
	}
	for i, w := range lim.Windows {
		if w.Requests < 1 || w.Per < 1 {
			return invalid("window %d (%q): Requests %d and Per %v must be positive", i, w.Name, w.Requests, w.Per)
		}
	}
	return nil
}

// units is r's cost, 1 when Units is 0.
func (r *Request) units() int64 { return max(r.Units, 1) }

// gcra is one token bucket's parameters in the generic cell rate
// algorithm: a token every interval (ns), at most burst tokens, so a full
// bucket is a theoretical arrival time (tat) at or before now and an
// empty one is tat = now + tol, tol = burst×interval.
type gcra struct {
	interval int64 // ns per token, at least 1
	burst    int64
	tol      int64 // burst × interval, saturated
}

func newGCRA(interval, burst int64) gcra {
	return gcra{interval: interval, burst: burst, tol: mulSat(burst, interval)}
}

// mulSat is a×b for a, b ≥ 0, saturated at math.MaxInt64.
func mulSat(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// perSecond is a bucket of rate qps per second and burst (0 means qps).
func perSecond(qps, burst int64) gcra {
	if burst == 0 {
		burst = qps
	}
	return newGCRA(max(int64(time.Second)/qps, 1), burst)
}

// windowBucket is w's bucket.
func windowBucket(w Window) gcra {
	return newGCRA(max(int64(w.Per)/w.Requests, 1), w.Requests)
}

// take decides n tokens at now on a bucket whose theoretical arrival
// time is tat (0 for a bucket never used, which is full). It returns the
// new tat when the tokens are there, or ok false and how long until they
// are. A tat beyond an empty bucket (left by a rate or burst lowered
// since) counts as an empty bucket. take does not change anything.
func (g gcra) take(tat, now, n int64) (next int64, wait int64, ok bool) {
	if tat < now {
		tat = now
	} else if tat-now > g.tol {
		tat = now + g.tol
	}
	if n > g.burst {
		return tat, math.MaxInt64, false // never: more than the bucket holds
	}
	inc := mulSat(n, g.interval)
	if inc > math.MaxInt64-tat {
		return tat, math.MaxInt64, false
	}
	next = tat + inc
	if over := next - now - g.tol; over > 0 {
		return tat, over, false
	}
	return next, 0, true
}

// state is the bucket's remaining tokens at now and how long until it is
// full again, or, when it is empty, until its next token.
func (g gcra) state(tat, now int64) (remaining int64, reset time.Duration) {
	debt := min(max(tat-now, 0), g.tol)
	if debt == 0 {
		return g.burst, 0
	}
	remaining = (g.tol - debt) / g.interval
	if remaining == 0 {
		return 0, time.Duration(debt - (g.tol - g.interval))
	}
	return remaining, time.Duration(debt)
}
