package middleware

import (
	"context"

	"github.com/planguard/planguard/usageplan"
)

// Caller is what the middleware established about a request.
//
// API and Plan point into the registry snapshot the request was served
// under: they stay as they were when the registry changes, and are
// shared, so read them and do not modify them.
type Caller struct {
	Service     string // service ID
	Environment string
	API         *usageplan.API
	// SecretID is empty and Plan nil for APIs with auth NONE.
	SecretID string
	Plan     *usageplan.Plan
}

type contextKey struct{}

// FromContext returns the Caller the middleware put into ctx.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(contextKey{}).(*Caller)
	return c, ok
}
