package usageplan

import (
	"context"
	"maps"
	"slices"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// The mutators below are helpers over Apply: each makes one change (or a
// few, applied together) with context.Background().

func (r *Registry) apply(changes ...Change) error {
	_, err := r.Apply(context.Background(), changes...)
	return err
}

// PutService creates a service, or replaces the one with the same ID. An
// empty ID is generated. Replacing a service keeps plan bindings; the
// change is refused if a binding would name an API or environment the new
// version lacks. It returns the stored service.
func (r *Registry) PutService(s Service) (Service, error) {
	s = s.clone()
	if s.ID == "" {
		id, err := newID(r.rand(), ServicePrefix)
		if err != nil {
			return Service{}, err
		}
		s.ID = id
	}
	for i := range s.APIs {
		if s.APIs[i].ID == "" {
			id, err := newID(r.rand(), APIPrefix)
			if err != nil {
				return Service{}, err
			}
			s.APIs[i].ID = id
		}
		if s.APIs[i].Auth == "" {
			s.APIs[i].Auth = AuthSecret
		}
	}
	return s, r.apply(ServicePut{Service: s})
}

// DeleteService removes a service that no plan binds (ErrInUse otherwise).
func (r *Registry) DeleteService(id string) error { return r.apply(ServiceDeleted{ID: id}) }

// AddKey adds a manual key (see keys.New). Created and Modified are
// stamped now; the key's Status is kept.
func (r *Registry) AddKey(k keys.Key) error { return r.apply(KeyAdded{Key: k}) }

// GenerateKey creates an enabled key with a generated secret_id and
// secret_key and returns it.
func (r *Registry) GenerateKey(name string) (keys.Key, error) {
	k, err := keys.Generate(r.rand(), name, r.opts.now())
	if err != nil {
		return keys.Key{}, err
	}
	if err := r.apply(KeyAdded{Key: k}); err != nil {
		return keys.Key{}, err
	}
	return r.storedKey(k.ID), nil
}

// storedKey returns key id as the current snapshot holds it (a change
// made since the caller's may show).
func (r *Registry) storedKey(id string) keys.Key {
	k, _ := r.Snapshot().Key(id)
	return k
}

// EnableKey enables a key.
func (r *Registry) EnableKey(id string) error { return r.apply(KeyEnabled{ID: id}) }

// DisableKey disables a key; its next request is refused.
func (r *Registry) DisableKey(id string) error { return r.apply(KeyDisabled{ID: id}) }

// RotateKey gives an enabled key a new generated secret_key and returns
// the key. The secret_id, bindings and consumed quota stay.
func (r *Registry) RotateKey(id string) (keys.Key, error) {
	secret, err := keys.GenerateSecret(r.rand())
	if err != nil {
		return keys.Key{}, err
	}
	return r.RotateKeyTo(id, secret)
}

// RotateKeyTo is RotateKey with a chosen secret_key.
func (r *Registry) RotateKeyTo(id string, secret keys.Secret) (keys.Key, error) {
	if err := r.apply(KeyRotated{ID: id, Secret: secret}); err != nil {
		return keys.Key{}, err
	}
	return r.storedKey(id), nil
}

// DeleteKey deletes a disabled key that no plan binds (ErrInvalidState
// and keys.ErrEnabled, or ErrInUse and keys.ErrInUse otherwise). The
// key's consumed quota is then forgotten in every plan, through the
// resetters of ResetUsageWith (see there for a resetter that fails).
func (r *Registry) DeleteKey(id string) error { return r.apply(KeyDeleted{ID: id}) }

// CreatePlan adds a plan, bound from the start to keyIDs (enabled ones,
// by secret_id) and to the service environments of p.Bindings, in one
// revision; every rule is checked. An empty ID is generated. It returns
// the stored plan.
func (r *Registry) CreatePlan(p Plan, keyIDs ...string) (Plan, error) {
	p = p.clone()
	if p.ID == "" {
		id, err := newID(r.rand(), PlanPrefix)
		if err != nil {
			return Plan{}, err
		}
		p.ID = id
	}
	if err := r.apply(PlanCreated{Plan: p, Keys: slices.Clone(keyIDs)}); err != nil {
		return p, err
	}
	stored, _ := r.Snapshot().Plan(p.ID)
	return stored, nil
}

// UpdatePlan replaces a plan's name, description, limits, period and time
// zone, keeping its keys, bindings and creation time. New limits apply to
// the next request; consumed quota is not reset.
func (r *Registry) UpdatePlan(p Plan) error {
	return r.apply(PlanUpdated{ID: p.ID, PlanPatch: p.settings()})
}

// settings is a patch that sets every setting of p.
func (p Plan) settings() PlanPatch {
	limits, throttles, alerts := slices.Clone(p.Limits), maps.Clone(p.Throttles), slices.Clone(p.Alerts)
	return PlanPatch{
		Name: &p.Name, Description: &p.Description, QPS: &p.QPS, Quota: &p.Quota,
		QuotaPeriod: &p.QuotaPeriod, TimeZone: &p.TimeZone, Burst: &p.Burst,
		Limits: &limits, Throttles: &throttles, DryRun: &p.DryRun, Alerts: &alerts,
	}
}

// DeletePlan deletes a plan that is bound to no service environment
// (ErrInUse otherwise). Its key bindings go with it.
func (r *Registry) DeletePlan(id string) error { return r.apply(PlanDeleted{ID: id}) }

// BindKeys binds enabled keys to a plan. A key the plan already binds is
// an error, as is any exclusivity conflict (a *binding.Conflict naming both
// plans, the key and the service environment).
func (r *Registry) BindKeys(planID string, keyIDs ...string) error {
	return r.apply(KeysBound{Plan: planID, Keys: slices.Clone(keyIDs)})
}

// UnbindKeys removes keys from a plan.
func (r *Registry) UnbindKeys(planID string, keyIDs ...string) error {
	return r.apply(KeysUnbound{Plan: planID, Keys: slices.Clone(keyIDs)})
}

// Bind binds a plan to a service environment, service-wide (t.APIs empty)
// or for the listed APIs. Binding a service environment the plan already
// binds API-scoped adds the APIs to that binding.
func (r *Registry) Bind(planID string, t binding.Target) error {
	return r.apply(PlanBound{Plan: planID, Target: cloneTargets([]binding.Target{t})[0]})
}

// Unbind removes a plan's binding to a service environment. With apis, it
// removes only those APIs from an API-scoped binding (and the binding when
// none remain); unbinding APIs of a service-wide binding is
// ErrInvalidState.
func (r *Registry) Unbind(planID, service, environment string, apis ...string) error {
	return r.apply(PlanUnbound{Plan: planID, Service: service, Environment: environment, APIs: slices.Clone(apis)})
}

// Demote turns a plan's service-wide binding of service/environment into
// an API-scoped binding of every API the service has now.
func (r *Registry) Demote(planID, service, environment string) error {
	return r.apply(PlanDemoted{Plan: planID, Service: service, Environment: environment})
}
