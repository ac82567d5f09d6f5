// Package binding holds the rules that tie usage plans to keys and to
// service environments, and the compiled lookup that resolves a request.
//
// A plan binds a set of keys and a set of Targets (service environments,
// service-wide or scoped to a list of APIs). Check enforces the exclusivity rule:
//
//   - exclusivity: for every (service, environment, API, key) at most one
//     plan applies, so two plans that share a key may not bind overlapping
//     parts of one service environment (a service-wide binding overlaps
//     everything; two API-scoped bindings overlap where their API sets
//     intersect);
//   - in one service environment, service-wide and API-scoped plans cannot
//     coexist (Demote turns the former into the latter);
//   - a plan lists a key, a target, or an API within a target only once.
//
// Compile turns valid plans into a Table, an immutable lookup
// (service, environment, API, key) → plan that is safe for concurrent use
// and does not allocate. Most users never call this package directly: the
// usageplan registry calls it on every change.
//
// The package knows plans, keys, services and APIs only by their IDs.
package binding
