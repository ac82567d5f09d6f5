package usageplan

import (
	"maps"
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/limiter"
)

// Limits of plans and names. limiter.Unlimited is the value of QPS or
// Quota that means no limit; the ceilings are the defaults, which RegistryConfig
// may widen.
const (
	DefaultMaxQPS   = 2000       // requests per second, per key
	DefaultMaxQuota = 99_999_999 // requests per quota period, per key
	DefaultMaxBurst = 10_000     // requests in a bucket at once, per key
	MaxNameLen      = 50         // characters
	MaxDescLen      = 200        // characters (runes)
	MaxWindows      = 4          // windows per plan, besides its QPS bucket
	MinWindowPer    = time.Second
	MaxWindowPer    = 24 * time.Hour
	MaxAlerts       = 10 // alert thresholds per plan
)

// Period is the quota period: the quota counter resets at its
// boundaries. It is the limiter's type, with the limiter's constants:
// limiter.Total (the zero value: never resets, the old gateway's
// behaviour), limiter.Day, limiter.Week (from Monday) and limiter.Month,
// calendar periods aligned in the plan's time zone. A configuration
// spells them "total", "day", "week" and "month" (limiter.ParsePeriod).
type Period = limiter.Period

// Plan is a usage plan: QPS and quota limits applied per key and the
// service environments it is bound to. The keys it binds, which may be
// millions, are not part of the value: Snapshot.PlanKeys iterates them
// and Snapshot.PlanKeyCount counts them.
type Plan struct {
	ID          string // usagePlan- + 8 of [a-z0-9]
	Name        string // 1–50 of [A-Za-z0-9_]
	Description string // at most 200 characters
	QPS         int64  // requests per second per key: limiter.Unlimited or 1..MaxQPS
	Quota       int64  // units per period per key: limiter.Unlimited or 1..MaxQuota
	QuotaPeriod Period // limiter.Total (the zero value), Day, Week or Month
	TimeZone    string // IANA name for calendar periods; "" is UTC

	// Burst is the size of each key's QPS bucket, 1..MaxBurst; 0 means
	// QPS (rate and burst alike, as the old gateway). A burst needs a
	// limited QPS.
	Burst int64
	// Limits are up to MaxWindows more windows per key (config "limits").
	Limits []Window
	// Throttles are per-API buckets inside the plan, by API ID, each
	// applied per (plan, key, API) besides the plan's own limits. Each
	// API must be one the plan binds.
	Throttles map[string]Throttle
	// DryRun (config "enforce": false) decides and reports every request
	// as if enforced but serves a request that a limit refuses, which
	// then consumes nothing. The zero value enforces.
	DryRun bool
	// Alerts are percentages of Quota (1 to 100, at most MaxAlerts, no
	// two alike; config "alerts"): when a key's consumption in a period
	// reaches one, the limiter's alert hook is told once. They need a
	// limited quota.
	Alerts []int

	Bindings []binding.Target // service environments

	Created, Modified time.Time
}

// Location returns the plan's time zone, UTC when TimeZone is empty. The
// name has been validated by the registry, so the error only appears for a
// Plan built by hand.
func (p Plan) Location() (*time.Location, error) {
	return timeZone(p.TimeZone)
}

func (p Plan) clone() Plan {
	p.Bindings = cloneTargets(p.Bindings)
	p.Limits = slices.Clone(p.Limits)
	p.Throttles = maps.Clone(p.Throttles)
	p.Alerts = slices.Clone(p.Alerts)
	return p
}

// Window is a limit of Requests per Per for each key, enforced as a token
// bucket of that rate and a burst of Requests: never more than Requests
// at once, unlike a fixed window whose edges let twice as many through.
type Window struct {
	Name     string        // 1–50 of [A-Za-z0-9_], unique in the plan; not "qps", "quota" or "throttle"
	Requests int64         // 1..the quota ceiling
	Per      time.Duration // whole seconds, MinWindowPer..MaxWindowPer
}

// Throttle is a per-API bucket: QPS requests per second (1..MaxQPS) and a
// burst of Burst (1..MaxBurst; 0 means QPS).
type Throttle struct {
	QPS   int64
	Burst int64
}

func cloneTargets(ts []binding.Target) []binding.Target {
	out := make([]binding.Target, len(ts))
	for i, t := range ts {
		t.APIs = append([]string(nil), t.APIs...)
		if len(t.APIs) == 0 {
			t.APIs = nil
		}
		out[i] = t
	}
	return out
}
