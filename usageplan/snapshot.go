package usageplan

import (
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/internal/route"
	"github.com/planguard/planguard/keys"
)

// Snapshot is an immutable, consistent view of a registry at one moment.
// It is safe for concurrent use; the lookups used per request (Key,
// Resolve) do not allocate. Values it hands out (Services, Keys, Plans,
// Service, Plan, Config) are deep copies: changing them changes nothing
// in the registry. Only the *Plan that Resolve returns, for the request
// path, is the snapshot's own and must not be modified; within one
// snapshot the same plan is always the same pointer.
type Snapshot struct {
	m        *model
	revision uint64
	services map[string]*Service
	keys     map[string]*keys.Key
	plans    map[string]*compiledPlan
	table    *binding.Table
	routes   map[string]*route.Table[apiRef] // per environment, for Explain
}

type compiledPlan struct {
	plan *Plan // in m.plans
	loc  *time.Location
}

func compile(m *model, c *checked, revision uint64) *Snapshot {
	s := &Snapshot{
		m:        m,
		revision: revision,
		services: make(map[string]*Service, len(m.services)),
		keys:     make(map[string]*keys.Key, len(m.keys)),
		plans:    make(map[string]*compiledPlan, len(m.plans)),
		table:    c.table,
		routes:   c.routes,
	}
	for i := range m.services {
		s.services[m.services[i].ID] = &m.services[i]
	}
	for i := range m.keys {
		s.keys[m.keys[i].ID] = &m.keys[i]
	}
	for i := range m.plans {
		s.plans[m.plans[i].ID] = &compiledPlan{plan: &m.plans[i], loc: c.locs[i]}
	}
	return s
}

// Revision counts the revisions applied to the registry: it grows by one
// per successful Apply (or helper, or Load that changed something).
// Registry.Changes lists the changes of each.
func (s *Snapshot) Revision() uint64 { return s.revision }

// Version is Revision.
//
// Deprecated: use Revision.
func (s *Snapshot) Version() uint64 { return s.revision }

// Services returns a copy of every service, sorted by ID.
func (s *Snapshot) Services() []Service {
	out := make([]Service, len(s.m.services))
	for i := range s.m.services {
		out[i] = s.m.services[i].clone()
	}
	return out
}

// Keys returns a copy of every key, sorted by ID.
func (s *Snapshot) Keys() []keys.Key { return slices.Clone(s.m.keys) }

// Plans returns a copy of every plan, sorted by ID.
func (s *Snapshot) Plans() []Plan {
	out := make([]Plan, len(s.m.plans))
	for i := range s.m.plans {
		out[i] = s.m.plans[i].clone()
	}
	return out
}

// Service returns a copy of the service with the given ID.
func (s *Snapshot) Service(id string) (Service, bool) {
	c, ok := s.services[id]
	if !ok {
		return Service{}, false
	}
	return c.clone(), true
}

// Key returns the key with the given secret_id.
func (s *Snapshot) Key(id string) (keys.Key, bool) {
	k, ok := s.keys[id]
	if !ok {
		return keys.Key{}, false
	}
	return *k, true
}

// Plan returns a copy of the plan with the given ID.
func (s *Snapshot) Plan(id string) (Plan, bool) {
	p, ok := s.plans[id]
	if !ok {
		return Plan{}, false
	}
	return p.plan.clone(), true
}

// PlanLocation returns the plan's validated time zone.
func (s *Snapshot) PlanLocation(id string) (*time.Location, bool) {
	p, ok := s.plans[id]
	if !ok {
		return nil, false
	}
	return p.loc, true
}

// Resolve returns the plan that binds key for api in service/environment
// (the exclusivity rule), and false if none does. It does not look at the key's status.
// The plan is the snapshot's: read it, do not modify it.
func (s *Snapshot) Resolve(service, environment, api, key string) (*Plan, bool) {
	id, ok := s.table.Lookup(service, environment, api, key)
	if !ok {
		return nil, false
	}
	return s.plans[id].plan, true
}
