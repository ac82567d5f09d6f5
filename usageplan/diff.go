package usageplan

import (
	"reflect"
	"slices"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// diff returns the changes that make the state old hold the state m, in
// an order whose every step meets the preconditions of its change:
// services and keys first (keys enabled, so that they can be bound),
// then unbinding, plan creation and settings, binding, disabling, and
// the deletions last (each after what unbinds it). Nothing when m holds
// what old holds.
func diff(cur *Snapshot, m *model) []Change {
	old := cur.st
	var (
		out                  []Change
		unbinds, binds, tail []Change
	)
	oldServices := indexBy(old.services, serviceID)
	oldKeys := func(id string) (keys.Key, bool) { return old.key(id) }
	for _, s := range m.services {
		if o, ok := oldServices[s.ID]; !ok || !sameService(o, s) {
			out = append(out, ServicePut{Service: s.clone()})
		}
	}

	var disable []Change
	for _, k := range m.keys {
		o, ok := oldKeys(k.ID)
		switch {
		case !ok:
			add := k
			add.Status = keys.Enabled
			out = append(out, KeyAdded{Key: add})
		case o.Name != k.Name || !o.Secret.Equal(k.Secret) || o.SecretEnv != k.SecretEnv:
			out = append(out, KeyUpdated{ID: k.ID, Name: k.Name, Secret: k.Secret, SecretEnv: k.SecretEnv})
		}
		switch {
		case ok && o.Status == keys.Disabled && k.Status == keys.Enabled:
			out = append(out, KeyEnabled{ID: k.ID})
		case k.Status == keys.Disabled && (!ok || o.Status != keys.Disabled):
			disable = append(disable, KeyDisabled{ID: k.ID})
		}
	}

	for _, p := range m.plans {
		or, ok := old.plan(p.ID)
		if !ok {
			bare := p.clone()
			bare.Bindings = nil
			out = append(out, PlanCreated{Plan: bare})
			if len(p.Keys) > 0 {
				binds = append(binds, KeysBound{Plan: p.ID, Keys: slices.Clone(p.Keys)})
			}
			for _, t := range p.Bindings {
				binds = append(binds, PlanBound{Plan: p.ID, Target: cloneTargets([]binding.Target{t})[0]})
			}
			continue
		}
		o := or.plan
		if !sameSettings(o, p.Plan) {
			out = append(out, PlanUpdated{ID: p.ID, PlanPatch: p.settings()})
		}
		newKeys := make(map[string]bool, len(p.Keys))
		var added, twice []string
		for _, k := range p.Keys {
			if newKeys[k] {
				twice = append(twice, k)
				continue
			}
			newKeys[k] = true
			if _, in := or.keys.Get(k); !in {
				added = append(added, k)
			}
		}
		if len(twice) > 0 { // refused as bound already: the caller reports where
			binds = append(binds, KeysBound{Plan: p.ID, Keys: append(added, twice...)})
			added = nil
		}
		if or.keys.Len() > len(newKeys)-len(added) {
			var gone []string
			for k := range or.keys.All() {
				if !newKeys[k] {
					gone = append(gone, k)
				}
			}
			slices.Sort(gone)
			unbinds = append(unbinds, KeysUnbound{Plan: p.ID, Keys: gone})
		}
		if len(added) > 0 {
			binds = append(binds, KeysBound{Plan: p.ID, Keys: added})
		}
		for _, t := range o.Bindings {
			if !slices.ContainsFunc(p.Bindings, func(n binding.Target) bool { return sameTarget(t, n) }) {
				unbinds = append(unbinds, PlanUnbound{Plan: p.ID, Service: t.Service, Environment: t.Environment})
			}
		}
		for _, t := range p.Bindings {
			if !slices.ContainsFunc(o.Bindings, func(n binding.Target) bool { return sameTarget(t, n) }) {
				binds = append(binds, PlanBound{Plan: p.ID, Target: cloneTargets([]binding.Target{t})[0]})
			}
		}
	}
	newPlans := indexBy(m.plans, func(p modelPlan) string { return p.ID })
	for _, or := range cur.planRecs() {
		if o := or.plan; newPlans[o.ID].ID == "" {
			for _, t := range o.Bindings {
				unbinds = append(unbinds, PlanUnbound{Plan: o.ID, Service: t.Service, Environment: t.Environment})
			}
			unbinds = append(unbinds, PlanDeleted{ID: o.ID})
		}
	}
	if len(m.keys) > 0 || old.keys.Len() > 0 {
		newKeys := make(map[string]bool, len(m.keys))
		for _, k := range m.keys {
			newKeys[k.ID] = true
		}
		var dropped []keys.Key
		for id, kr := range old.keys.All() {
			if !newKeys[id] {
				dropped = append(dropped, kr.key())
			}
		}
		slices.SortFunc(dropped, func(a, b keys.Key) int { return compareStrings(a.ID, b.ID) })
		for _, k := range dropped {
			if k.Status != keys.Disabled {
				tail = append(tail, KeyDisabled{ID: k.ID})
			}
			tail = append(tail, KeyDeleted{ID: k.ID})
		}
	}
	// A key disabled before and after that a plan now binds: binding
	// needs it enabled, so it is enabled for the binding and disabled
	// again after (a disabled key may be listed in a plan's keys).
	newStatus := make(map[string]keys.Status, len(m.keys))
	for _, k := range m.keys {
		newStatus[k.ID] = k.Status
	}
	rebound := map[string]bool{}
	for _, c := range binds {
		kb, ok := c.(KeysBound)
		if !ok {
			continue
		}
		for _, id := range kb.Keys {
			if o, ok := oldKeys(id); ok && o.Status == keys.Disabled && newStatus[id] == keys.Disabled && !rebound[id] {
				rebound[id] = true
				out = append(out, KeyEnabled{ID: id})
				disable = append(disable, KeyDisabled{ID: id})
			}
		}
	}
	newServices := indexBy(m.services, serviceID)
	for _, s := range old.services {
		if _, ok := newServices[s.ID]; !ok {
			tail = append(tail, ServiceDeleted{ID: s.ID})
		}
	}
	out = append(out, unbinds...)
	out = append(out, binds...)
	out = append(out, disable...)
	return append(out, tail...)
}

func indexBy[T any](list []T, idOf func(T) string) map[string]T {
	m := make(map[string]T, len(list))
	for _, v := range list {
		m[idOf(v)] = v
	}
	return m
}

func sameService(a, b Service) bool {
	return reflect.DeepEqual(a.clone(), b.clone())
}

func sameTarget(a, b binding.Target) bool {
	return a.Service == b.Service && a.Environment == b.Environment && slices.Equal(a.APIs, b.APIs)
}

// sameSettings reports whether plans a and b have the same settings (not
// keys, bindings or times).
func sameSettings(a, b Plan) bool {
	a.Bindings, b.Bindings = nil, nil
	return samePlan(a, b)
}
