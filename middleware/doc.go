// Package middleware enforces usage plans on an http.Handler: for each
// request it finds the environment and the API, verifies the key-pair
// signature, resolves the plan, applies QPS and quota, and then serves —
// or refuses with the old gateway's status, message and headers
// (SPEC §7).
//
// Most users want New, once, and the func(http.Handler) http.Handler it
// returns:
//
//	mw, err := middleware.New(registry, lim, middleware.Config{Environment: "release"})
//	http.ListenAndServe(addr, mw(handler))
//
// The handler learns who called from FromContext: a Caller whose API
// and Plan point into the registry snapshot the request was served under
// (shared and read-only; a later registry change does not alter them).
//
// Decisions where the SPEC is silent:
//
//   - With Config.Service empty, a request is matched against every
//     service published to its environment, in service ID order; the
//     first that has a matching API serves it.
//   - Without Config.Environment, the first path segment names the
//     environment, and the handler sees the path without it (and without
//     its RawPath, which the prefix would make inconsistent).
//   - The handler sees the request as an http.ServeMux would have routed
//     it to the API's pattern: r.Pattern is the pattern ("GET
//     /orders/{id}") and r.PathValue returns its wildcards.
//   - Signatures are verified over the request as the client sent it,
//     environment prefix included.
//   - Client-sent X-Api-SecretId, X-Api-UsagePlanId, X-Api-ID and
//     X-Api-Environment headers are always removed; with
//     Config.ForwardHeaders they are set to the verified values, for
//     backends written for the old gateway. Both change the handler's
//     copy of the headers (made only then), never the request the
//     middleware was given.
//   - A request admitted by QPS but refused by quota has used its QPS
//     token.
//   - With fail-open, a store failure serves the request without quota
//     headers.
package middleware
