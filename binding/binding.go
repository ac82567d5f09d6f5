package binding

import "slices"

// Target is one binding of a plan to a service environment.
type Target struct {
	Service     string
	Environment string
	// APIs lists the API IDs the binding covers; empty means service-wide
	// (every API of the service, including those added later).
	APIs []string
}

// ServiceWide reports whether t covers every API of its service.
func (t Target) ServiceWide() bool { return len(t.APIs) == 0 }

// Scope returns "service/environment", the form errors use.
func (t Target) Scope() string { return t.Service + "/" + t.Environment }

// Plan is what the rules need to know of a usage plan: its ID, the keys it
// binds and the service environments it is bound to.
type Plan struct {
	ID      string
	Keys    []string
	Targets []Target
}

// Demote returns t as an API-scoped binding of apis (the service's APIs). A
// target that is already API-scoped is returned unchanged.
func Demote(t Target, apis []string) Target {
	if !t.ServiceWide() {
		return t
	}
	t.APIs = slices.Clone(apis)
	return t
}

// overlap returns the APIs two targets of one service environment both
// cover, or nil and true if either is service-wide; ok is false when they
// are disjoint.
func overlap(a, b Target) (apis []string, ok bool) {
	if a.ServiceWide() || b.ServiceWide() {
		return nil, true
	}
	for _, x := range a.APIs {
		if slices.Contains(b.APIs, x) {
			apis = append(apis, x)
		}
	}
	return apis, len(apis) > 0
}

// Overlap reports whether two bindings of one service environment bind
// an API in common, and which when both are API-scoped (nil when one is
// service-wide: every API of the other).
func Overlap(a, b Target) (apis []string, ok bool) { return overlap(a, b) }
