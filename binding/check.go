package binding

import "errors"

type scope struct{ service, env string }

type keyScope struct {
	service, env, key string
}

type placed struct {
	plan, target int
}

// Check validates plans against every rule in the package doc and returns
// every violation, in a stable order: *DuplicateError, *MixedScopeError and
// *Conflict values. It does not check that the IDs exist; that is the
// registry's job.
func Check(plans []Plan) []error {
	var errs []error
	for _, p := range plans {
		errs = append(errs, duplicates(p)...)
	}

	// Mixed scopes: remember the first service-wide and the first
	// API-scoped binding of each service environment.
	type firsts struct{ wide, scoped *placed }
	seen := make(map[scope]*firsts)
	for pi, p := range plans {
		for ti, t := range p.Targets {
			s := scope{t.Service, t.Environment}
			f := seen[s]
			if f == nil {
				f = &firsts{}
				seen[s] = f
			}
			here := &placed{pi, ti}
			mine, theirs := &f.scoped, f.wide
			if t.ServiceWide() {
				mine, theirs = &f.wide, f.scoped
			}
			if theirs != nil && plans[theirs.plan].ID != p.ID {
				errs = append(errs, &MixedScopeError{
					Plan: p.ID, Other: plans[theirs.plan].ID, Target: ti,
					Service: t.Service, Environment: t.Environment,
					PlanServiceWide: t.ServiceWide(),
				})
			}
			if *mine == nil {
				*mine = here
			}
		}
	}

	// Exclusivity: for every key and service environment, the targets of
	// different plans must not overlap.
	byKey := make(map[keyScope][]placed)
	for pi, p := range plans {
		for ti, t := range p.Targets {
			for _, k := range uniq(p.Keys) {
				ks := keyScope{t.Service, t.Environment, k}
				for _, o := range byKey[ks] {
					other := plans[o.plan]
					if other.ID == p.ID {
						continue // same plan bound twice: a DuplicateError
					}
					if apis, ok := overlap(t, other.Targets[o.target]); ok {
						errs = append(errs, &Conflict{
							Plan: p.ID, Other: other.ID, Target: ti, Key: k,
							Service: t.Service, Environment: t.Environment, APIs: apis,
						})
					}
				}
				byKey[ks] = append(byKey[ks], placed{pi, ti})
			}
		}
	}
	return errs
}

func duplicates(p Plan) []error {
	var errs []error
	keys := make(map[string]bool, len(p.Keys))
	for i, k := range p.Keys {
		if keys[k] {
			errs = append(errs, &DuplicateError{Plan: p.ID, What: "key", Value: k, Key: i})
		}
		keys[k] = true
	}
	targets := make(map[scope]bool, len(p.Targets))
	for ti, t := range p.Targets {
		s := scope{t.Service, t.Environment}
		if targets[s] {
			errs = append(errs, &DuplicateError{Plan: p.ID, What: "binding", Value: t.Scope(), Target: ti})
		}
		targets[s] = true
		apis := make(map[string]bool, len(t.APIs))
		for ai, a := range t.APIs {
			if apis[a] {
				errs = append(errs, &DuplicateError{Plan: p.ID, What: "api", Value: a, Target: ti, API: ai})
			}
			apis[a] = true
		}
	}
	return errs
}

// uniq returns keys without repeats, keeping the first of each, so that a
// key listed twice is reported once as a duplicate and not as conflicts.
func uniq(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Err joins Check's errors into one error, or returns nil.
func Err(plans []Plan) error { return errors.Join(Check(plans)...) }
