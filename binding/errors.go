package binding

import (
	"fmt"
	"strings"
)

// Conflict is a violation of the exclusivity rule: Plan and Other share
// Key and both bind overlapping parts of Service/Environment. Plan is the
// later of the two (in the order Check received them) and Target indexes
// the offending binding in Plan's Targets.
type Conflict struct {
	Plan, Other          string
	Target               int
	Key                  string
	Service, Environment string
	// APIs are the API IDs both cover; nil when a service-wide binding
	// is involved.
	APIs []string
}

func (c *Conflict) Error() string {
	s := fmt.Sprintf("%s and %s both bind key %s to %s/%s", c.Plan, c.Other, c.Key, c.Service, c.Environment)
	if len(c.APIs) > 0 {
		s += " (APIs " + strings.Join(c.APIs, ", ") + ")"
	}
	return s
}

// MixedScopeError reports a service environment bound service-wide by one
// plan and API-scoped by another, which the exclusivity rule forbids.
type MixedScopeError struct {
	Plan, Other          string // Plan is the later one
	Target               int    // index in Plan's Targets
	Service, Environment string
	// PlanServiceWide tells which side is service-wide.
	PlanServiceWide bool
}

func (e *MixedScopeError) Error() string {
	wide, scoped := e.Other, e.Plan
	if e.PlanServiceWide {
		wide, scoped = e.Plan, e.Other
	}
	return fmt.Sprintf("%s binds %s/%s service-wide and %s binds it API-scoped; service-wide and API-scoped plans cannot coexist in one service environment (demote %s first)",
		wide, e.Service, e.Environment, scoped, wide)
}

// DuplicateError reports something a plan lists twice.
type DuplicateError struct {
	Plan string
	// What is "key", "binding" or "api".
	What  string
	Value string // the key ID, "service/environment" or API ID
	// Key is the index in Plan.Keys (What == "key"); Target the index in
	// Plan.Targets (What == "binding" or "api"); API the index in that
	// target's APIs (What == "api").
	Key, Target, API int
}

func (e *DuplicateError) Error() string {
	switch e.What {
	case "key":
		return fmt.Sprintf("%s binds key %s twice", e.Plan, e.Value)
	case "api":
		return fmt.Sprintf("%s lists API %s twice in one binding", e.Plan, e.Value)
	}
	return fmt.Sprintf("%s binds %s twice", e.Plan, e.Value)
}
