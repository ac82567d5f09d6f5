package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/planguard/planguard/usageplan"
)

// Usage is UsageAt at the middleware's clock (Config.Now).
func (m *Middleware) Usage(ctx context.Context, planID, keyID string) (int64, error) {
	return m.UsageAt(ctx, m.now(), planID, keyID)
}

// UsageAt returns the quota units key keyID has consumed under plan
// planID in the quota period containing now, as the middleware's limiter
// counts them (what requests took, not the leases it holds unused). The
// period and time zone that pick the counter are the plan's, from the
// registry's current snapshot, so a caller passes no limiter.Limits. An
// unknown plan is an error matching usageplan.ErrNotFound; a key the
// plan does not bind has what the store still counts for it (0 unless
// the plan bound it earlier in the period). A store failure is the
// store's error.
func (m *Middleware) UsageAt(ctx context.Context, now time.Time, planID, keyID string) (int64, error) {
	lim, ok := PlanLimits(m.reg.Snapshot(), planID, "")
	if !ok {
		return 0, fmt.Errorf("middleware: no usage plan %s: %w", planID, usageplan.ErrNotFound)
	}
	return m.lim.Usage(ctx, planID, keyID, lim, now)
}
