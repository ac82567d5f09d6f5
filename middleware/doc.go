// Package middleware enforces usage plans on an http.Handler: for each
// request it finds the environment and the API, verifies the key-pair
// signature, resolves the plan, applies its limits (the API's throttle,
// QPS, windows, quota: all or nothing), and then serves —
// or refuses with the old gateway's status, message and headers
// (docs/responses.md lists every one).
//
// Most users want New, once, and the *Middleware's Wrap, a
// func(http.Handler) http.Handler (r.Use(m.Wrap) on a chi router):
//
//	mw, err := middleware.New(registry, lim, middleware.Config{Environment: "release"})
//	http.ListenAndServe(addr, mw.Wrap(handler))
//
// The handler learns who called from FromContext: a copy of the
// request's Caller — the key and its name, the service, environment and
// API, the plan, and the Decision (the quota left and when it resets;
// the state of every policy is in the observer's Event and in Error). Its API and Plan point into the registry
// snapshot the request was served under (shared and read-only; a later
// registry change does not alter them). NewContext puts a Caller in a
// context, so that a handler can be unit-tested without the middleware;
// package planguardtest drives the whole middleware in a test.
//
// A handler whose cost is known only once it has answered (an AI API's
// tokens) charges it with Charge(r.Context(), units): never refused, a
// charge takes the key's quota to 0 at most, and the rest is overage,
// recorded in the usage history (Config.Meter) beside every unit.
//
// Decisions the old gateway's behaviour leaves open:
//
//   - The APIs of every service published to an environment form one
//     routing table, as if registered on one http.ServeMux: the most
//     specific pattern wins, whichever service it belongs to, and a
//     request costs the same with one service or thousands. (The
//     registry refuses patterns that conflict in an environment.) With
//     Config.Service set, the table holds that service's APIs only.
//   - Without Config.Environment, the first path segment, as the client
//     escaped it, names the environment; an escape in it
//     (/release%2Forders) is refused. The handler sees the rest of the
//     path, with its escaping.
//   - The path authorised is the path served: the middleware routes the
//     handler's own view of the request, which the handler sees as an
//     http.ServeMux would have routed it (r.Pattern is the pattern, "GET
//     /orders/{id}", and r.PathValue returns its wildcards). A path that
//     a ServeMux and a handler reading the decoded path could disagree
//     on is refused with 404, never re-interpreted: an empty, "." or ".."
//     segment, plain or percent-encoded, or an encoded slash. So are
//     CONNECT and TRACE but to an API that names that method (an ANY API
//     does not include them).
//   - Signatures are verified over the request as the client sent it,
//     environment prefix included.
//   - Client headers whose name equals X-Api-SecretId,
//     X-Api-UsagePlanId, X-Api-ID or X-Api-Environment ignoring case,
//     '-' and '_' (X_Api_SecretId reaches a CGI backend as
//     HTTP_X_API_SECRETID too) are always removed, and so are such
//     trailers; Config.StripAuthorization removes Authorization too. With
//     Config.ForwardHeaders the four are set to the verified values, for
//     backends written for the old gateway. All of this changes the
//     handler's copy of the headers (made only then), never the request
//     the middleware was given.
//   - X-Api-ID is set on admitted and throttled (429) responses only, so
//     that a refusal does not tell an unauthenticated client which API
//     a path is.
//   - Store calls do not inherit the request's cancellation or deadline
//     (a client that goes away cannot make the store fail); they keep the
//     request's context values, and Config.StoreTimeout may bound them.
//   - A request refused by any limit consumes nothing from any of them
//     (the old gateway spent a QPS token on a quota refusal); Retry-After
//     is the longest wait among the limits that refused.
//   - A dry run (a plan's enforce false, or Config.DryRun) serves what a
//     limit refuses, with the headers as if refused but no Retry-After;
//     the Observer sees the refusal's Reason with Event.DryRun set.
//   - With fail-open, a store failure serves the request without quota
//     headers.
//   - The usage headers are written under their exact spelling
//     (X-UsagePlan-Quota, X-Api-ID, RateLimit-Policy), which
//     http.CanonicalHeaderKey would change: read them from a
//     ResponseWriter's header map by their constant (h[HeaderQuota]),
//     not with Header.Get.
//   - RateLimit-Policy and RateLimit follow
//     draft-ietf-httpapi-ratelimit-headers-11: RateLimit-Policy lists
//     every policy ("throttle", "qps", each window by its name, "quota"),
//     RateLimit the one closest to exhaustion; a calendar quota's window
//     w is the current period's length in seconds, a total quota has none.
//   - Before a refusal, up to MaxDrain bytes of an unread request body are
//     read and discarded, so that the connection is not reset.
package middleware
