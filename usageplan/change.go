package usageplan

import (
	"slices"
	"time"

	"github.com/planguard/planguard/binding"
	"github.com/planguard/planguard/keys"
)

// A Change is one typed change of a registry: the unit of its change log.
// Registry.Apply applies changes, all or nothing, as one new revision;
// Registry.Changes lists them again, in the Record of their revision,
// and a Record encodes to JSON (MarshalJSON), which is what a Journal
// stores. The mutators of Registry (AddKey, BindKeys, ...) are helpers
// that build one change or a few and apply them.
//
// Each change carries everything needed to apply it again to the same
// state with the same result: IDs and secrets are generated before a
// change is made, and the time of the change is its Record's.
//
// The set of changes is closed: only the types of this package implement
// Change.
type Change interface {
	// Kind names the change in its encoding: "keyAdded", "planUpdated"...
	Kind() string
	// apply makes the change in tx, checking its preconditions (that
	// what it names exists, is in the right state); the rules over the
	// whole result (limits, bindings, exclusivity) are checked once all
	// changes of a revision are made.
	apply(tx *txn) error
}

// ServicePut creates a service, or replaces the one with the same ID.
// The service's ID, its APIs' IDs and auths must be set (PutService does).
type ServicePut struct{ Service Service }

// ServiceDeleted deletes a service that no plan binds.
type ServiceDeleted struct{ ID string }

// KeyAdded adds a key, with its status. Created and Modified are the
// change's time.
type KeyAdded struct{ Key keys.Key }

// KeyUpdated replaces a key's name and secret (and the name of the
// environment variable the secret came from), whatever its status: what
// a reloaded config changes. RotateKey is KeyRotated.
type KeyUpdated struct {
	ID        string
	Name      string
	Secret    keys.Secret
	SecretEnv string
}

// KeyEnabled enables a key; enabling an enabled key changes nothing.
type KeyEnabled struct{ ID string }

// KeyDisabled disables a key; its next request is refused.
type KeyDisabled struct{ ID string }

// KeyRotated gives an enabled key a new secret.
type KeyRotated struct {
	ID     string
	Secret keys.Secret
}

// KeyDeleted deletes a disabled key that no plan binds.
type KeyDeleted struct{ ID string }

// PlanCreated creates a plan with its bindings and the keys it binds from
// the start (enabled ones; secret_ids). The plan's ID must be set.
type PlanCreated struct {
	Plan Plan
	Keys []string
}

// PlanUpdated changes the settings of a plan that its PlanPatch sets (a
// nil field leaves the setting as it is); keys, bindings and consumed
// quota are kept.
type PlanUpdated struct {
	ID string
	PlanPatch
}

// PlanDeleted deletes a plan that is bound to no service environment.
type PlanDeleted struct{ ID string }

// KeysBound binds enabled keys to a plan that does not bind them yet.
type KeysBound struct {
	Plan string
	Keys []string
}

// KeysUnbound removes keys that a plan binds from it.
type KeysUnbound struct {
	Plan string
	Keys []string
}

// PlanBound binds a plan to a service environment, service-wide
// (Target.APIs empty) or for the listed APIs; binding a service
// environment the plan binds API-scoped already adds the APIs to that
// binding.
type PlanBound struct {
	Plan   string
	Target binding.Target
}

// PlanUnbound removes a plan's binding to a service environment, or with
// APIs only those APIs of an API-scoped binding (and the binding when
// none remain).
type PlanUnbound struct {
	Plan                 string
	Service, Environment string
	APIs                 []string
}

// PlanDemoted turns a plan's service-wide binding of a service
// environment into an API-scoped binding of every API the service has.
type PlanDemoted struct {
	Plan                 string
	Service, Environment string
}

// The kinds of change, as Kind returns them and the encoding names them.
const (
	KindServicePut     = "servicePut"
	KindServiceDeleted = "serviceDeleted"
	KindKeyAdded       = "keyAdded"
	KindKeyUpdated     = "keyUpdated"
	KindKeyEnabled     = "keyEnabled"
	KindKeyDisabled    = "keyDisabled"
	KindKeyRotated     = "keyRotated"
	KindKeyDeleted     = "keyDeleted"
	KindPlanCreated    = "planCreated"
	KindPlanUpdated    = "planUpdated"
	KindPlanDeleted    = "planDeleted"
	KindKeysBound      = "keysBound"
	KindKeysUnbound    = "keysUnbound"
	KindPlanBound      = "planBound"
	KindPlanUnbound    = "planUnbound"
	KindPlanDemoted    = "planDemoted"
)

func (ServicePut) Kind() string     { return KindServicePut }
func (ServiceDeleted) Kind() string { return KindServiceDeleted }
func (KeyAdded) Kind() string       { return KindKeyAdded }
func (KeyUpdated) Kind() string     { return KindKeyUpdated }
func (KeyEnabled) Kind() string     { return KindKeyEnabled }
func (KeyDisabled) Kind() string    { return KindKeyDisabled }
func (KeyRotated) Kind() string     { return KindKeyRotated }
func (KeyDeleted) Kind() string     { return KindKeyDeleted }
func (PlanCreated) Kind() string    { return KindPlanCreated }
func (PlanUpdated) Kind() string    { return KindPlanUpdated }
func (PlanDeleted) Kind() string    { return KindPlanDeleted }
func (KeysBound) Kind() string      { return KindKeysBound }
func (KeysUnbound) Kind() string    { return KindKeysUnbound }
func (PlanBound) Kind() string      { return KindPlanBound }
func (PlanUnbound) Kind() string    { return KindPlanUnbound }
func (PlanDemoted) Kind() string    { return KindPlanDemoted }

// Record is one revision of a registry: the changes applied together, at
// one time. Revision 1 is the first change of a registry.
type Record struct {
	Revision uint64
	Time     time.Time
	Changes  []Change
}

// cloneChange returns a copy of c that shares no slice, map or plan
// with it, so that the log keeps what was applied whatever the caller
// does with its values afterwards.
func cloneChange(c Change) Change {
	switch c := c.(type) {
	case ServicePut:
		c.Service = c.Service.clone()
		return c
	case KeyAdded, KeyUpdated, KeyEnabled, KeyDisabled, KeyRotated, KeyDeleted,
		ServiceDeleted, PlanDeleted, PlanDemoted: // strings and secrets, immutable
		return c
	case PlanCreated:
		c.Plan = c.Plan.clone()
		c.Keys = slices.Clone(c.Keys)
		return c
	case PlanUpdated:
		c.PlanPatch = c.PlanPatch.clone()
		return c
	case KeysBound:
		c.Keys = slices.Clone(c.Keys)
		return c
	case KeysUnbound:
		c.Keys = slices.Clone(c.Keys)
		return c
	case PlanBound:
		c.Target = cloneTargets([]binding.Target{c.Target})[0]
		return c
	case PlanUnbound:
		c.APIs = slices.Clone(c.APIs)
		return c
	}
	return c
}
