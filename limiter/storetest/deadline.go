package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// RunDeadlines checks that every Store method (and Take, on a
// SharedStore) gives up by its context's deadline while the store's
// backend does not answer: it returns an error that wraps
// context.DeadlineExceeded, instead of waiting for the backend.
//
// stall makes the backend stop answering for longer than a second and
// returns a function that waits until it answers again; it is called
// once per method, after the method has been called once with the
// backend answering.
func RunDeadlines(t *testing.T, s limiter.Store, stall func(t *testing.T) (wait func())) {
	const deadline = 100 * time.Millisecond
	c := limiter.Counter{Plan: "usagePlan-deadline", Key: "AKIDdeadline"}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Reserve", func(ctx context.Context) error { _, _, err := s.Reserve(ctx, c, 1, 100); return err }},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, c, 1) }},
		{"Usage", func(ctx context.Context) error { _, err := s.Usage(ctx, c); return err }},
		{"SetUsage", func(ctx context.Context) error { return s.SetUsage(ctx, c, 1) }},
		{"PlanUsage", func(ctx context.Context) error { _, err := s.PlanUsage(ctx, c.Plan, 0); return err }},
	}
	if sh, ok := s.(limiter.SharedStore); ok {
		calls = append(calls, struct {
			name string
			call func(ctx context.Context) error
		}{"Take", func(ctx context.Context) error {
			_, err := sh.Take(ctx, limiter.Take{Counter: c, Buckets: []limiter.Bucket{{ID: "qps", Interval: 10 * time.Millisecond, Burst: 100}}, Units: 1, Quota: 100})
			return err
		}})
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(context.Background()); err != nil {
				t.Fatalf("with the backend answering: %v", err)
			}
			wait := stall(t)
			defer wait()
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with the backend stalled: %v; want an error wrapping context.DeadlineExceeded", err)
			}
			// Ten times the deadline: a call that waited for the backend
			// (stalled for longer than a second) took longer.
			if elapsed > 10*deadline {
				t.Errorf("returned after %v with a deadline of %v", elapsed, deadline)
			}
		})
	}
}
