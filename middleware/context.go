package middleware

import (
	"context"

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
// plan's lists of keys and bindings.)
type Caller struct {
	Service     string // service ID
	Environment string
	API         *usageplan.API
	// SecretID (the key's ID) and KeyName are empty and Plan nil for
	// APIs with auth NONE.
	SecretID string
	KeyName  string
	Plan     *usageplan.Plan
	// Decision is the limiter's decision on the request: the quota left
	// (Decision.Remaining), when its period ends (Decision.Reset) and the
	// state of every limit of the plan (Decision.Policies). It is the zero
	// Decision when the limiter was not consulted: APIs with auth NONE,
	// and requests served with FailOpen while the store failed. In a dry
	// run, Decision.Refused names the limit that would have refused the
	// request.
	Decision limiter.Decision
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
