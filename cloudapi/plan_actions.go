package cloudapi

import (
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// UsagePlanStatus is one row of DescribeUsagePlansStatus.
type UsagePlanStatus struct {
	UsagePlanID         string `json:"UsagePlanId"`
	UsagePlanName       string
	UsagePlanDesc       string
	MaxRequestNumPreSec int64
	MaxRequestNum       int64
	CreatedTime         string
	ModifiedTime        string
	// planguard's additions.
	QuotaPeriod string
	TimeZone    string `json:",omitempty"`
}

// UsagePlansStatus is DescribeUsagePlansStatus' Result.
type UsagePlansStatus struct {
	TotalCount         int
	UsagePlanStatusSet []UsagePlanStatus
}

// plan finds a plan in the call's snapshot.
func (c *call) plan(id *string) (usageplan.Plan, *Error) {
	v, err := required("UsagePlanId", id)
	if err != nil {
		return usageplan.Plan{}, err
	}
	p, ok := c.snap.Plan(v)
	if !ok {
		return usageplan.Plan{}, errorf(CodeInvalidUsagePlan, "no usage plan has UsagePlanId %s", quoteShort(v))
	}
	return p, nil
}

// bindsKey reports whether plan planID binds key keyID in snap. It visits
// the plans of the key, which are few, not the keys of the plan.
func bindsKey(snap *usageplan.Snapshot, planID, keyID string) bool {
	for p := range snap.KeyPlans(keyID) {
		if p == planID {
			return true
		}
	}
	return false
}

// planParam decodes the one parameter UsagePlanId and finds the plan.
func (c *call) planParam() (usageplan.Plan, *Error) {
	p, err := decode[struct{ UsagePlanId *string }](c)
	if err != nil {
		return usageplan.Plan{}, err
	}
	return c.plan(p.UsagePlanId)
}

func (h *Handler) describer(snap *usageplan.Snapshot) usageplan.Describer {
	d := usageplan.Describer{Snapshot: snap}
	if h.cfg.Usage != nil {
		d.Usage = h.cfg.Usage
	}
	return d
}

// usagePlanInfo is the Result of DescribeUsagePlan, CreateUsagePlan and
// ModifyUsagePlan: the old gateway's UsagePlanInfo, and planguard's
// QuotaPeriod and TimeZone (omitted for UTC) as those actions take them.
type usagePlanInfo struct {
	usageplan.UsagePlanInfo
	QuotaPeriod string
	TimeZone    string `json:",omitempty"`
}

// planInfo answers plan id of snap as DescribeUsagePlan does.
func (h *Handler) planInfo(c *call, snap *usageplan.Snapshot, id string) (map[string]any, *Error) {
	info, err := h.describer(snap).UsagePlan(c.ctx, id)
	if err != nil {
		return nil, translate(err, CodeInvalidUsagePlan)
	}
	return planAnswer(snap, info)
}

// planAnswer is the Result of info, a plan of snap.
func planAnswer(snap *usageplan.Snapshot, info usageplan.UsagePlanInfo) (map[string]any, *Error) {
	plan, _ := snap.Plan(info.UsagePlanId)
	return result(usagePlanInfo{UsagePlanInfo: info, QuotaPeriod: plan.QuotaPeriod.String(), TimeZone: plan.TimeZone})
}

// planParams are the settings CreateUsagePlan and ModifyUsagePlan take;
// QuotaPeriod and TimeZone are planguard's additions, and so are the
// limits that DescribeUsagePlan returns as extra fields (the QPS
// bucket's burst, the windows, the per-API throttles, Enforce false for
// a dry run, the quota alerts): omitted, they are left as they are.
type planParams struct {
	UsagePlanName       *string
	UsagePlanDesc       *string
	MaxRequestNum       *int64
	MaxRequestNumPreSec *int64
	QuotaPeriod         *string
	TimeZone            *string
	MaxRequestBurst     *int64
	RequestLimits       *[]usageplan.UsagePlanLimit
	ApiThrottles        *[]usageplan.UsagePlanThrottle
	Enforce             *bool
	QuotaAlerts         *[]int
}

func (p planParams) patch() (usageplan.PlanPatch, *Error) {
	pp := usageplan.PlanPatch{Name: p.UsagePlanName, Description: p.UsagePlanDesc, QPS: p.MaxRequestNumPreSec, Quota: p.MaxRequestNum, TimeZone: p.TimeZone, Burst: p.MaxRequestBurst}
	if p.QuotaPeriod != nil {
		period, err := limiter.ParsePeriod(*p.QuotaPeriod)
		if err != nil || *p.QuotaPeriod == "" { // ParsePeriod reads "" as total, as a config file may
			return pp, errorf(CodeInvalidParameterValue, `QuotaPeriod must be "total", "day", "week" or "month", got %q`, *p.QuotaPeriod)
		}
		pp.QuotaPeriod = &period
	}
	if p.RequestLimits != nil {
		limits := []usageplan.Window{}
		for _, l := range *p.RequestLimits {
			if l.PerSeconds < 1 || l.PerSeconds > int64(usageplan.MaxWindowPer/time.Second) {
				return pp, errorf(CodeInvalidParameterValue, "RequestLimits: PerSeconds of %q must be 1–86400", l.Name)
			}
			limits = append(limits, usageplan.Window{Name: l.Name, Requests: l.Requests, Per: time.Duration(l.PerSeconds) * time.Second})
		}
		pp.Limits = &limits
	}
	if p.ApiThrottles != nil {
		throttles := map[string]usageplan.Throttle{}
		for _, th := range *p.ApiThrottles {
			if _, dup := throttles[th.ApiId]; dup {
				return pp, errorf(CodeInvalidParameterValue, "ApiThrottles: API %s listed twice", th.ApiId)
			}
			throttles[th.ApiId] = usageplan.Throttle{QPS: th.MaxRequestNumPreSec, Burst: th.MaxRequestBurst}
		}
		pp.Throttles = &throttles
	}
	if p.Enforce != nil {
		dry := !*p.Enforce
		pp.DryRun = &dry
	}
	pp.Alerts = p.QuotaAlerts
	return pp, nil
}

// set sets *dst to *v when v is set.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (h *Handler) createUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[planParams](c)
	if err != nil {
		return nil, err
	}
	name, err := required("UsagePlanName", p.UsagePlanName)
	if err != nil {
		return nil, err
	}
	plan := usageplan.Plan{Name: name, QPS: limiter.Unlimited, Quota: limiter.Unlimited}
	pp, perr := p.patch()
	if perr != nil {
		return nil, perr
	}
	set(&plan.Description, pp.Description)
	set(&plan.QPS, pp.QPS)
	set(&plan.Quota, pp.Quota)
	set(&plan.QuotaPeriod, pp.QuotaPeriod)
	set(&plan.TimeZone, pp.TimeZone)
	set(&plan.Burst, pp.Burst)
	set(&plan.Limits, pp.Limits)
	set(&plan.Throttles, pp.Throttles)
	set(&plan.DryRun, pp.DryRun)
	set(&plan.Alerts, pp.Alerts)
	created, cerr := h.reg.CreatePlan(plan)
	if cerr != nil {
		return nil, translate(cerr, CodeInvalidParameterValue)
	}
	return h.planInfo(c, h.reg.Snapshot(), created.ID)
}

func (h *Handler) modifyUsagePlan(c *call) (map[string]any, *Error) {
	p, err := decode[struct {
		UsagePlanId *string
		planParams
	}](c)
	if err != nil {
		return nil, err
	}
	plan, err := c.plan(p.UsagePlanId)
	if err != nil {
		return nil, err
	}
	pp, ferr := p.patch()
	if ferr != nil {
		return nil, ferr
	}
	// The answer holds the plan's usage. The store is read before the
	// change too, so that a store that fails answers InternalError with
	// nothing changed (a client may retry), and one that fails between
	// the two reads still gets the change answered.
	before, uerr := h.describer(c.snap).UsagePlan(c.ctx, plan.ID)
	if uerr != nil {
		return nil, translate(uerr, CodeInvalidUsagePlan)
	}
	if _, perr := h.reg.PatchPlan(plan.ID, pp); perr != nil {
		return nil, translate(perr, CodeInvalidUsagePlan)
	}
	snap := h.reg.Snapshot()
	info, uerr := h.describer(snap).UsagePlan(c.ctx, plan.ID)
	if uerr != nil {
		if info, uerr = (usageplan.Describer{Snapshot: snap}).UsagePlan(c.ctx, plan.ID); uerr != nil {
			return nil, translate(uerr, CodeInvalidUsagePlan) // the plan was deleted meanwhile
		}
		info.InUseRequestNum = before.InUseRequestNum
	}
	return planAnswer(snap, info)
}

func (h *Handler) deleteUsagePlan(c *call) (map[string]any, *Error) {
	plan, err := c.planParam()
	if err != nil {
		return nil, err
	}
	if derr := h.reg.DeletePlan(plan.ID); derr != nil {
		return nil, translate(derr, CodeInvalidUsagePlan)
	}
	return done()
}

func (h *Handler) describeUsagePlan(c *call) (map[string]any, *Error) {
	plan, err := c.planParam()
	if err != nil {
		return nil, err
	}
	return h.planInfo(c, c.snap, plan.ID)
}

// DescribeUsagePlansStatus filters.
var planFilters = []string{"UsagePlanId", "UsagePlanName", "NotServiceId", "NotApiId", "Environment"}

func (h *Handler) describeUsagePlansStatus(c *call) (map[string]any, *Error) {
	filters, pg, err := decodeList(c, planFilters...)
	if err != nil {
		return nil, err
	}
	var rows []UsagePlanStatus
	for _, plan := range c.snap.Plans() {
		if !planMatches(c.snap, plan, filters) {
			continue
		}
		rows = append(rows, UsagePlanStatus{
			UsagePlanID: plan.ID, UsagePlanName: plan.Name, UsagePlanDesc: plan.Description,
			MaxRequestNumPreSec: plan.QPS, MaxRequestNum: plan.Quota,
			CreatedTime: gatewayTime(plan.Created), ModifiedTime: gatewayTime(plan.Modified),
			QuotaPeriod: plan.QuotaPeriod.String(), TimeZone: plan.TimeZone,
		})
	}
	return result(UsagePlansStatus{TotalCount: len(rows), UsagePlanStatusSet: window(rows, pg)})
}

// planMatches applies DescribeUsagePlansStatus' filters: UsagePlanId and
// UsagePlanName exact; NotServiceId keeps plans not bound to that
// service; NotApiId keeps plans whose bindings do not cover that API
// (a service-wide binding covers every API of its service);
// Environment keeps plans bound to that environment of some service.
func planMatches(snap *usageplan.Snapshot, p usageplan.Plan, fs []Filter) bool {
	for _, f := range fs {
		var ok bool
		switch f.Name {
		case "UsagePlanId":
			ok = slices.Contains(f.Values, p.ID)
		case "UsagePlanName":
			ok = slices.Contains(f.Values, p.Name)
		case "NotServiceId":
			ok = anyOf(f.Values, func(v string) bool {
				return !slices.ContainsFunc(p.Bindings, func(b binding.Target) bool { return b.Service == v })
			})
		case "NotApiId":
			ok = anyOf(f.Values, func(v string) bool {
				return !slices.ContainsFunc(p.Bindings, func(b binding.Target) bool {
					if b.ServiceWide() {
						svc, _ := snap.Service(b.Service)
						_, has := svc.API(v)
						return has
					}
					return slices.Contains(b.APIs, v)
				})
			})
		case "Environment":
			ok = anyOf(f.Values, func(v string) bool {
				return slices.ContainsFunc(p.Bindings, func(b binding.Target) bool { return b.Environment == v })
			})
		}
		if !ok {
			return false
		}
	}
	return true
}
