package usageplan

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A plan's usage totals count only the keys it binds: a store may still
// hold counts of keys the plan no longer binds (or that were deleted).
func TestDescribeTotalsCountOnlyBoundKeys(t *testing.T) {
	d := describer(t)
	d.Usage = fakeUsage{"usagePlan-aaaaaaaa": {
		"AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN": 7, "partner_key_1": 3, "unbound_key": 100,
	}}
	info, err := d.UsagePlan(ctx, "usagePlan-aaaaaaaa")
	require.NoError(t, err)
	assert.EqualValues(t, 10, info.InUseRequestNum)

	set, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234", Page: Page{Limit: 1}})
	require.NoError(t, err)
	require.Equal(t, "usagePlan-aaaaaaaa", set.ApiUsagePlanList[0].UsagePlanId)
	assert.EqualValues(t, 10, set.ApiUsagePlanList[0].InUseRequestNum)

	envs, err := d.UsagePlanEnvironments(ctx, "usagePlan-aaaaaaaa", BindService, Page{})
	require.NoError(t, err)
	assert.EqualValues(t, 10, envs.EnvironmentList[0].InUseRequestNum)
}

// countingUsage counts PlanUsage calls per plan, and stands for a store
// that scans counters counters on every call.
type countingUsage struct {
	mu       sync.Mutex
	calls    map[string]int
	counters []int64
	sink     int64
}

func (u *countingUsage) PlanUsage(_ context.Context, p Plan) (map[string]int64, int64, error) {
	var sum int64
	for _, c := range u.counters {
		sum += c
	}
	u.mu.Lock()
	u.calls[p.ID]++
	u.sink += sum
	u.mu.Unlock()
	return map[string]int64{}, 0, nil
}

// manyPlans returns a snapshot of n plans, each bound service-wide to its
// own environment of one service.
func manyPlans(tb testing.TB, n int) *Snapshot {
	var envs, plans []string
	for i := range n {
		envs = append(envs, fmt.Sprintf(`"env%d"`, i))
		plans = append(plans, fmt.Sprintf(`{"id": "usagePlan-%08d", "name": "p%d", "keys": ["key_one"], "bindings": [{"service": "service-abcd1234", "environment": "env%d"}]}`, i, i, i))
	}
	doc := `{"services": [{"id": "service-abcd1234", "name": "orders", "environments": [` + strings.Join(envs, ",") +
		`], "apis": [{"id": "api-list0001", "name": "list", "method": "GET", "path": "/orders"}]}], "keys": [{"id": "key_one", "name": "one", "secret": "secret_of_key_one"}], "plans": [` +
		strings.Join(plans, ",") + `]}`
	reg, err := LoadConfig(strings.NewReader(doc), testOptions())
	require.NoError(tb, err)
	return reg.Snapshot()
}

// A Describe page reads the usage of the plans on the page only (each
// binds a key: the usage of a plan with no keys is not read).
func TestDescribePageReadsUsageOfItsRowsOnly(t *testing.T) {
	snap := manyPlans(t, 50)
	u := &countingUsage{calls: map[string]int{}}
	d := Describer{Snapshot: snap, Usage: u}
	set, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234", Page: Page{Offset: 10, Limit: 2}})
	require.NoError(t, err)
	require.Equal(t, 50, set.TotalCount)
	require.Len(t, set.ApiUsagePlanList, 2)
	assert.Equal(t, map[string]int{"usagePlan-00000010": 1, "usagePlan-00000011": 1}, u.calls)

	u.calls = map[string]int{}
	svc, err := d.ServiceUsagePlan(ctx, "service-abcd1234", Page{Limit: 1})
	require.NoError(t, err)
	require.Len(t, svc.ServiceUsagePlanList, 1)
	assert.Equal(t, map[string]int{"usagePlan-00000000": 1}, u.calls)

	u.calls = map[string]int{}
	_, err = d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234", Page: Page{Offset: 50}})
	require.NoError(t, err)
	assert.Empty(t, u.calls, "an empty page reads no usage")
}

// BenchmarkDescribePage: one page (Limit 1) of DescribeApiUsagePlan over
// a service bound by 10, 100 and 1000 plans, with a usage source that
// scans 100,000 counters per call (as the memory store's PlanUsage did).
// The cost of a page does not grow with the number of plans.
func BenchmarkDescribePage(b *testing.B) {
	u := &countingUsage{calls: map[string]int{}, counters: make([]int64, 100_000)}
	for _, n := range []int{10, 100, 1000} {
		d := Describer{Snapshot: manyPlans(b, n), Usage: u}
		b.Run(fmt.Sprintf("plans=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234", Page: Page{Limit: 1}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The usage of a plan that binds no key is 0 without asking the store,
// so that answering a plan just created (the admin API's
// CreateUsagePlan) cannot fail on a store that is down.
func TestKeylessPlanUsageReadsNoStore(t *testing.T) {
	reg, err := LoadConfig(strings.NewReader(`{"plans": [{"id": "usagePlan-00000001", "name": "p", "quota": 10}]}`), testOptions())
	require.NoError(t, err)
	u := &countingUsage{calls: map[string]int{}}
	info, err := Describer{Snapshot: reg.Snapshot(), Usage: u}.UsagePlan(ctx, "usagePlan-00000001")
	require.NoError(t, err)
	assert.Zero(t, info.InUseRequestNum)
	assert.Empty(t, u.calls)
}
