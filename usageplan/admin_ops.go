package usageplan

import (
	"maps"
	"slices"

	"github.com/planguard/planguard/binding"
)

// PlanPatch changes some of a plan's settings: a nil field leaves the
// setting as it is. It is what an update that names only what it changes
// (the admin API's ModifyUsagePlan) needs, applied in one change so that
// two concurrent patches of different fields both take effect.
type PlanPatch struct {
	Name        *string
	Description *string
	QPS         *int64 // requests per second per key
	Quota       *int64 // requests per period per key
	QuotaPeriod *Period
	TimeZone    *string
	Burst       *int64               // 0: as QPS
	Limits      *[]Window            // the windows, all at once
	Throttles   *map[string]Throttle // the throttles, all at once
	DryRun      *bool
	Alerts      *[]int // the alert thresholds, all at once
}

// PatchPlan applies p to the plan with the given ID and returns the
// stored plan. Keys, bindings and consumed quota are kept; every rule is
// checked as for UpdatePlan.
func (r *Registry) PatchPlan(id string, p PlanPatch) (Plan, error) {
	if err := r.apply(PlanUpdated{ID: id, PlanPatch: p.clone()}); err != nil {
		return Plan{}, err
	}
	plan, _ := r.Snapshot().Plan(id)
	return plan, nil
}

// clone copies the lists and maps p points to.
func (p PlanPatch) clone() PlanPatch {
	if p.Limits != nil {
		l := slices.Clone(*p.Limits)
		p.Limits = &l
	}
	if p.Throttles != nil {
		t := maps.Clone(*p.Throttles)
		p.Throttles = &t
	}
	return p
}

// BindPlans is Bind for several plans at once: all of them are bound to
// t, or (on any error) none is.
func (r *Registry) BindPlans(planIDs []string, t binding.Target) error {
	changes := make([]Change, len(planIDs))
	for i, id := range planIDs {
		changes[i] = PlanBound{Plan: id, Target: cloneTargets([]binding.Target{t})[0]}
	}
	return r.apply(changes...)
}

// UnbindPlans is Unbind for several plans at once: every plan loses its
// binding to service/environment (with apis, only those APIs), or (on
// any error) none does.
func (r *Registry) UnbindPlans(planIDs []string, service, environment string, apis ...string) error {
	changes := make([]Change, len(planIDs))
	for i, id := range planIDs {
		changes[i] = PlanUnbound{Plan: id, Service: service, Environment: environment, APIs: slices.Clone(apis)}
	}
	return r.apply(changes...)
}
