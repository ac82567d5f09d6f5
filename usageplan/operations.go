package usageplan

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

func serviceID(s Service) string { return s.ID }
func keyID(k keys.Key) string    { return k.ID }
func planID(p Plan) string       { return p.ID }

func notFound(kind, id string) error { return fmt.Errorf("%s %s: %w", kind, id, ErrNotFound) }

// PutService creates a service, or replaces the one with the same ID. An
// empty ID is generated. Replacing a service keeps plan bindings; the
// change is refused if a binding would name an API or environment the new
// version lacks. It returns the stored service.
func (r *Registry) PutService(s Service) (Service, error) {
	s = s.clone()
	if s.ID == "" {
		id, err := NewID(r.opts.rand(), ServicePrefix)
		if err != nil {
			return Service{}, err
		}
		s.ID = id
	}
	for i := range s.APIs {
		if s.APIs[i].ID == "" {
			id, err := NewID(r.opts.rand(), APIPrefix)
			if err != nil {
				return Service{}, err
			}
			s.APIs[i].ID = id
		}
		if s.APIs[i].Auth == "" {
			s.APIs[i].Auth = AuthSecret
		}
	}
	err := r.change(func(m *model, _ time.Time) error {
		if i := find(m.services, s.ID, serviceID); i >= 0 {
			m.services[i] = s
		} else {
			m.services = append(m.services, s)
		}
		return nil
	})
	return s, err
}

// DeleteService removes a service that no plan binds (ErrInUse otherwise).
func (r *Registry) DeleteService(id string) error {
	return r.change(func(m *model, _ time.Time) error {
		i := find(m.services, id, serviceID)
		if i < 0 {
			return notFound("service", id)
		}
		for _, p := range m.plans {
			for _, t := range p.Bindings {
				if t.Service == id {
					return fmt.Errorf("service %s is bound by %s: %w", id, p.ID, ErrInUse)
				}
			}
		}
		m.services = slices.Delete(m.services, i, i+1)
		return nil
	})
}

// AddKey adds a manual key (see keys.New). Created and Modified are
// stamped now; the key's Status is kept.
func (r *Registry) AddKey(k keys.Key) error {
	return r.change(func(m *model, now time.Time) error {
		if find(m.keys, k.ID, keyID) >= 0 {
			return fmt.Errorf("key %s: %w", k.ID, keys.ErrExists)
		}
		if err := k.Validate(); err != nil {
			return err
		}
		k.Created, k.Modified = now, now
		m.keys = append(m.keys, k)
		return nil
	})
}

// GenerateKey creates an enabled key with a generated secret_id and
// secret_key and returns it.
func (r *Registry) GenerateKey(name string) (keys.Key, error) {
	var k keys.Key
	err := r.change(func(m *model, now time.Time) error {
		var err error
		if k, err = keys.Generate(r.opts.rand(), name, now); err != nil {
			return err
		}
		if find(m.keys, k.ID, keyID) >= 0 {
			return fmt.Errorf("key %s: %w", k.ID, keys.ErrExists)
		}
		m.keys = append(m.keys, k)
		return nil
	})
	return k, err
}

// updateKey applies fn to the key with the given ID.
func (r *Registry) updateKey(id string, fn func(k keys.Key, now time.Time) (keys.Key, error)) (keys.Key, error) {
	var out keys.Key
	err := r.change(func(m *model, now time.Time) error {
		i := find(m.keys, id, keyID)
		if i < 0 {
			return fmt.Errorf("key %s: %w", id, keys.ErrNotFound)
		}
		k, err := fn(m.keys[i], now)
		if err != nil {
			return err
		}
		m.keys[i], out = k, k
		return nil
	})
	return out, err
}

// EnableKey enables a key.
func (r *Registry) EnableKey(id string) error {
	_, err := r.updateKey(id, func(k keys.Key, now time.Time) (keys.Key, error) { return k.Enable(now), nil })
	return err
}

// DisableKey disables a key; its next request is refused.
func (r *Registry) DisableKey(id string) error {
	_, err := r.updateKey(id, func(k keys.Key, now time.Time) (keys.Key, error) { return k.Disable(now), nil })
	return err
}

// RotateKey gives an enabled key a new generated secret_key and returns
// the key. The secret_id, bindings and consumed quota stay.
func (r *Registry) RotateKey(id string) (keys.Key, error) {
	secret, err := keys.GenerateSecret(r.opts.rand())
	if err != nil {
		return keys.Key{}, err
	}
	return r.RotateKeyTo(id, secret)
}

// RotateKeyTo is RotateKey with a chosen secret_key.
func (r *Registry) RotateKeyTo(id string, secret keys.Secret) (keys.Key, error) {
	return r.updateKey(id, func(k keys.Key, now time.Time) (keys.Key, error) { return k.Rotate(secret, now) })
}

// DeleteKey deletes a disabled key that no plan binds (keys.ErrEnabled or
// keys.ErrInUse otherwise). The key's consumed quota is forgotten in
// every plan first, through the resetters of ResetUsageWith; if one
// fails, the key stays and the error says why.
func (r *Registry) DeleteKey(id string) error {
	snap := r.Snapshot()
	if err := checkDeleteKey(snap.m, id); err != nil {
		return err
	}
	// The key is disabled, so it consumes nothing until it is deleted.
	if err := r.forget(snap, []string{id}); err != nil {
		return err
	}
	return r.change(func(m *model, _ time.Time) error {
		if err := checkDeleteKey(m, id); err != nil {
			return err
		}
		i := find(m.keys, id, keyID)
		m.keys = slices.Delete(m.keys, i, i+1)
		return nil
	})
}

// checkDeleteKey refuses to delete an unknown, enabled or bound key.
func checkDeleteKey(m *model, id string) error {
	i := find(m.keys, id, keyID)
	if i < 0 {
		return fmt.Errorf("key %s: %w", id, keys.ErrNotFound)
	}
	if err := m.keys[i].CheckDelete(); err != nil {
		return err
	}
	for _, p := range m.plans {
		if slices.Contains(p.Keys, id) {
			return &keys.StateError{Key: id, Op: "delete", Err: fmt.Errorf("bound to %s: %w", p.ID, keys.ErrInUse)}
		}
	}
	return nil
}

// CreatePlan adds a plan. An empty ID is generated, an empty QuotaPeriod
// is PeriodTotal. The plan may already list keys (enabled ones) and
// bindings; every rule is checked. It returns the stored plan.
func (r *Registry) CreatePlan(p Plan) (Plan, error) {
	p = p.clone()
	if p.ID == "" {
		id, err := NewID(r.opts.rand(), PlanPrefix)
		if err != nil {
			return Plan{}, err
		}
		p.ID = id
	}
	if p.QuotaPeriod == "" {
		p.QuotaPeriod = PeriodTotal
	}
	err := r.change(func(m *model, now time.Time) error {
		if find(m.plans, p.ID, planID) >= 0 {
			return fmt.Errorf("plan %s: %w", p.ID, ErrExists)
		}
		if err := checkBindable(m, p.Keys); err != nil {
			return err
		}
		p.Created, p.Modified = now, now
		m.plans = append(m.plans, p)
		return nil
	})
	return p, err
}

// UpdatePlan replaces a plan's name, description, limits, period and time
// zone, keeping its keys, bindings and creation time. New limits apply to
// the next request; consumed quota is not reset.
func (r *Registry) UpdatePlan(p Plan) error {
	return r.updatePlan(p.ID, func(old *Plan, _ *model) error {
		old.Name, old.Description = p.Name, p.Description
		old.QPS, old.Quota, old.TimeZone = p.QPS, p.Quota, p.TimeZone
		old.QuotaPeriod = orTotal(p.QuotaPeriod)
		old.Burst, old.DryRun = p.Burst, p.DryRun
		old.Limits, old.Throttles = slices.Clone(p.Limits), maps.Clone(p.Throttles)
		return nil
	})
}

func orTotal(p Period) Period {
	if p == "" {
		return PeriodTotal
	}
	return p
}

// DeletePlan deletes a plan that is bound to no service environment
// (ErrInUse otherwise). Its key bindings go with it.
func (r *Registry) DeletePlan(id string) error {
	return r.change(func(m *model, _ time.Time) error {
		i := find(m.plans, id, planID)
		if i < 0 {
			return notFound("plan", id)
		}
		if len(m.plans[i].Bindings) > 0 {
			return fmt.Errorf("plan %s is bound to %s: %w", id, m.plans[i].Bindings[0].Scope(), ErrInUse)
		}
		m.plans = slices.Delete(m.plans, i, i+1)
		return nil
	})
}

func (r *Registry) updatePlan(id string, fn func(p *Plan, m *model) error) error {
	return r.change(func(m *model, now time.Time) error {
		i := find(m.plans, id, planID)
		if i < 0 {
			return notFound("plan", id)
		}
		if err := fn(&m.plans[i], m); err != nil {
			return err
		}
		m.plans[i].Modified = now
		return nil
	})
}

// checkBindable refuses unknown and disabled keys.
func checkBindable(m *model, ids []string) error {
	for _, id := range ids {
		i := find(m.keys, id, keyID)
		if i < 0 {
			return fmt.Errorf("key %s: %w", id, keys.ErrNotFound)
		}
		if err := m.keys[i].CheckBind(); err != nil {
			return err
		}
	}
	return nil
}

// BindKeys binds enabled keys to a plan. A key the plan already binds is
// an error, as is any exclusivity conflict (a *binding.Conflict naming both
// plans, the key and the service environment).
func (r *Registry) BindKeys(planID string, keyIDs ...string) error {
	return r.updatePlan(planID, func(p *Plan, m *model) error {
		if err := checkBindable(m, keyIDs); err != nil {
			return err
		}
		p.Keys = append(p.Keys, keyIDs...)
		return nil
	})
}

// UnbindKeys removes keys from a plan.
func (r *Registry) UnbindKeys(planID string, keyIDs ...string) error {
	return r.updatePlan(planID, func(p *Plan, _ *model) error {
		for _, k := range keyIDs {
			i := slices.Index(p.Keys, k)
			if i < 0 {
				return fmt.Errorf("plan %s does not bind key %s: %w", p.ID, k, ErrNotFound)
			}
			p.Keys = slices.Delete(p.Keys, i, i+1)
		}
		return nil
	})
}

// Bind binds a plan to a service environment, service-wide (t.APIs empty)
// or for the listed APIs. Binding a service environment the plan already
// binds API-scoped adds the APIs to that binding.
func (r *Registry) Bind(planID string, t binding.Target) error {
	return r.updatePlan(planID, func(p *Plan, _ *model) error {
		for i, b := range p.Bindings {
			if b.Service == t.Service && b.Environment == t.Environment && !b.ServiceWide() && !t.ServiceWide() {
				p.Bindings[i].APIs = append(p.Bindings[i].APIs, t.APIs...)
				return nil
			}
		}
		p.Bindings = append(p.Bindings, cloneTargets([]binding.Target{t})...)
		return nil
	})
}

// Unbind removes a plan's binding to a service environment. With apis, it
// removes only those APIs from an API-scoped binding (and the binding when
// none remain).
func (r *Registry) Unbind(planID, service, environment string, apis ...string) error {
	return r.updatePlan(planID, func(p *Plan, _ *model) error {
		i := slices.IndexFunc(p.Bindings, func(b binding.Target) bool {
			return b.Service == service && b.Environment == environment
		})
		if i < 0 {
			return fmt.Errorf("plan %s is not bound to %s/%s: %w", p.ID, service, environment, ErrNotFound)
		}
		b := &p.Bindings[i]
		if len(apis) > 0 {
			if b.ServiceWide() {
				return fmt.Errorf("plan %s binds %s/%s service-wide; demote it before unbinding APIs", p.ID, service, environment)
			}
			for _, a := range apis {
				j := slices.Index(b.APIs, a)
				if j < 0 {
					return fmt.Errorf("plan %s does not bind API %s in %s/%s: %w", p.ID, a, service, environment, ErrNotFound)
				}
				b.APIs = slices.Delete(b.APIs, j, j+1)
			}
			if len(b.APIs) > 0 {
				return nil
			}
		}
		p.Bindings = slices.Delete(p.Bindings, i, i+1)
		return nil
	})
}

// Demote turns a plan's service-wide binding of service/environment into
// an API-scoped binding of every API the service has now.
func (r *Registry) Demote(planID, service, environment string) error {
	return r.updatePlan(planID, func(p *Plan, m *model) error {
		si := find(m.services, service, serviceID)
		if si < 0 {
			return notFound("service", service)
		}
		for i, b := range p.Bindings {
			if b.Service == service && b.Environment == environment {
				if !b.ServiceWide() {
					return fmt.Errorf("plan %s binds %s/%s API-scoped already", p.ID, service, environment)
				}
				if len(m.services[si].APIs) == 0 {
					return fmt.Errorf("service %s has no APIs to demote to", service)
				}
				p.Bindings[i] = binding.Demote(b, m.services[si].APIIDs())
				return nil
			}
		}
		return fmt.Errorf("plan %s is not bound to %s/%s: %w", p.ID, service, environment, ErrNotFound)
	})
}
