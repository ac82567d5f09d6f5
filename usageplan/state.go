package usageplan

import (
	"slices"

	"github.com/planguard/planguard/keys"
)

// state is the registry's data as a change sees it: lookups by ID and
// puts and deletes, on a private copy that becomes the next snapshot's.
type state struct {
	m *model
}

func (st *state) service(id string) (Service, bool) {
	if i := find(st.m.services, id, serviceID); i >= 0 {
		return st.m.services[i], true
	}
	return Service{}, false
}

func (st *state) putService(s Service) {
	if i := find(st.m.services, s.ID, serviceID); i >= 0 {
		st.m.services[i] = s
		return
	}
	st.m.services = append(st.m.services, s)
}

func (st *state) deleteService(id string) {
	i := find(st.m.services, id, serviceID)
	st.m.services = slices.Delete(st.m.services, i, i+1)
}

// planBindingService returns a plan that binds service id.
func (st *state) planBindingService(id string) (string, bool) {
	for _, p := range st.m.plans {
		for _, t := range p.Bindings {
			if t.Service == id {
				return p.ID, true
			}
		}
	}
	return "", false
}

func (st *state) key(id string) (keys.Key, bool) {
	if i := find(st.m.keys, id, keyID); i >= 0 {
		return st.m.keys[i], true
	}
	return keys.Key{}, false
}

func (st *state) putKey(k keys.Key) {
	if i := find(st.m.keys, k.ID, keyID); i >= 0 {
		st.m.keys[i] = k
		return
	}
	st.m.keys = append(st.m.keys, k)
}

func (st *state) deleteKey(id string) {
	i := find(st.m.keys, id, keyID)
	st.m.keys = slices.Delete(st.m.keys, i, i+1)
}

// planOfKey returns a plan that binds key id.
func (st *state) planOfKey(id string) (string, bool) {
	for _, p := range st.m.plans {
		if slices.Contains(p.Keys, id) {
			return p.ID, true
		}
	}
	return "", false
}

func (st *state) plan(id string) (Plan, bool) {
	if i := find(st.m.plans, id, planID); i >= 0 {
		return st.m.plans[i], true
	}
	return Plan{}, false
}

func (st *state) putPlan(p Plan) {
	if i := find(st.m.plans, p.ID, planID); i >= 0 {
		st.m.plans[i] = p
		return
	}
	st.m.plans = append(st.m.plans, p)
}

func (st *state) deletePlan(id string) {
	i := find(st.m.plans, id, planID)
	st.m.plans = slices.Delete(st.m.plans, i, i+1)
}

func serviceID(s Service) string { return s.ID }
func keyID(k keys.Key) string    { return k.ID }
func planID(p Plan) string       { return p.ID }
