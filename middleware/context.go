package middleware

import (
	"context"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// Caller is what the middleware established about a request: who called
// (the key and its name), which API of which service environment, under
// which plan, and what the plan's limits decided.
//
// A Caller is a value: FromContext returns a copy, which the handler may
// keep and change without affecting anything else. API and Plan point
// into the registry snapshot the request was served under, which never
// changes (a later registry change makes a new snapshot); they are
// shared with every request served under it, so read them and do not
// modify them. (They are pointers so that a Caller does not copy a
// plan's bindings, windows and throttles, nor an API's strings.)
type Caller struct {
	Service     string // service ID
	Environment string
	API         *usageplan.API
	// SecretID (the key's ID) and KeyName are empty and Plan nil for
	// APIs with auth NONE.
	SecretID string
	KeyName  string
	Plan     *usageplan.Plan
	// Decision is what the plan's limits decided: the quota left
	// (Remaining) and when its period ends (Reset). It is the zero
	// Decision (Decided false) when the limiter was not consulted: APIs
	// with auth NONE, and requests served with FailOpen while the store
	// failed.
	Decision Decision
}

// Decision is the limiter's decision on a request, as its handler sees
// it: the fields of a limiter.Decision without the state of each policy,
// which an Observer (Event.Decision) and an ErrorHandler (Error.Decision)
// get in full. (The handler's copy is kept small: it is part of every
// request's allocation.)
type Decision struct {
	// Decided is set when the limiter decided the request.
	Decided bool
	// Allowed is set when every limit admitted the request, or a dry run
	// served it; then Refused names the limit that would have refused it
	// and DryRun is set.
	Allowed bool
	Refused limiter.Limit
	DryRun  bool
	// Remaining is the quota left in the period after this request, in
	// units, or limiter.Unlimited.
	Remaining int64
	// Reset is when the quota period ends; zero for a total or an
	// unlimited quota.
	Reset time.Time
}

type contextKey struct{}

// FromContext returns a copy of the Caller in ctx: the one the
// middleware established for the request, or one that NewContext put
// there. ok is false when ctx holds none.
func FromContext(ctx context.Context) (c Caller, ok bool) {
	p, ok := ctx.Value(contextKey{}).(*Caller)
	if !ok || p == nil {
		return Caller{}, false
	}
	return *p, true
}

// NewContext returns a copy of parent that carries c, as the middleware
// carries the Caller of a request, so that a handler can be unit-tested
// without the middleware:
//
//	r = r.WithContext(middleware.NewContext(r.Context(), middleware.Caller{SecretID: "AKID…"}))
//	handler.ServeHTTP(w, r)
//
// FromContext returns a copy of c.
func NewContext(parent context.Context, c Caller) context.Context {
	return context.WithValue(parent, contextKey{}, &c)
}
