package limiter

import (
	"fmt"
	"testing"
)

// BenchmarkDecisionWithAlerts measures AllowAt on existing keys (QPS +
// quota on the memory store) without alerts, with three alert
// thresholds and a hook (the thresholds are far: the cost is the check),
// and ChargeAt of one unit, in one run.
func BenchmarkDecisionWithAlerts(b *testing.B) {
	const n = 10_000
	ks := keyNames(n)
	plain := Limits{QPS: 2000, Quota: 99_999_999}
	alerted := plain
	alerted.Alerts = []int{50, 80, 100}
	for _, bc := range []struct {
		name   string
		lim    Limits
		hook   func(Alert)
		charge bool
	}{
		{"alerts=off", plain, nil, false},
		{"alerts=on", alerted, func(Alert) {}, false},
		{"charge/alerts=on", alerted, func(Alert) {}, true},
	} {
		l, _ := newLimiter(b, Config{OnAlert: bc.hook})
		for _, k := range ks {
			_, _ = l.AllowAt(ctx, t0, Request{Plan: "usagePlan-bench001", Key: k, Limits: bc.lim})
		}
		b.Run(fmt.Sprintf("keys=%d/%s", n, bc.name), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := Request{Plan: "usagePlan-bench001", Key: ks[i%n], Units: 1, Limits: bc.lim}
				if bc.charge {
					_, _ = l.ChargeAt(ctx, t0, r)
				} else {
					_, _ = l.AllowAt(ctx, t0, r)
				}
				i += 7919
			}
		})
	}
}
