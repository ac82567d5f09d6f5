package cloudapi

import (
	"context"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// Usage is what the admin API needs of the quota store: the usage the
// Describe actions report, and a key's usage in a plan to read, reset
// and lower (a grant). Each method works on the quota period that
// contains the server's current time. Implementations must be safe for
// concurrent use; LimiterUsage adapts a *limiter.Limiter.
type Usage interface {
	usageplan.Usage
	// KeyUsage returns the requests of key admitted under plan in the
	// current period.
	KeyUsage(ctx context.Context, plan usageplan.Plan, key string) (int64, error)
	// ResetKeyUsage sets that usage to 0.
	ResetKeyUsage(ctx context.Context, plan usageplan.Plan, key string) error
	// GrantKeyUsage lowers that usage by units (not below 0), giving the
	// key that many more requests in the period, and returns the usage
	// after.
	GrantKeyUsage(ctx context.Context, plan usageplan.Plan, key string, units int64) (int64, error)
}

// LimiterUsage adapts a Limiter to Usage. snap returns the registry's
// current snapshot (for plans' time zones); now is the clock (nil:
// time.Now). The Usage is safe for concurrent use if snap and now are
// (Registry.Snapshot is). GrantKeyUsage lowers the usage in one step of
// the store (Limiter.GrantUsage): grants, resets and requests at the
// same time all count.
func LimiterUsage(lim *limiter.Limiter, snap func() *usageplan.Snapshot, now func() time.Time) Usage {
	if now == nil {
		now = time.Now
	}
	return limiterUsage{lim: lim, snap: snap, now: now}
}

type limiterUsage struct {
	lim  *limiter.Limiter
	snap func() *usageplan.Snapshot
	now  func() time.Time
}

func (u limiterUsage) limits(p usageplan.Plan) limiter.Limits { return limitsOf(u.snap(), p) }

// limitsOf converts a plan's limits for the limiter.
func limitsOf(snap *usageplan.Snapshot, p usageplan.Plan) limiter.Limits {
	loc, ok := snap.PlanLocation(p.ID)
	if !ok {
		loc, _ = p.Location()
	}
	return limiter.Limits{QPS: p.QPS, Quota: p.Quota, Period: p.QuotaPeriod, Location: loc}
}

func (u limiterUsage) PlanUsage(ctx context.Context, p usageplan.Plan) (map[string]int64, int64, error) {
	return u.lim.PlanUsage(ctx, p.ID, u.limits(p), u.now())
}

func (u limiterUsage) KeyUsage(ctx context.Context, p usageplan.Plan, key string) (int64, error) {
	return u.lim.Usage(ctx, p.ID, key, u.limits(p), u.now())
}

func (u limiterUsage) ResetKeyUsage(ctx context.Context, p usageplan.Plan, key string) error {
	return u.lim.ResetUsage(ctx, p.ID, key, u.limits(p), u.now())
}

func (u limiterUsage) GrantKeyUsage(ctx context.Context, p usageplan.Plan, key string, units int64) (int64, error) {
	return u.lim.GrantUsage(ctx, p.ID, key, u.limits(p), u.now(), units)
}

// APIKeyUsage is the Result of planguard's usage actions: one key's
// consumed quota in one plan, in the current period.
type APIKeyUsage struct {
	UsagePlanID     string `json:"UsagePlanId"`
	AccessKeyID     string `json:"AccessKeyId"`
	InUseRequestNum int64
	MaxRequestNum   int64 // -1: unlimited
	// RemainingRequestNum is MaxRequestNum - InUseRequestNum (never
	// negative), or -1 when the quota is unlimited.
	RemainingRequestNum int64
	QuotaPeriod         string // total, day, week or month
	// PeriodStartTime and PeriodEndTime bound the current period (UTC,
	// the old gateway's format); empty for a total quota.
	PeriodStartTime string
	PeriodEndTime   string
}

// usageTarget decodes a usage action's parameters (UsagePlanId,
// AccessKeyId and, when withNum, RequestNum: required, 1 to
// usageplan.DefaultMaxQuota) and checks the plan, the key and that the
// plan binds the key.
func (h *Handler) usageTarget(c *call, withNum bool) (plan usageplan.Plan, key string, n int64, _ *Error) {
	p, err := decode[struct {
		UsagePlanId *string
		AccessKeyId *string
		RequestNum  *int64
	}](c)
	if err != nil {
		return plan, "", 0, err
	}
	switch {
	case !withNum && p.RequestNum != nil:
		return plan, "", 0, errorf(CodeUnknownParameter, "unknown parameter RequestNum")
	case withNum && p.RequestNum == nil:
		return plan, "", 0, errorf(CodeMissingParameter, "RequestNum is required")
	case withNum && (*p.RequestNum < 1 || *p.RequestNum > usageplan.DefaultMaxQuota):
		return plan, "", 0, errorf(CodeRangeExceeded, "RequestNum must be 1-%d, got %d", usageplan.DefaultMaxQuota, *p.RequestNum)
	case withNum:
		n = *p.RequestNum
	}
	if h.cfg.Usage == nil {
		return plan, "", 0, errorf(CodeUnsupportedOperation, "%s needs a usage store, and none is configured", c.action)
	}
	if plan, err = c.plan(p.UsagePlanId); err != nil {
		return plan, "", 0, err
	}
	k, err := c.key(p.AccessKeyId)
	if err != nil {
		return plan, "", 0, err
	}
	if !bindsKey(c.snap, plan.ID, k.ID) {
		return plan, "", 0, errorf(CodeResourceUnassociated, "usage plan %s does not bind key %s", plan.ID, k.ID)
	}
	return plan, k.ID, n, nil
}

func (h *Handler) keyUsage(c *call, plan usageplan.Plan, key string, used int64) (map[string]any, *Error) {
	u := APIKeyUsage{UsagePlanID: plan.ID, AccessKeyID: key, InUseRequestNum: used, MaxRequestNum: plan.Quota,
		RemainingRequestNum: limiter.Unlimited, QuotaPeriod: plan.QuotaPeriod.String()}
	if plan.Quota != limiter.Unlimited {
		u.RemainingRequestNum = max(plan.Quota-used, 0)
	}
	lim := limitsOf(c.snap, plan)
	if start, end := lim.Period.Window(c.now, lim.Location); !start.IsZero() {
		u.PeriodStartTime, u.PeriodEndTime = gatewayTime(start), gatewayTime(end)
	}
	return result(u)
}

func storeError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return errorf(CodeInternalError, "the usage store failed")
}

func (h *Handler) describeAPIKeyUsage(c *call) (map[string]any, *Error) {
	plan, key, _, err := h.usageTarget(c, false)
	if err != nil {
		return nil, err
	}
	used, uerr := h.cfg.Usage.KeyUsage(c.ctx, plan, key)
	if uerr != nil {
		return nil, storeError(uerr)
	}
	return h.keyUsage(c, plan, key, used)
}

func (h *Handler) resetAPIKeyUsage(c *call) (map[string]any, *Error) {
	plan, key, _, err := h.usageTarget(c, false)
	if err != nil {
		return nil, err
	}
	if uerr := h.cfg.Usage.ResetKeyUsage(c.ctx, plan, key); uerr != nil {
		return nil, storeError(uerr)
	}
	return done()
}

func (h *Handler) grantAPIKeyUsage(c *call) (map[string]any, *Error) {
	plan, key, n, err := h.usageTarget(c, true)
	if err != nil {
		return nil, err
	}
	used, uerr := h.cfg.Usage.GrantKeyUsage(c.ctx, plan, key, n)
	if uerr != nil {
		return nil, storeError(uerr)
	}
	return h.keyUsage(c, plan, key, used)
}
