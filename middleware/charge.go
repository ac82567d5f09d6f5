package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/metering"
)

// ErrNotCharged is returned by Charge for a context that carries no
// caller admitted under a plan: not a request's context, a request of an
// API with auth NONE, or a Caller that NewContext put there (it has no
// limiter to charge).
var ErrNotCharged = errors.New("middleware: the context carries no caller admitted under a plan")

type chargeKey struct{}

// Charge charges units more quota units for the request whose context
// ctx is (the handler's r.Context(), or a context derived from it), for
// work whose cost is known only after it was done: an AI API's tokens,
// say. It may be called any number of times, from any goroutine, during
// or after the handler.
//
// A charge is never refused, since the work is done: it takes what is
// left of the key's quota in the current period, down to 0 at most, and
// whatever exceeds it is overage, recorded in the usage history
// (metering.Counts.Overage, with Config.Meter) and not counted in the
// quota. The units recorded are always the units admitted plus the units
// charged. Charges count toward the plan's alerts like requests. A dry
// run (Config.DryRun and plans with "enforce": false) serves what it
// would refuse, as if it were refused: it consumes nothing, so Charge
// for such a request returns nil and charges and records nothing (a
// request the dry run admits is charged as usual).
//
// Charge returns ErrNotCharged when ctx carries no caller admitted under
// a plan, an error wrapping limiter.ErrInvalidLimits for units below 0
// (a refund is not a charge) or above limiter.MaxUnits (2^40, about
// 1.1e12: a larger amount of work is charged in several calls),
// charging and recording nothing, and nil, doing nothing, for 0 units
// (a handler can charge what it counted without checking for nothing).
// A store failure is returned too: the units are then recorded in the
// history, and in the quota as far as the limiter's lease covered them.
func Charge(ctx context.Context, units int64) error {
	q, _ := ctx.Value(chargeKey{}).(*request)
	if q == nil || q.charged.lim == nil {
		return ErrNotCharged
	}
	if units == 0 || q.charged.dry && units > 0 && units <= limiter.MaxUnits {
		return nil // an invalid charge is refused below, dry run or not
	}
	return q.charged.m.charge(q, units)
}

// chargeable is what Charge needs of an admitted request.
type chargeable struct {
	m   *Middleware
	lim *limitState
	dry bool // a dry run served the request in place of a refusal: nothing is charged
}

// charge charges units to q's caller and records them. A charge the
// limiter refuses (ErrInvalidLimits: units below 0 or above MaxUnits,
// or invalid Limits) charged nothing and is not recorded; after a store
// failure the work was done, so its units are recorded (the overage
// ChargeAt reports, 0, with them).
func (m *Middleware) charge(q *request, units int64) error {
	c := &q.caller
	lim := &q.charged.lim.limits
	now := m.now()
	ctx, cancel := q.storeContext(m.cfg.StoreTimeout)
	over, err := m.lim.ChargeAt(ctx, now, limiter.Request{Plan: c.Plan.ID, Key: c.SecretID, API: c.API.ID, Units: units, Limits: *lim})
	if cancel != nil {
		cancel()
	}
	if errors.Is(err, limiter.ErrInvalidLimits) {
		return fmt.Errorf("middleware: charging %d units: %w", units, err)
	}
	if m.cfg.Meter != nil {
		m.cfg.Meter.RecordAt(now, c.Plan.ID, c.SecretID, lim.Location, metering.Counts{Units: units, Overage: over})
	}
	if err != nil {
		return fmt.Errorf("middleware: charging %d units: %w", units, err)
	}
	return nil
}
