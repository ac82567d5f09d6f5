package middleware

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// LogObserver returns an Observer that logs to l: each refusal at
// debug level (its reason, method, path, the authentication reason,
// environment, service, API, plan and key ID; never a secret or a signature), and the
// quota store's health at warn level: the first failed call after
// healthy ones, with its error, and the first successful call after
// failures ("recovered"), with how many calls failed and for how long.
// A store that keeps failing thus logs once, not once per request. A
// nil l logs to slog.Default().
func LogObserver(l *slog.Logger) Observer {
	if l == nil {
		l = slog.Default()
	}
	h := &storeHealth{log: l}
	return func(ctx context.Context, e *Event) {
		if e.StoreCalled {
			h.observe(ctx, e)
		}
		if e.Reason != Admitted && l.Enabled(ctx, slog.LevelDebug) {
			attrs := make([]slog.Attr, 0, 10)
			attrs = append(attrs, slog.String("reason", e.Reason.String()), slog.String("method", e.Method), slog.String("path", e.Path))
			if e.Reason == RefusedAuth && e.AuthReason != 0 {
				attrs = append(attrs, slog.String("auth_reason", e.AuthReason.String()))
			}
			c := e.Caller
			if c.Environment != "" {
				attrs = append(attrs, slog.String("environment", c.Environment))
			}
			if c.API != nil {
				attrs = append(attrs, slog.String("service", c.Service), slog.String("api", c.API.ID))
			}
			if c.Plan != nil {
				attrs = append(attrs, slog.String("plan", c.Plan.ID), slog.String("key_id", c.SecretID))
			}
			attrs = append(attrs, slog.Duration("elapsed", e.Elapsed))
			l.LogAttrs(ctx, slog.LevelDebug, "request refused", attrs...)
		}
	}
}

// storeHealth remembers whether the last store call failed, so that
// only the changes are logged.
type storeHealth struct {
	log     *slog.Logger
	down    atomic.Bool // failing, read without the lock
	mu      sync.Mutex
	failing bool
	failed  int64     // calls failed since the first failure
	since   time.Time // when the first failure was seen
}

func (h *storeHealth) observe(ctx context.Context, e *Event) {
	if e.StoreErr == nil && !h.down.Load() {
		return // healthy and was: no lock
	}
	h.mu.Lock()
	if (e.StoreErr != nil) == h.failing { // no change: the usual case
		if h.failing {
			h.failed++
		}
		h.mu.Unlock()
		return
	}
	failed, since := h.failed, h.since
	h.failing = e.StoreErr != nil
	h.down.Store(h.failing)
	if h.failing {
		h.failed, h.since = 1, time.Now()
	} else {
		h.failed = 0
	}
	h.mu.Unlock()
	if e.StoreErr != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "quota store failed", slog.String("error", e.StoreErr.Error()),
			slog.String("plan", e.Caller.Plan.ID))
		return
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "quota store recovered", slog.Int64("failed_calls", failed),
		slog.Duration("after", time.Since(since)))
}
