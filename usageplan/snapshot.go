package usageplan

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/planguard/planguard/internal/route"
	"github.com/planguard/planguard/keys"
)

// Snapshot is an immutable, consistent view of a registry at one moment.
// It is safe for concurrent use; the lookups used per request (Key,
// Resolve) do not allocate. Values it hands out (Services, Keys, Plans,
// Service, Plan, Config) are deep copies: changing them changes nothing
// in the registry. Only the *Plan that Resolve returns, for the request
// path, is the snapshot's own and must not be modified; within one
// snapshot the same plan is always the same pointer. A plan's keys,
// which may be millions, are not part of a Plan: PlanKeys iterates them,
// PlanKeyCount counts them and KeyPlans goes the other way.
//
// Consecutive snapshots share what a change did not touch, so a change
// costs time and memory independent of the number of keys. Snapshots
// come from a Registry (Snapshot); the zero Snapshot is not usable.
type Snapshot struct {
	st       *state
	svcIdx   map[string]*Service // into st.services
	revision uint64
}

type routeTable = *route.Table[apiRef]

func compile(st *state, svcIdx map[string]*Service, revision uint64) *Snapshot {
	if svcIdx == nil {
		svcIdx = make(map[string]*Service, len(st.services))
		for i := range st.services {
			svcIdx[st.services[i].ID] = &st.services[i]
		}
	}
	return &Snapshot{st: st, svcIdx: svcIdx, revision: revision}
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
	out := make([]Service, len(s.st.services))
	for i := range s.st.services {
		out[i] = s.st.services[i].clone()
	}
	return out
}

// ServiceCount returns the number of services.
func (s *Snapshot) ServiceCount() int { return len(s.st.services) }

// Keys returns a copy of every key, sorted by ID. It costs time and
// memory in the number of keys: AllKeys iterates them without a copy.
func (s *Snapshot) Keys() []keys.Key {
	out := make([]keys.Key, 0, s.st.keys.Len())
	for _, kr := range s.st.keys.All() {
		out = append(out, kr.key())
	}
	slices.SortFunc(out, func(a, b keys.Key) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// AllKeys iterates every key, in no particular order.
func (s *Snapshot) AllKeys() iter.Seq[keys.Key] {
	return func(yield func(keys.Key) bool) {
		for _, kr := range s.st.keys.All() {
			if !yield(kr.key()) {
				return
			}
		}
	}
}

// KeyCount returns the number of keys.
func (s *Snapshot) KeyCount() int { return s.st.keys.Len() }

// Plans returns a copy of every plan, sorted by ID. AllPlans iterates
// them without the slice.
func (s *Snapshot) Plans() []Plan {
	recs := s.planRecs()
	out := make([]Plan, len(recs))
	for i, pr := range recs {
		out[i] = pr.plan.clone()
	}
	return out
}

// AllPlans iterates every plan, sorted by ID, each a copy.
func (s *Snapshot) AllPlans() iter.Seq[Plan] {
	recs := s.planRecs()
	return func(yield func(Plan) bool) {
		for _, pr := range recs {
			if !yield(pr.plan.clone()) {
				return
			}
		}
	}
}

// PlanCount returns the number of plans.
func (s *Snapshot) PlanCount() int { return s.st.plans.Len() }

// planRecs returns every plan's record, sorted by ID.
func (s *Snapshot) planRecs() []*planRec {
	out := make([]*planRec, 0, s.st.plans.Len())
	for _, pr := range s.st.plans.All() {
		out = append(out, pr)
	}
	slices.SortFunc(out, func(a, b *planRec) int { return cmp.Compare(a.plan.ID, b.plan.ID) })
	return out
}

// Service returns a copy of the service with the given ID.
func (s *Snapshot) Service(id string) (Service, bool) {
	c, ok := s.svcIdx[id]
	if !ok {
		return Service{}, false
	}
	return c.clone(), true
}

// Key returns the key with the given secret_id.
func (s *Snapshot) Key(id string) (keys.Key, bool) {
	kr, ok := s.st.keys.Get(id)
	if !ok {
		return keys.Key{}, false
	}
	return kr.key(), true
}

// LookupKey is keys.Lookup: the key with the given secret_id, disabled
// or not, or an error matching both keys.ErrNotFound and ErrNotFound. A
// snapshot is in memory, so it fails for no other reason and ignores
// ctx; it does not allocate.
func (s *Snapshot) LookupKey(_ context.Context, id string) (keys.Key, error) {
	kr, ok := s.st.keys.Get(id)
	if !ok {
		return keys.Key{}, errNoKey
	}
	return kr.key(), nil
}

// errNoKey is LookupKey's error, one value so that an unknown key costs
// no allocation.
var errNoKey = fmt.Errorf("%w (%w)", keys.ErrNotFound, ErrNotFound)

// KeyPlans iterates the IDs of the plans that bind key id, sorted.
func (s *Snapshot) KeyPlans(id string) iter.Seq[string] {
	kr, _ := s.st.keys.Get(id)
	return func(yield func(string) bool) {
		if kr == nil {
			return
		}
		for _, p := range kr.plans {
			if !yield(p) {
				return
			}
		}
	}
}

// Plan returns a copy of the plan with the given ID.
func (s *Snapshot) Plan(id string) (Plan, bool) {
	pr, ok := s.st.plans.Get(id)
	if !ok {
		return Plan{}, false
	}
	return pr.plan.clone(), true
}

// PlanKeys iterates the IDs (secret_ids) of the keys plan id binds, in
// no particular order, without copying them: its cost is the keys
// visited. Nothing for an unknown plan.
func (s *Snapshot) PlanKeys(id string) iter.Seq[string] {
	pr, _ := s.st.plans.Get(id)
	return func(yield func(string) bool) {
		if pr == nil {
			return
		}
		for k := range pr.keys.All() {
			if !yield(k) {
				return
			}
		}
	}
}

// PlanKeyCount returns the number of keys plan id binds (0 for an
// unknown plan), without visiting them.
func (s *Snapshot) PlanKeyCount(id string) int {
	pr, ok := s.st.plans.Get(id)
	if !ok {
		return 0
	}
	return pr.keys.Len()
}

// PlanLocation returns the plan's validated time zone.
func (s *Snapshot) PlanLocation(id string) (*time.Location, bool) {
	pr, ok := s.st.plans.Get(id)
	if !ok {
		return nil, false
	}
	return pr.loc, true
}

// Resolve returns the plan that binds key for api in service/environment
// (the exclusivity rule), and false if none does. It does not look at the key's status.
// The plan is the snapshot's: read it, do not modify it.
func (s *Snapshot) Resolve(service, environment, api, key string) (*Plan, bool) {
	kr, ok := s.st.keys.Get(key)
	if !ok {
		return nil, false
	}
	for _, id := range kr.plans {
		pr, _ := s.st.plans.Get(id)
		for i := range pr.plan.Bindings {
			t := &pr.plan.Bindings[i]
			if t.Service == service && t.Environment == environment && (t.ServiceWide() || slices.Contains(t.APIs, api)) {
				return &pr.plan, true
			}
		}
	}
	return nil, false
}

// model returns the snapshot's whole state as a model, sorted by ID,
// each plan with its keys (sorted). It costs time in the number of keys.
func (s *Snapshot) model() *model {
	m := &model{services: s.Services(), keys: s.Keys()}
	for _, pr := range s.planRecs() {
		m.plans = append(m.plans, pr.withKeys())
	}
	return m
}

var (
	_ keys.Lookup = (*Snapshot)(nil)
	_ keys.Lookup = (*Registry)(nil)
)
