package middleware

import (
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
)

// meter records the limiter's decision on a request of key under plan
// in Config.Meter: an admitted request with its unit, a refusal for QPS
// or quota. A request served while the store failed (FailOpen) is
// recorded as admitted: it was served, although no quota counted it. A
// store failure that refused the request records nothing.
func (m *Middleware) meter(now time.Time, plan, key string, zone *time.Location, d limiter.Decision, err error) {
	var c metering.Counts
	switch {
	case err != nil && !m.cfg.FailOpen:
		return
	case err != nil:
		c = metering.Counts{Requests: 1, Units: 1}
	case d.Refused == limiter.LimitQPS:
		c.RefusedRate = 1
	case d.Refused == limiter.LimitQuota:
		c.RefusedQuota = 1
	default:
		c = metering.Counts{Requests: 1, Units: 1}
	}
	m.cfg.Meter.RecordAt(now, plan, key, zone, c)
}
