package usageplan

import (
	"time"

	"github.com/planguard/planguard/binding"
)

// Limits of plans and names. Unlimited is the value of QPS or Quota that means no
// limit; the ceilings are the defaults, which Options may widen.
const (
	Unlimited       = -1
	DefaultMaxQPS   = 2000       // requests per second, per key
	DefaultMaxQuota = 99_999_999 // requests per quota period, per key
	MaxNameLen      = 50         // characters
	MaxDescLen      = 200        // characters (runes)
)

// Period is the quota period: the quota counter resets at its boundaries.
type Period string

// The quota periods. Calendar periods are aligned in the plan's
// time zone; weeks start on Monday.
const (
	PeriodTotal Period = "total" // never resets (the old gateway's behaviour)
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
)

// Plan is a usage plan: QPS and quota limits applied per key, the keys it
// binds and the service environments it is bound to.
type Plan struct {
	ID          string // usagePlan- + 8 of [a-z0-9]
	Name        string // 1–50 of [A-Za-z0-9_]
	Description string // at most 200 characters
	QPS         int64  // requests per second per key: Unlimited or 1..MaxQPS
	Quota       int64  // requests per period per key: Unlimited or 1..MaxQuota
	QuotaPeriod Period // PeriodTotal when empty
	TimeZone    string // IANA name for calendar periods; "" is UTC

	Keys     []string         // secret_ids
	Bindings []binding.Target // service environments

	Created, Modified time.Time
}

// Location returns the plan's time zone, UTC when TimeZone is empty. The
// name has been validated by the registry, so the error only appears for a
// Plan built by hand.
func (p Plan) Location() (*time.Location, error) {
	return timeZone(p.TimeZone)
}

func (p Plan) ruleView() binding.Plan {
	return binding.Plan{ID: p.ID, Keys: p.Keys, Targets: p.Bindings}
}

func (p Plan) clone() Plan {
	p.Keys = append([]string(nil), p.Keys...)
	p.Bindings = cloneTargets(p.Bindings)
	return p
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
