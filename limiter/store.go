package limiter

import (
	"context"
	"errors"
)

// Counter names one quota count: a plan, a key, and the quota period
// (Window: the period's start in Unix seconds, 0 for Total). A store
// keys on every field, or on ID, so that counters that differ in any
// field never merge.
type Counter struct {
	Plan, Key string
	Window    int64
}

// Store keeps quota usage. The Limiter reserves usage in leases: Reserve
// durably adds up to n to a counter without passing limit, the Limiter
// admits that many requests from memory, and Release gives back what was
// not used (on Close, or when a period ends). A crash between the two
// forfeits at most one lease per key and never over-admits.
//
// Implementations must be safe for concurrent use and pass the
// storetest conformance suite.
type Store interface {
	// Reserve adds min(n, limit-usage) to c (at least 0) and returns the
	// amount added and the usage after. It must be atomic with respect to
	// other calls on c, including from other processes sharing the store.
	Reserve(ctx context.Context, c Counter, n, limit int64) (granted, used int64, err error)
	// Release subtracts n from c, not below 0.
	Release(ctx context.Context, c Counter, n int64) error
	// Usage returns c's usage (0 for an unknown counter).
	Usage(ctx context.Context, c Counter) (int64, error)
	// SetUsage sets c's usage to used (0 resets it).
	SetUsage(ctx context.Context, c Counter, used int64) error
	// PlanUsage returns the usage of each key of plan in window.
	PlanUsage(ctx context.Context, plan string, window int64) (map[string]int64, error)
}

// Pruner is implemented by a Store that can delete the counters of
// periods that are over, so that memory and files stay bounded over any
// number of periods. The Limiter calls Prune in the background once per
// plan and period, the first time one of the plan's keys enters a new
// period, with before set to the start of the period preceding the new
// one: a plan keeps its current and its previous period's counts.
// Prune runs concurrently with the Store's other methods, so it must be
// safe for concurrent use with them.
type Pruner interface {
	// Prune deletes plan's counters whose Window is before `before`
	// (Unix seconds). Counters of Total quotas (Window 0) are kept.
	Prune(ctx context.Context, plan string, before int64) error
}

// ErrStoreClosed is returned by a Store used after Close.
var ErrStoreClosed = errors.New("limiter: store is closed")
