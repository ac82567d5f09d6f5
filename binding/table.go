package binding

// Table is a compiled, immutable lookup (service, environment, API, key) →
// plan ID. It is safe for concurrent use, and Lookup does not allocate.
// The zero Table (and a nil *Table) resolves nothing.
type Table struct {
	m map[keyScope]entry
}

// entry holds what one key resolves to in one service environment: either
// a service-wide plan, or a plan per API.
type entry struct {
	plan string            // service-wide plan, or ""
	apis map[string]string // API ID → plan, for API-scoped bindings
}

// Compile checks plans (see Check) and builds their lookup table. It returns
// the joined Check errors, and no table, if any rule is violated.
func Compile(plans []Plan) (*Table, error) {
	if err := Err(plans); err != nil {
		return nil, err
	}
	t := &Table{m: make(map[keyScope]entry)}
	for _, p := range plans {
		for _, tg := range p.Targets {
			for _, k := range p.Keys {
				ks := keyScope{tg.Service, tg.Environment, k}
				e := t.m[ks]
				if tg.ServiceWide() {
					e.plan = p.ID
				} else {
					if e.apis == nil {
						e.apis = make(map[string]string, len(tg.APIs))
					}
					for _, a := range tg.APIs {
						e.apis[a] = p.ID
					}
				}
				t.m[ks] = e
			}
		}
	}
	return t, nil
}

// Lookup returns the plan that binds key for api in service/environment,
// and false if none does. A nil Table resolves nothing.
func (t *Table) Lookup(service, environment, api, key string) (plan string, ok bool) {
	if t == nil {
		return "", false
	}
	e, found := t.m[keyScope{service, environment, key}]
	if !found {
		return "", false
	}
	if e.plan != "" {
		return e.plan, true
	}
	plan, ok = e.apis[api]
	return plan, ok
}
