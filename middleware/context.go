package middleware

import (
	"context"

	"github.com/planguard/planguard/usageplan"
)

// Caller is what the middleware established about a request.
type Caller struct {
	Service     string // service ID
	Environment string
	API         usageplan.API
	// SecretID and Plan are empty for APIs with auth NONE.
	SecretID string
	Plan     usageplan.Plan
}

type contextKey struct{}

// FromContext returns the Caller the middleware put into ctx.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(contextKey{}).(*Caller)
	return c, ok
}
