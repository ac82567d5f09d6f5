package usageplan

import (
	"slices"

	"github.com/planguard/planguard/binding"
)

// maxConflicts bounds the conflicts reported for one pair of bindings:
// two plans of a million keys each may share them all.
const maxConflicts = 10

// finish validates what the txn's changes touched and reports every
// problem in a *ValidationError. Services and plans, which are few, are
// validated whole when one of them changed (names, limits, routes,
// bindings, throttles, the scope of bindings); the exclusivity rule only
// for the keys bound and the bindings changed, against the plans that
// share them: never every key.
func (tx *txn) finish(lim ceilings) error {
	ps := &tx.ps
	if tx.structural {
		recs := make([]*planRec, 0, tx.st.plans.Len())
		for _, pr := range tx.st.plans.All() {
			recs = append(recs, pr)
		}
		slices.SortFunc(recs, func(a, b *planRec) int { return compareStrings(a.plan.ID, b.plan.ID) })
		m := &model{services: tx.st.services, plans: make([]modelPlan, len(recs))}
		for i, pr := range recs {
			m.plans[i] = modelPlan{Plan: pr.plan} // no keys: checked below, per key
		}
		list, c := validate(m, lim, nil)
		ps.list = append(ps.list, list...)
		if len(list) == 0 {
			tx.st.routes = c.routes
			for i, pr := range recs {
				if tx.touched[pr.plan.ID] {
					tx.st.ownPlan(pr.plan.ID).loc = c.locs[i]
				}
			}
		}
	}

	type pair struct{ plan, other, key, service, env string }
	seen := map[pair]bool{}
	report := func(cf binding.Conflict) {
		key := pair{cf.Plan, cf.Other, cf.Key, cf.Service, cf.Environment}
		if seen[key] {
			return
		}
		seen[key] = true
		ps.add(index(cf.Plan+".bindings", cf.Target), &cf)
	}
	// A key bound to a plan: against the other plans of the key.
	for _, pk := range tx.bound {
		if tx.rebound[pk.plan] {
			continue // checked whole below
		}
		pr, okPlan := tx.st.plans.Get(pk.plan)
		kr, okKey := tx.st.keys.Get(pk.key)
		if !okPlan || !okKey {
			continue // a later change of the transaction deleted it
		}
		for _, other := range kr.plans {
			if other == pk.plan {
				continue
			}
			or, _ := tx.st.plans.Get(other)
			for ti, t := range pr.plan.Bindings {
				for _, u := range or.plan.Bindings {
					if apis, ok := sameScopeOverlap(t, u); ok {
						report(binding.Conflict{Plan: pk.plan, Other: other, Target: ti, Key: pk.key,
							Service: t.Service, Environment: t.Environment, APIs: apis})
					}
				}
			}
		}
	}
	// A plan whose bindings changed: against every plan it shares keys
	// with (pr.shared: a plan sharing none cannot conflict, so a load of
	// many plans does not pair them all) bound to the same service
	// environments, over the keys both bind.
	for _, id := range slices.Sorted(mapKeys(tx.rebound)) {
		pr, ok := tx.st.plans.Get(id)
		if !ok {
			continue
		}
		for _, other := range slices.Sorted(mapKeys(pr.shared)) {
			or, ok := tx.st.plans.Get(other)
			if !ok || other == id {
				continue
			}
			for ti, t := range pr.plan.Bindings {
				for _, u := range or.plan.Bindings {
					apis, ok := sameScopeOverlap(t, u)
					if !ok {
						continue
					}
					small, big := pr, or
					if big.keys.Len() < small.keys.Len() {
						small, big = big, small
					}
					n := 0
					for k := range small.keys.All() {
						if _, both := big.keys.Get(k); both {
							report(binding.Conflict{Plan: id, Other: or.plan.ID, Target: ti, Key: k,
								Service: t.Service, Environment: t.Environment, APIs: apis})
							if n++; n == maxConflicts {
								break
							}
						}
					}
				}
			}
		}
	}
	return ps.err()
}

// sameScopeOverlap reports whether t and u bind the same service
// environment with APIs in common (all of them when one is service-wide;
// then apis is nil).
func sameScopeOverlap(t, u binding.Target) (apis []string, ok bool) {
	if t.Service != u.Service || t.Environment != u.Environment {
		return nil, false
	}
	return binding.Overlap(t, u)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
