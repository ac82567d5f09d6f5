package usageplan

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
)

// ErrInvalidState: the change does not fit the current state of what it
// changes (unbinding APIs from a service-wide binding).
var ErrInvalidState = errors.New("usageplan: invalid state")

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
}

// PatchPlan applies p to the plan with the given ID and returns the
// stored plan. Keys, bindings and consumed quota are kept; every rule is
// checked as for UpdatePlan.
func (r *Registry) PatchPlan(id string, p PlanPatch) (Plan, error) {
	err := r.updatePlan(id, func(old *Plan, _ *model) error {
		if p.Name != nil {
			old.Name = *p.Name
		}
		if p.Description != nil {
			old.Description = *p.Description
		}
		if p.QPS != nil {
			old.QPS = *p.QPS
		}
		if p.Quota != nil {
			old.Quota = *p.Quota
		}
		if p.QuotaPeriod != nil {
			old.QuotaPeriod = orTotal(*p.QuotaPeriod)
		}
		if p.TimeZone != nil {
			old.TimeZone = *p.TimeZone
		}
		if p.Burst != nil {
			old.Burst = *p.Burst
		}
		if p.Limits != nil {
			old.Limits = slices.Clone(*p.Limits)
		}
		if p.Throttles != nil {
			old.Throttles = maps.Clone(*p.Throttles)
		}
		if p.DryRun != nil {
			old.DryRun = *p.DryRun
		}
		return nil
	})
	if err != nil {
		return Plan{}, err
	}
	plan, _ := r.Snapshot().Plan(id)
	return plan, nil
}

// BindPlans is Bind for several plans at once: all of them are bound to
// t, or (on any error) none is.
func (r *Registry) BindPlans(planIDs []string, t binding.Target) error {
	return r.change(func(m *model, now time.Time) error {
		for _, id := range planIDs {
			i := find(m.plans, id, planID)
			if i < 0 {
				return notFound("plan", id)
			}
			p := &m.plans[i]
			merged := false
			for j, b := range p.Bindings {
				if b.Service == t.Service && b.Environment == t.Environment && !b.ServiceWide() && !t.ServiceWide() {
					p.Bindings[j].APIs = append(slices.Clone(p.Bindings[j].APIs), t.APIs...)
					merged = true
					break
				}
			}
			if !merged {
				p.Bindings = append(p.Bindings, cloneTargets([]binding.Target{t})...)
			}
			p.Modified = now
		}
		return nil
	})
}

// UnbindPlans is Unbind for several plans at once: every plan loses its
// binding to service/environment (with apis, only those APIs), or (on
// any error) none does.
func (r *Registry) UnbindPlans(planIDs []string, service, environment string, apis ...string) error {
	return r.change(func(m *model, now time.Time) error {
		for _, id := range planIDs {
			i := find(m.plans, id, planID)
			if i < 0 {
				return notFound("plan", id)
			}
			if err := unbind(&m.plans[i], service, environment, apis); err != nil {
				return err
			}
			m.plans[i].Modified = now
		}
		return nil
	})
}

// unbind removes p's binding to service/environment, or those of its
// APIs that apis lists.
func unbind(p *Plan, service, environment string, apis []string) error {
	i := slices.IndexFunc(p.Bindings, func(b binding.Target) bool {
		return b.Service == service && b.Environment == environment
	})
	if i < 0 {
		return fmt.Errorf("plan %s is not bound to %s/%s: %w", p.ID, service, environment, ErrNotFound)
	}
	b := &p.Bindings[i]
	if len(apis) > 0 {
		if b.ServiceWide() {
			return fmt.Errorf("plan %s binds %s/%s service-wide; demote it before unbinding APIs: %w", p.ID, service, environment, ErrInvalidState)
		}
		left := slices.Clone(b.APIs)
		for _, a := range apis {
			j := slices.Index(left, a)
			if j < 0 {
				return fmt.Errorf("plan %s does not bind API %s in %s/%s: %w", p.ID, a, service, environment, ErrNotFound)
			}
			left = slices.Delete(left, j, j+1)
		}
		if len(left) > 0 {
			b.APIs = left
			return nil
		}
	}
	p.Bindings = slices.Delete(p.Bindings, i, i+1)
	return nil
}
