package usageplan

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/planguard/planguard/keys"
)

// state is the registry's data in persistent structures: consecutive
// snapshots share everything a change did not touch. Keys and plans are
// hash tries (pmap); services, which are few, a sorted slice copied when
// one changes. A txn changes its own copy in place (the nodes and
// records its owner made) and publishes it as the next snapshot's.
type state struct {
	o        *owner
	services []Service // sorted by ID
	svcOwned bool      // services is the txn's own copy
	keys     pmap[*keyRec]
	plans    pmap[*planRec]
	routes   map[string]routeTable // per environment; rebuilt when services change
}

// keyRec is a key and the plans that bind it (sorted IDs; few). The
// key's fields are held apart, its times as Unix nanoseconds, so that a
// record takes 112 bytes: a million keys are a million records.
type keyRec struct {
	id, name, secretEnv string
	secret              keys.Secret
	created, modified   int64
	status              keys.Status
	plans               []string
	owner               *owner
}

// key returns the record's key. Its times are in UTC.
func (kr *keyRec) key() keys.Key {
	return keys.Key{ID: kr.id, Name: kr.name, Secret: kr.secret, SecretEnv: kr.secretEnv, Status: kr.status,
		Created: fromNanos(kr.created), Modified: fromNanos(kr.modified)}
}

func (kr *keyRec) setKey(k keys.Key) {
	kr.id, kr.name, kr.secret, kr.secretEnv, kr.status = k.ID, k.Name, k.Secret, k.SecretEnv, k.Status
	kr.created, kr.modified = toNanos(k.Created), toNanos(k.Modified)
}

// zeroNanos stands for the zero time, which Unix nanoseconds cannot hold.
const zeroNanos = math.MinInt64

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return zeroNanos
	}
	return t.UnixNano()
}

func fromNanos(ns int64) time.Time {
	if ns == zeroNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// planRec is a plan, the set of keys it binds and its time zone.
type planRec struct {
	plan Plan
	keys pmap[struct{}]
	// shared counts the keys this plan shares with each other plan that
	// shares any, so that binding a plan checks the exclusivity rule
	// without visiting its keys.
	shared map[string]int
	loc    *time.Location
	owner  *owner
}

// begin returns a copy of st for a txn to change.
func (st *state) begin() *state {
	c := *st
	c.o, c.svcOwned = &owner{}, false
	return &c
}

func (st *state) service(id string) (Service, bool) {
	i, ok := slices.BinarySearchFunc(st.services, id, func(s Service, id string) int { return cmp.Compare(s.ID, id) })
	if !ok {
		return Service{}, false
	}
	return st.services[i], true
}

func (st *state) ownServices() {
	if !st.svcOwned {
		st.services = slices.Clone(st.services)
		st.svcOwned = true
	}
}

func (st *state) putService(s Service) {
	st.ownServices()
	i, ok := slices.BinarySearchFunc(st.services, s.ID, func(s Service, id string) int { return cmp.Compare(s.ID, id) })
	if ok {
		st.services[i] = s
		return
	}
	st.services = slices.Insert(st.services, i, s)
}

func (st *state) deleteService(id string) {
	st.ownServices()
	i, _ := slices.BinarySearchFunc(st.services, id, func(s Service, id string) int { return cmp.Compare(s.ID, id) })
	st.services = slices.Delete(st.services, i, i+1)
}

// planBindingService returns a plan that binds service id.
func (st *state) planBindingService(id string) (string, bool) {
	for pid, pr := range st.plans.All() {
		for _, t := range pr.plan.Bindings {
			if t.Service == id {
				return pid, true
			}
		}
	}
	return "", false
}

func (st *state) key(id string) (keys.Key, bool) {
	kr, ok := st.keys.Get(id)
	if !ok {
		return keys.Key{}, false
	}
	return kr.key(), true
}

// keyRec returns the record of key id for the txn to change.
func (st *state) ownKey(id string) *keyRec {
	kr, ok := st.keys.Get(id)
	if !ok {
		return nil
	}
	if kr.owner != st.o {
		c := *kr
		c.owner = st.o
		kr = &c
		st.keys = st.keys.Set(st.o, id, kr)
	}
	return kr
}

func (st *state) putKey(k keys.Key) {
	if kr := st.ownKey(k.ID); kr != nil {
		kr.setKey(k)
		return
	}
	kr := &keyRec{owner: st.o}
	kr.setKey(k)
	st.keys = st.keys.Set(st.o, k.ID, kr)
}

func (st *state) deleteKey(id string) { st.keys = st.keys.Delete(st.o, id) }

// planOfKey returns a plan that binds key id.
func (st *state) planOfKey(id string) (string, bool) {
	kr, ok := st.keys.Get(id)
	if !ok || len(kr.plans) == 0 {
		return "", false
	}
	return kr.plans[0], true
}

func (st *state) plan(id string) (*planRec, bool) { return st.plans.Get(id) }

// ownPlan returns the record of plan id for the txn to change.
func (st *state) ownPlan(id string) *planRec {
	pr, ok := st.plans.Get(id)
	if !ok {
		return nil
	}
	if pr.owner != st.o {
		c := *pr
		c.owner = st.o
		c.plan = pr.plan.clone()
		c.shared = maps.Clone(pr.shared)
		pr = &c
		st.plans = st.plans.Set(st.o, id, pr)
	}
	return pr
}

// addPlan adds a plan without keys.
func (st *state) addPlan(p Plan) *planRec {
	pr := &planRec{plan: p, owner: st.o, loc: time.UTC}
	st.plans = st.plans.Set(st.o, p.ID, pr)
	return pr
}

// deletePlan deletes plan id and its key bindings.
func (st *state) deletePlan(id string) {
	pr, _ := st.plans.Get(id)
	for k := range pr.keys.All() {
		kr := st.ownKey(k)
		kr.plans = without(kr.plans, id)
	}
	for other := range pr.shared {
		delete(st.ownPlan(other).shared, id)
	}
	st.plans = st.plans.Delete(st.o, id)
}

// share adds d to the count of keys plans pr and other share.
func (st *state) share(pr *planRec, other string, d int) {
	for _, p := range [2]*planRec{pr, st.ownPlan(other)} {
		peer := other
		if p != pr {
			peer = pr.plan.ID
		}
		if p.shared == nil {
			p.shared = map[string]int{}
		}
		if p.shared[peer] += d; p.shared[peer] == 0 {
			delete(p.shared, peer)
		}
	}
}

// bindKey adds key, whose record is kr, to plan pr (owned by the txn);
// it reports false if the plan binds it already.
func (st *state) bindKey(pr *planRec, key string, kr *keyRec) bool {
	var added bool
	if pr.keys, added = pr.keys.Add(st.o, key, struct{}{}); !added {
		return false
	}
	if kr.owner != st.o {
		c := *kr
		c.owner = st.o
		kr = &c
		st.keys = st.keys.Set(st.o, key, kr)
	}
	for _, other := range kr.plans {
		st.share(pr, other, +1)
	}
	i, _ := slices.BinarySearch(kr.plans, pr.plan.ID)
	kr.plans = slices.Insert(slices.Clip(kr.plans), i, pr.plan.ID)
	return true
}

// unbindKey removes key from plan pr (owned by the txn); it reports
// false if the plan does not bind it.
func (st *state) unbindKey(pr *planRec, key string) bool {
	if _, ok := pr.keys.Get(key); !ok {
		return false
	}
	pr.keys = pr.keys.Delete(st.o, key)
	if kr := st.ownKey(key); kr != nil {
		kr.plans = without(kr.plans, pr.plan.ID)
		for _, other := range kr.plans {
			st.share(pr, other, -1)
		}
	}
	return true
}

// without returns list without v, in a new slice.
func without(list []string, v string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sortedKeys returns the IDs of the keys pr binds, sorted.
func (pr *planRec) sortedKeys() []string {
	if pr.keys.Len() == 0 {
		return nil
	}
	out := make([]string, 0, pr.keys.Len())
	for k := range pr.keys.All() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// withKeys returns a copy of the plan with its keys, sorted, as the
// model holds it.
func (pr *planRec) withKeys() modelPlan {
	return modelPlan{Plan: pr.plan.clone(), Keys: pr.sortedKeys()}
}

func serviceID(s Service) string { return s.ID }
func keyID(k keys.Key) string    { return k.ID }
func planID(p Plan) string       { return p.ID }
