// Package usageplan is the domain model of planguard: services published
// to environments, their APIs, usage plans with QPS and quota limits, and
// the Registry that holds them together with key pairs and bindings.
//
// Most users load a JSON config (its format is in docs/configuration.md) with LoadConfig and hand the
// registry to the middleware; operators change it at run time with
// Registry.Apply and typed changes (KeyAdded, KeyDisabled, PlanUpdated,
// ...) or the helpers over it (AddKey, DisableKey, UpdatePlan, ...), each
// call validated and applied atomically as one revision, which
// Registry.Changes lists again. Readers use a Snapshot, an immutable view
// that never blocks. A change costs time independent of the number of
// keys (docs/control-plane.md in the repository).
//
// To unit-test a configuration in plain go test, load it and ask
// Snapshot.Explain which API a request matches and which plan applies.
//
// Decisions worth knowing:
//
//   - Config loading reports every problem, each with its JSON path (and
//     its line and column when found while reading the document); field
//     names match exactly (encoding/json alone would match "ID" to "id"),
//     a member named twice in one object is an error rather than the last
//     one winning, the top level must be an object, and null elsewhere
//     counts as omitted.
//   - timeZone takes tz database names as the database spells them;
//     "Local" and other names each host resolves its own way are refused.
//   - qps and quota must be JSON integers: 1.5 and 1e3 are refused, as are
//     0, negatives other than -1 and values beyond int64.
//   - A plan may list a disabled key in a config (a key may be disabled
//     after binding, and export must reload), but Registry.BindKeys refuses
//     one.
//   - API methods are GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS,
//     TRACE, CONNECT or ANY; GET also matches HEAD, as in http.ServeMux;
//     ANY matches every method but CONNECT and TRACE, which only an API
//     naming them is routed.
//   - The APIs of every service published to an environment form one
//     routing table, as one http.ServeMux would: the most specific pattern
//     wins across services, and two APIs whose patterns http.ServeMux
//     finds ambiguous in an environment they share (or in one service)
//     are refused with a RouteConflictError that names both.
//   - An explicit empty "apis" list in a binding is refused; omit it for a
//     service-wide binding.
//   - A service need not be published to any environment.
//   - Export writes entities sorted by ID, so load→export is a fixed point
//     after the first export.
package usageplan
