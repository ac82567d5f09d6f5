package usageplan

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// txn is a revision being made: the changes of one Apply, applied in
// order to the next state.
type txn struct {
	st      *state
	now     time.Time
	deleted []string // keys deleted, whose usage is forgotten
	added   []string // keys added

	// What the changes touched, which is all finish validates.
	structural bool            // services, or plans' settings or bindings
	touched    map[string]bool // plans changed
	rebound    map[string]bool // plans whose bindings changed
	bound      []planKey       // keys bound to plans
	ps         problems        // found while applying
}

type planKey struct{ plan, key string }

// readded returns the smallest ID of a key tx deletes and adds again,
// and whether there is one.
func (tx *txn) readded() (string, bool) {
	if len(tx.deleted) == 0 || len(tx.added) == 0 {
		return "", false
	}
	deleted := make(map[string]bool, len(tx.deleted))
	for _, id := range tx.deleted {
		deleted[id] = true
	}
	first, found := "", false
	for _, id := range tx.added {
		if deleted[id] && (!found || id < first) {
			first, found = id, true
		}
	}
	return first, found
}

func newTxn(st *state, now time.Time) *txn {
	return &txn{st: st.begin(), now: now, touched: map[string]bool{}, rebound: map[string]bool{}}
}

func (c ServicePut) apply(tx *txn) error {
	s := c.Service.clone()
	if s.ID == "" {
		return refuse("service", "", ErrInvalid, "a service needs an ID")
	}
	for i := range s.APIs {
		if s.APIs[i].Auth == "" {
			s.APIs[i].Auth = AuthSecret
		}
	}
	tx.st.putService(s)
	tx.structural = true
	return nil
}

func (c ServiceDeleted) apply(tx *txn) error {
	if _, ok := tx.st.service(c.ID); !ok {
		return notFound("service", c.ID)
	}
	if p, ok := tx.st.planBindingService(c.ID); ok {
		return refuse("service", c.ID, ErrInUse, fmt.Sprintf("service %s is bound by %s", c.ID, p))
	}
	tx.st.deleteService(c.ID)
	tx.structural = true
	return nil
}

func (c KeyAdded) apply(tx *txn) error {
	if _, ok := tx.st.keys.Get(c.Key.ID); ok {
		e := refuse("key", c.Key.ID, ErrExists, "key "+c.Key.ID)
		e.Cause = keys.ErrExists
		return e
	}
	if err := c.Key.Validate(); err != nil {
		return err
	}
	k := c.Key
	k.Created, k.Modified = tx.now, tx.now
	tx.added = append(tx.added, k.ID)
	kr := &keyRec{owner: tx.st.o}
	kr.setKey(k)
	tx.st.keys = tx.st.keys.Set(tx.st.o, k.ID, kr)
	return nil
}

// updateKey applies fn to the key id.
func (tx *txn) updateKey(id string, fn func(k keys.Key) (keys.Key, error)) error {
	k, ok := tx.st.key(id)
	if !ok {
		return keyNotFound(id)
	}
	k, err := fn(k)
	if err != nil {
		return err
	}
	tx.st.putKey(k)
	return nil
}

func (c KeyUpdated) apply(tx *txn) error {
	return tx.updateKey(c.ID, func(k keys.Key) (keys.Key, error) {
		n := k
		n.Name, n.Secret, n.SecretEnv = c.Name, c.Secret, c.SecretEnv
		if err := n.Validate(); err != nil {
			return k, err
		}
		if !sameKey(k, n) {
			n.Modified = tx.now
		}
		return n, nil
	})
}

func (c KeyEnabled) apply(tx *txn) error {
	return tx.updateKey(c.ID, func(k keys.Key) (keys.Key, error) { return k.Enable(tx.now), nil })
}

func (c KeyDisabled) apply(tx *txn) error {
	return tx.updateKey(c.ID, func(k keys.Key) (keys.Key, error) { return k.Disable(tx.now), nil })
}

func (c KeyRotated) apply(tx *txn) error {
	return tx.updateKey(c.ID, func(k keys.Key) (keys.Key, error) {
		n, err := k.Rotate(c.Secret, tx.now)
		if err != nil {
			if k.Status == keys.Disabled {
				return k, keyState(k.ID, ErrInvalidState, err)
			}
			return k, err
		}
		return n, nil
	})
}

func (c KeyDeleted) apply(tx *txn) error {
	k, ok := tx.st.key(c.ID)
	if !ok {
		return keyNotFound(c.ID)
	}
	if err := checkDelete(k); err != nil {
		return keyState(c.ID, ErrInvalidState, err)
	}
	if p, ok := tx.st.planOfKey(c.ID); ok {
		return keyState(c.ID, ErrInUse, &keys.StateError{Key: c.ID, Op: "delete", Err: fmt.Errorf("bound to %s: %w", p, keys.ErrInUse)})
	}
	tx.st.deleteKey(c.ID)
	tx.deleted = append(tx.deleted, c.ID)
	return nil
}

// timesKept sets the created and modified times of keys and plans: the
// last change of a checkpoint being restored (see checkpointTimes),
// after the others stamped them with the checkpoint's time. It is never
// encoded.
type timesKept struct {
	keys, plans map[string][2]time.Time
}

func (timesKept) Kind() string { return "timesKept" }

func (c timesKept) apply(tx *txn) error {
	for id, t := range c.keys {
		k, ok := tx.st.key(id)
		if !ok {
			return keyNotFound(id)
		}
		k.Created, k.Modified = t[0], t[1]
		tx.st.putKey(k)
	}
	for id, t := range c.plans {
		pr := tx.st.ownPlan(id)
		if pr == nil {
			return refuse("plan", id, ErrNotFound, "plan "+id)
		}
		pr.plan.Created, pr.plan.Modified = t[0], t[1]
	}
	return nil
}

func (c PlanCreated) apply(tx *txn) error {
	p := c.Plan.clone()
	if p.ID == "" {
		return refuse("plan", "", ErrInvalid, "a plan needs an ID")
	}
	if _, ok := tx.st.plan(p.ID); ok {
		return refuse("plan", p.ID, ErrExists, "plan "+p.ID)
	}
	if err := tx.bindable(c.Keys); err != nil {
		return err
	}
	p.Bindings = orNil(p.Bindings)
	p.Created, p.Modified = tx.now, tx.now
	pr := tx.st.addPlan(p)
	for i, k := range c.Keys {
		kr, _ := tx.st.keys.Get(k) // bindable
		if !tx.st.bindKey(pr, k, kr) {
			tx.ps.add(index("keys", i), &binding.DuplicateError{Plan: p.ID, What: "key", Value: k, Key: i})
			continue
		}
		tx.bound = append(tx.bound, planKey{p.ID, k})
	}
	tx.structural = true
	tx.touched[p.ID], tx.rebound[p.ID] = true, true
	return nil
}

// checkDelete reports whether key k may be deleted as far as its own
// state goes: only a disabled key can be (keys.ErrEnabled otherwise).
// Whether it is still bound is checked apart (ErrInUse).
func checkDelete(k keys.Key) error {
	if k.Status != keys.Disabled {
		return &keys.StateError{Key: k.ID, Op: "delete", Err: keys.ErrEnabled}
	}
	return nil
}

// checkBind reports whether key k may be bound to a plan: a disabled key
// may not (keys.ErrDisabled).
func checkBind(k keys.Key) error {
	if k.Status == keys.Disabled {
		return &keys.StateError{Key: k.ID, Op: "bind", Err: keys.ErrDisabled}
	}
	return nil
}

// bindable refuses unknown and disabled keys.
func (tx *txn) bindable(ids []string) error {
	for _, id := range ids {
		if _, err := tx.bindableKey(id); err != nil {
			return err
		}
	}
	return nil
}

// bindableKey returns the record of key id, or why it cannot be bound.
func (tx *txn) bindableKey(id string) (*keyRec, error) {
	kr, ok := tx.st.keys.Get(id)
	if !ok {
		return nil, keyNotFound(id)
	}
	if kr.status == keys.Disabled {
		return nil, keyState(id, ErrInvalidState, checkBind(kr.key()))
	}
	return kr, nil
}

// updatePlan applies fn to the plan id (the txn's own copy), modified
// now: a change of its settings or bindings.
func (tx *txn) updatePlan(id string, fn func(p *Plan) error) error {
	pr := tx.st.ownPlan(id)
	if pr == nil {
		return notFound("plan", id)
	}
	if err := fn(&pr.plan); err != nil {
		return err
	}
	pr.plan.Modified = tx.now
	tx.structural = true
	tx.touched[id] = true
	return nil
}

func (c PlanUpdated) apply(tx *txn) error {
	return tx.updatePlan(c.ID, func(p *Plan) error {
		c.PlanPatch.applyTo(p)
		return nil
	})
}

// applyTo sets the fields of p that pp sets.
func (pp PlanPatch) applyTo(p *Plan) {
	if pp.Name != nil {
		p.Name = *pp.Name
	}
	if pp.Description != nil {
		p.Description = *pp.Description
	}
	if pp.QPS != nil {
		p.QPS = *pp.QPS
	}
	if pp.Quota != nil {
		p.Quota = *pp.Quota
	}
	if pp.QuotaPeriod != nil {
		p.QuotaPeriod = *pp.QuotaPeriod
	}
	if pp.TimeZone != nil {
		p.TimeZone = *pp.TimeZone
	}
	if pp.Burst != nil {
		p.Burst = *pp.Burst
	}
	if pp.Limits != nil {
		p.Limits = orNil(slices.Clone(*pp.Limits))
	}
	if pp.Throttles != nil {
		p.Throttles = maps.Clone(*pp.Throttles)
		if len(p.Throttles) == 0 {
			p.Throttles = nil
		}
	}
	if pp.DryRun != nil {
		p.DryRun = *pp.DryRun
	}
	if pp.Alerts != nil {
		p.Alerts = orNil(slices.Clone(*pp.Alerts))
	}
}

func (c PlanDeleted) apply(tx *txn) error {
	pr, ok := tx.st.plan(c.ID)
	if !ok {
		return notFound("plan", c.ID)
	}
	if len(pr.plan.Bindings) > 0 {
		return refuse("plan", c.ID, ErrInUse, fmt.Sprintf("plan %s is bound to %s", c.ID, pr.plan.Bindings[0].Scope()))
	}
	tx.st.deletePlan(c.ID)
	tx.structural = true
	return nil
}

func (c KeysBound) apply(tx *txn) error {
	pr := tx.st.ownPlan(c.Plan)
	if pr == nil {
		return notFound("plan", c.Plan)
	}
	for i, k := range c.Keys {
		kr, err := tx.bindableKey(k)
		if err != nil {
			return err
		}
		if !tx.st.bindKey(pr, k, kr) {
			e := refuse("key", k, ErrExists, fmt.Sprintf("plan %s binds key %s already", c.Plan, k))
			e.Cause = &binding.DuplicateError{Plan: c.Plan, What: "key", Value: k, Key: i}
			return e
		}
		tx.bound = append(tx.bound, planKey{c.Plan, k})
	}
	pr.plan.Modified = tx.now
	return nil
}

func (c KeysUnbound) apply(tx *txn) error {
	pr := tx.st.ownPlan(c.Plan)
	if pr == nil {
		return notFound("plan", c.Plan)
	}
	for _, k := range c.Keys {
		if !tx.st.unbindKey(pr, k) {
			return refuse("key", k, ErrNotFound, fmt.Sprintf("plan %s does not bind key %s", c.Plan, k))
		}
	}
	pr.plan.Modified = tx.now
	return nil
}

func (c PlanBound) apply(tx *txn) error {
	t := c.Target
	return tx.updatePlan(c.Plan, func(p *Plan) error {
		for i, b := range p.Bindings {
			if b.Service == t.Service && b.Environment == t.Environment && !b.ServiceWide() && !t.ServiceWide() {
				p.Bindings[i].APIs = append(slices.Clone(b.APIs), t.APIs...)
				tx.rebound[p.ID] = true
				return nil
			}
		}
		p.Bindings = append(p.Bindings, cloneTargets([]binding.Target{t})...)
		tx.rebound[p.ID] = true
		return nil
	})
}

func (c PlanUnbound) apply(tx *txn) error {
	return tx.updatePlan(c.Plan, func(p *Plan) error {
		return unbind(p, c.Service, c.Environment, c.APIs)
	})
}

// unbind removes p's binding to service/environment, or those of its
// APIs that apis lists.
func unbind(p *Plan, service, environment string, apis []string) error {
	i := slices.IndexFunc(p.Bindings, func(b binding.Target) bool {
		return b.Service == service && b.Environment == environment
	})
	if i < 0 {
		return refuse("binding", p.ID, ErrNotFound, fmt.Sprintf("plan %s is not bound to %s/%s", p.ID, service, environment))
	}
	b := &p.Bindings[i]
	if len(apis) > 0 {
		if b.ServiceWide() {
			return refuse("binding", p.ID, ErrInvalidState, fmt.Sprintf("plan %s binds %s/%s service-wide; demote it before unbinding APIs", p.ID, service, environment))
		}
		left := slices.Clone(b.APIs)
		for _, a := range apis {
			j := slices.Index(left, a)
			if j < 0 {
				return refuse("api", a, ErrNotFound, fmt.Sprintf("plan %s does not bind API %s in %s/%s", p.ID, a, service, environment))
			}
			left = slices.Delete(left, j, j+1)
		}
		if len(left) > 0 {
			b.APIs = left
			return nil
		}
	}
	p.Bindings = orNil(slices.Delete(p.Bindings, i, i+1))
	return nil
}

func (c PlanDemoted) apply(tx *txn) error {
	svc, ok := tx.st.service(c.Service)
	if !ok {
		return notFound("service", c.Service)
	}
	return tx.updatePlan(c.Plan, func(p *Plan) error {
		for i, b := range p.Bindings {
			if b.Service == c.Service && b.Environment == c.Environment {
				if !b.ServiceWide() {
					return refuse("binding", p.ID, ErrInvalidState, fmt.Sprintf("plan %s binds %s/%s API-scoped already", p.ID, c.Service, c.Environment))
				}
				if len(svc.APIs) == 0 {
					return refuse("service", c.Service, ErrInvalidState, fmt.Sprintf("service %s has no APIs to demote to", c.Service))
				}
				p.Bindings[i] = binding.Demote(b, svc.APIIDs())
				tx.rebound[p.ID] = true
				return nil
			}
		}
		return refuse("binding", p.ID, ErrNotFound, fmt.Sprintf("plan %s is not bound to %s/%s", p.ID, c.Service, c.Environment))
	})
}
