package middleware

import (
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
)

// meter records the limiter's decision on a request of key under plan
// in Config.Meter: a request served, with its units (the API's cost); a
// refusal for the quota; a refusal for a rate limit (every other limit).
// A dry run's refusal, which was served, is recorded as the refusal it
// would have been: a dry run consumes nothing. A request served while
// the store failed (FailOpen) is recorded as served: it was, although no
// quota counted it. A store failure that refused the request records
// nothing.
func (m *Middleware) meter(now time.Time, plan, key string, zone *time.Location, units int64, refused limiter.Limit, err error) {
	var c metering.Counts
	switch {
	case err != nil && !m.cfg.FailOpen:
		return
	case err != nil || refused == limiter.LimitNone:
		c = metering.Counts{Requests: 1, Units: units}
	case refused == limiter.LimitQuota:
		c.RefusedQuota = 1
	default:
		c.RefusedRate = 1
	}
	m.cfg.Meter.RecordAt(now, plan, key, zone, c)
}
