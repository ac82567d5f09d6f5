package usageplan

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/planguard/planguard/binding"
)

const adminOpsConfig = `{
  "services": [{"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
    "apis": [{"id": "api-list0001", "name": "list", "method": "GET", "path": "/orders"},
             {"id": "api-get00001", "name": "get", "method": "GET", "path": "/orders/{id}"}]}],
  "keys": [{"id": "key_one_1", "name": "one", "secret": "secret_one_1"},
           {"id": "key_two_2", "name": "two", "secret": "secret_two_2"}],
  "plans": [{"id": "usagePlan-aaaaaaaa", "name": "a", "qps": 5, "quota": 50, "keys": ["key_one_1"]},
            {"id": "usagePlan-bbbbbbbb", "name": "b", "keys": ["key_one_1"]},
            {"id": "usagePlan-cccccccc", "name": "c", "keys": ["key_two_2"]}]
}`

func adminOpsRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := LoadConfig(strings.NewReader(adminOpsConfig), RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPatchPlanChangesOnlyWhatItNames(t *testing.T) {
	r := adminOpsRegistry(t)
	desc := "new"
	p, err := r.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Description: &desc})
	if err != nil {
		t.Fatal(err)
	}
	if p.Description != "new" || p.QPS != 5 || p.Quota != 50 || p.Name != "a" || r.Snapshot().PlanKeyCount(p.ID) != 1 {
		t.Fatalf("PatchPlan: %+v", p)
	}
	zero := int64(0)
	if _, err := r.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Quota: &zero}); err == nil {
		t.Fatal("PatchPlan accepted a quota of 0")
	}
	if _, err := r.PatchPlan("usagePlan-zzzzzzzz", PlanPatch{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PatchPlan of an unknown plan: %v", err)
	}
}

// TestPatchPlanConcurrent: concurrent patches of different fields all
// take effect (a read-modify-write through UpdatePlan would lose some).
func TestPatchPlanConcurrent(t *testing.T) {
	r := adminOpsRegistry(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				q := int64(1000)
				_, err = r.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Quota: &q})
			} else {
				d := "d"
				_, err = r.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Description: &d})
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, _ := r.Snapshot().Plan("usagePlan-aaaaaaaa")
	if p.Quota != 1000 || p.Description != "d" || p.QPS != 5 {
		t.Fatalf("after concurrent patches: %+v", p)
	}
}

// TestBindPlansAllOrNothing: a and b share a key, so both cannot bind
// release; the refusal binds neither.
func TestBindPlansAllOrNothing(t *testing.T) {
	r := adminOpsRegistry(t)
	release := binding.Target{Service: "service-abcd1234", Environment: "release"}
	err := r.BindPlans([]string{"usagePlan-cccccccc", "usagePlan-aaaaaaaa", "usagePlan-bbbbbbbb"}, release)
	var c *binding.Conflict
	if !errors.As(err, &c) {
		t.Fatalf("BindPlans of two plans sharing a key: %v", err)
	}
	for _, p := range r.Snapshot().Plans() {
		if len(p.Bindings) != 0 {
			t.Fatalf("a refused BindPlans left %s bound", p.ID)
		}
	}
	if err := r.BindPlans([]string{"usagePlan-cccccccc", "usagePlan-aaaaaaaa"}, release); err != nil {
		t.Fatal(err)
	}
	if err := r.BindPlans([]string{"usagePlan-zzzzzzzz"}, release); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BindPlans of an unknown plan: %v", err)
	}
	// API-scoped bindings of one environment merge.
	test := binding.Target{Service: "service-abcd1234", Environment: "test", APIs: []string{"api-list0001"}}
	if err := r.BindPlans([]string{"usagePlan-bbbbbbbb"}, test); err != nil {
		t.Fatal(err)
	}
	test.APIs = []string{"api-get00001"}
	if err := r.BindPlans([]string{"usagePlan-bbbbbbbb"}, test); err != nil {
		t.Fatal(err)
	}
	b, _ := r.Snapshot().Plan("usagePlan-bbbbbbbb")
	if len(b.Bindings) != 1 || len(b.Bindings[0].APIs) != 2 {
		t.Fatalf("merged bindings: %+v", b.Bindings)
	}
}

func TestUnbindPlans(t *testing.T) {
	r := adminOpsRegistry(t)
	release := binding.Target{Service: "service-abcd1234", Environment: "release"}
	if err := r.BindPlans([]string{"usagePlan-cccccccc", "usagePlan-aaaaaaaa"}, release); err != nil {
		t.Fatal(err)
	}
	// b is not bound: nothing is unbound.
	if err := r.UnbindPlans([]string{"usagePlan-aaaaaaaa", "usagePlan-bbbbbbbb"}, "service-abcd1234", "release"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UnbindPlans with an unbound plan: %v", err)
	}
	if a, _ := r.Snapshot().Plan("usagePlan-aaaaaaaa"); len(a.Bindings) != 1 {
		t.Fatal("a refused UnbindPlans unbound a")
	}
	// APIs of a service-wide binding cannot be unbound one by one.
	if err := r.UnbindPlans([]string{"usagePlan-aaaaaaaa"}, "service-abcd1234", "release", "api-list0001"); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("UnbindPlans of an API of a service-wide binding: %v", err)
	}
	if err := r.UnbindPlans([]string{"usagePlan-aaaaaaaa", "usagePlan-cccccccc"}, "service-abcd1234", "release"); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Snapshot().Plans() {
		if len(p.Bindings) != 0 {
			t.Fatalf("%s still bound", p.ID)
		}
	}
	// Unbinding some APIs keeps the rest.
	test := binding.Target{Service: "service-abcd1234", Environment: "test", APIs: []string{"api-list0001", "api-get00001"}}
	if err := r.BindPlans([]string{"usagePlan-bbbbbbbb"}, test); err != nil {
		t.Fatal(err)
	}
	if err := r.UnbindPlans([]string{"usagePlan-bbbbbbbb"}, "service-abcd1234", "test", "api-get00001"); err != nil {
		t.Fatal(err)
	}
	b, _ := r.Snapshot().Plan("usagePlan-bbbbbbbb")
	if len(b.Bindings) != 1 || len(b.Bindings[0].APIs) != 1 || b.Bindings[0].APIs[0] != "api-list0001" {
		t.Fatalf("after unbinding one API: %+v", b.Bindings)
	}
	if err := r.UnbindPlans([]string{"usagePlan-bbbbbbbb"}, "service-abcd1234", "test", "api-get00001"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unbinding an API not bound: %v", err)
	}
}
