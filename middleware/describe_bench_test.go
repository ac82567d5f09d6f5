package middleware

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// BenchmarkDescribePageOnMemoryStore: one DescribeApiUsagePlan page
// (Limit 1) over a service bound by 100 plans, on a memory store holding
// 1,000,000 counters (10,000 keys per plan). The page reads the usage of
// the one plan it returns.
func BenchmarkDescribePageOnMemoryStore(b *testing.B) {
	const plans, keysPerPlan = 100, 10_000
	var envs, list []string
	for i := range plans {
		envs = append(envs, fmt.Sprintf(`"env%d"`, i))
		list = append(list, fmt.Sprintf(`{"id": "usagePlan-%08d", "name": "p%d", "bindings": [{"service": "service-abcd1234", "environment": "env%d"}]}`, i, i, i))
	}
	doc := `{"services": [{"id": "service-abcd1234", "name": "orders", "environments": [` + strings.Join(envs, ",") +
		`], "apis": [{"id": "api-list0001", "name": "list", "method": "GET", "path": "/orders"}]}], "keys": [], "plans": [` +
		strings.Join(list, ",") + `]}`
	reg, err := usageplan.LoadConfig(strings.NewReader(doc), usageplan.RegistryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	store := &limiter.MemoryStore{}
	ctx := context.Background()
	for p := range plans {
		for k := range keysPerPlan {
			c := limiter.Counter{Plan: fmt.Sprintf("usagePlan-%08d", p), Key: fmt.Sprintf("key_%07d", k)}
			if err := store.SetUsage(ctx, c, 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	lim, err := limiter.New(store, limiter.Config{})
	if err != nil {
		b.Fatal(err)
	}
	d := usageplan.Describer{Snapshot: reg.Snapshot(), Usage: LimiterUsage(lim, reg.Snapshot, nil)}
	q := usageplan.ApiUsagePlanQuery{ServiceId: "service-abcd1234", Page: usageplan.Page{Limit: 1}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		set, err := d.ApiUsagePlan(ctx, q)
		if err != nil || len(set.ApiUsagePlanList) != 1 {
			b.Fatal(err, set.TotalCount)
		}
	}
}
