package middleware

import (
	"context"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
)

// Reason is the outcome of a request: admitted, or why it was refused.
// The observer sees it in an Event and an ErrorHandler in an Error, so
// that both can tell a QPS refusal from a quota one without reading a
// message.
type Reason uint8

const (
	Admitted      Reason = iota // served (with FailOpen, also when the store failed)
	RefusedNoAPI                // 404: no API matches the path
	RefusedAuth                 // 401, or 429 when the key's replay cache is full
	RefusedNoPlan               // 403: the key has no plan for the API
	RefusedQPS                  // 429: a rate limit (the plan's QPS bucket, a window, the API's throttle)
	RefusedQuota                // 429: the plan's quota
	RefusedStore                // 503: the quota store (or the key lookup) failed
)

// String returns the outcome's name as metrics label it: "admitted",
// "not_found", "auth", "no_plan", "qps", "quota", "store_failure".
func (r Reason) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case RefusedNoAPI:
		return "not_found"
	case RefusedAuth:
		return "auth"
	case RefusedNoPlan:
		return "no_plan"
	case RefusedQPS:
		return "qps"
	case RefusedQuota:
		return "quota"
	case RefusedStore:
		return "store_failure"
	}
	return "unknown"
}

// Event is what the observer learns about one request. It never holds a
// secret, a signature or the request's headers. Each request has its own
// Event, valid during the Observer's call only.
type Event struct {
	// Reason is the outcome. In a dry run (DryRun set), it is the
	// refusal the request would have got, and the request was served.
	Reason Reason
	// DryRun is set when a limit refused the request but a dry run
	// (the plan's, or Config.DryRun) served it.
	DryRun bool
	// AuthReason says why the signature was refused, for RefusedAuth
	// (keys.Reason's String names it); zero otherwise.
	AuthReason keys.Reason
	// Caller is what was established before the outcome: empty for
	// RefusedNoAPI; Service, Environment and API from routing on;
	// SecretID (the key ID) and Plan once a plan was found. Environment
	// is set for RefusedNoAPI when the environment was known. It is the
	// request's Caller: read it during the call, do not keep it.
	Caller *Caller
	// Elapsed is the time planguard spent on the request, up to the
	// outcome: routing, verification, resolution and the limiter call,
	// not the handler's nor the ErrorHandler's time.
	Elapsed time.Duration
	// Decision is the limiter's decision, with the state of every
	// policy (Decision.Policies); the zero Decision when StoreCalled is
	// false or the store failed.
	Decision limiter.Decision
	// StoreCalled reports whether the limiter was consulted (a plan was
	// found); StoreElapsed is the time of that call and StoreErr its
	// error. The limiter answers most calls from memory and reaches the
	// store when a quota lease runs out (or on every call for a store
	// without leases, such as Redis with lease size 1).
	StoreCalled  bool
	StoreElapsed time.Duration
	StoreErr     error
	// Method and Path are the request's method and URL path (r.URL.Path,
	// its percent-escapes decoded; no query: it may carry what logs
	// should not).
	Method, Path string
	// Revision is the registry snapshot's Version the request was
	// decided under.
	Revision uint64

	start time.Time // when planguard started on the request
}

// Observer is called once per request, synchronously, with the outcome,
// before the handler runs or the refusal is written. ctx is the
// request's context (a trace span there can take attributes). It must be
// safe for concurrent use and should be fast; it must not keep e or
// e.Caller after it returns.
type Observer func(ctx context.Context, e *Event)
