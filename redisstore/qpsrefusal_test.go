package redisstore

import (
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// A QPS refusal reads the quota's usage in the same script, so the
// decision reports what is left of the quota (not Unlimited, which the
// middleware rendered as 0/20).
func TestQPSRefusalReportsQuota(t *testing.T) {
	s, _ := newStore(t, redisAddr, Config{})
	l, err := limiter.New(s, limiter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lim := limiter.Limits{QPS: 1, Quota: 20, Period: limiter.Day}
	now := time.Now()
	d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Limits: lim})
	if err != nil || !d.Allowed || d.Remaining != 19 {
		t.Fatalf("first: %+v %v", d, err)
	}
	// The bucket of one token refills in a second; the next decision
	// comes well within it.
	d, err = l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Limits: lim})
	if err != nil || d.Refused != limiter.LimitQPS || d.Remaining != 19 || d.Reset.IsZero() {
		t.Fatalf("QPS refusal: %+v %v, want 19 left and the day's reset", d, err)
	}
}
