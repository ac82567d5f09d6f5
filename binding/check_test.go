package binding

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/internal/scatter"
)

func wide(svc, env string) Target { return Target{Service: svc, Environment: env} }
func scoped(svc, env string, apis ...string) Target {
	return Target{Service: svc, Environment: env, APIs: apis}
}

func TestCheck(t *testing.T) {
	const s1, s2 = "service-aaaaaaaa", "service-bbbbbbbb"
	cases := []struct {
		name  string
		plans []Plan
		want  []error // compared by type and fields
	}{
		{
			name: "wide vs wide, shared key",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release")}},
			},
			want: []error{&Conflict{Plan: "usagePlan-b", Other: "usagePlan-a", Key: "K1", Service: s1, Environment: "release"}},
		},
		{
			name: "wide vs wide, disjoint keys",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release")}},
				{ID: "usagePlan-b", Keys: []string{"K2"}, Targets: []Target{wide(s1, "release")}},
			},
		},
		{
			name: "wide vs scoped, shared key: mixed scope and conflict",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{scoped(s1, "release", "api-1")}},
			},
			want: []error{
				&MixedScopeError{Plan: "usagePlan-b", Other: "usagePlan-a", Service: s1, Environment: "release"},
				&Conflict{Plan: "usagePlan-b", Other: "usagePlan-a", Key: "K1", Service: s1, Environment: "release"},
			},
		},
		{
			name: "wide vs scoped, disjoint keys: still mixed scope",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{scoped(s1, "release", "api-1")}},
				{ID: "usagePlan-b", Keys: []string{"K2"}, Targets: []Target{wide(s1, "release")}},
			},
			want: []error{&MixedScopeError{Plan: "usagePlan-b", Other: "usagePlan-a", Service: s1, Environment: "release", PlanServiceWide: true}},
		},
		{
			name: "scoped sets intersect, shared key",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1", "K2"}, Targets: []Target{scoped(s1, "release", "api-1", "api-2")}},
				{ID: "usagePlan-b", Keys: []string{"K3", "K2"}, Targets: []Target{scoped(s1, "release", "api-3", "api-2")}},
			},
			want: []error{&Conflict{Plan: "usagePlan-b", Other: "usagePlan-a", Key: "K2", Service: s1, Environment: "release", APIs: []string{"api-2"}}},
		},
		{
			name: "scoped sets disjoint, shared key",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{scoped(s1, "release", "api-1")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{scoped(s1, "release", "api-2")}},
			},
		},
		{
			name: "scoped sets intersect, disjoint keys",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{scoped(s1, "release", "api-1")}},
				{ID: "usagePlan-b", Keys: []string{"K2"}, Targets: []Target{scoped(s1, "release", "api-1")}},
			},
		},
		{
			name: "shared key, different environments",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{wide(s1, "test")}},
			},
		},
		{
			name: "shared key, different services",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{wide(s2, "release")}},
			},
		},
		{
			name: "same plan binds one environment twice",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release"), scoped(s1, "release", "api-1")}},
			},
			want: []error{&DuplicateError{Plan: "usagePlan-a", What: "binding", Value: s1 + "/release", Target: 1}},
		},
		{
			name: "same key twice in a plan, same API twice in a binding",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1", "K1"}, Targets: []Target{scoped(s1, "release", "api-1", "api-1")}},
			},
			want: []error{
				&DuplicateError{Plan: "usagePlan-a", What: "key", Value: "K1", Key: 1},
				&DuplicateError{Plan: "usagePlan-a", What: "api", Value: "api-1", API: 1},
			},
		},
		{
			name: "a plan without keys conflicts with nobody",
			plans: []Plan{
				{ID: "usagePlan-a", Targets: []Target{wide(s1, "release")}},
				{ID: "usagePlan-b", Targets: []Target{wide(s1, "release")}},
			},
		},
		{
			name: "conflict in the second binding of a plan",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "test")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{wide(s1, "release"), wide(s1, "test")}},
			},
			want: []error{&Conflict{Plan: "usagePlan-b", Other: "usagePlan-a", Target: 1, Key: "K1", Service: s1, Environment: "test"}},
		},
		{
			name: "three plans, every pair reported",
			plans: []Plan{
				{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide(s1, "test")}},
				{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{wide(s1, "test")}},
				{ID: "usagePlan-c", Keys: []string{"K1"}, Targets: []Target{wide(s1, "test")}},
			},
			want: []error{
				&Conflict{Plan: "usagePlan-b", Other: "usagePlan-a", Key: "K1", Service: s1, Environment: "test"},
				&Conflict{Plan: "usagePlan-c", Other: "usagePlan-a", Key: "K1", Service: s1, Environment: "test"},
				&Conflict{Plan: "usagePlan-c", Other: "usagePlan-b", Key: "K1", Service: s1, Environment: "test"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.plans)
			require.Equal(t, tc.want, got)
			_, err := Compile(tc.plans)
			if len(tc.want) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestConflictMessageNamesEverything(t *testing.T) {
	errs := Check([]Plan{
		{ID: "usagePlan-a", Keys: []string{"AKIDx"}, Targets: []Target{wide("service-abcd1234", "release")}},
		{ID: "usagePlan-b", Keys: []string{"AKIDx"}, Targets: []Target{wide("service-abcd1234", "release")}},
	})
	require.Len(t, errs, 1)
	assert.Equal(t, "usagePlan-b and usagePlan-a both bind key AKIDx to service-abcd1234/release", errs[0].Error())
	var c *Conflict
	require.True(t, errors.As(errs[0], &c))
}

func TestMixedScopeMessageSaysWhatToDemote(t *testing.T) {
	errs := Check([]Plan{
		{ID: "usagePlan-a", Targets: []Target{wide("service-abcd1234", "release")}},
		{ID: "usagePlan-b", Targets: []Target{scoped("service-abcd1234", "release", "api-1")}},
	})
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), "demote usagePlan-a first")
}

func TestDemote(t *testing.T) {
	d := Demote(wide("s", "e"), []string{"api-1", "api-2"})
	require.Equal(t, []string{"api-1", "api-2"}, d.APIs)
	require.False(t, d.ServiceWide())
	s := scoped("s", "e", "api-9")
	require.Equal(t, s, Demote(s, []string{"api-1"}))
}

func TestTableLookup(t *testing.T) {
	tbl, err := Compile([]Plan{
		{ID: "usagePlan-a", Keys: []string{"K1", "K2"}, Targets: []Target{wide("svc", "release"), scoped("svc", "test", "api-1")}},
		{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{scoped("svc", "test", "api-2")}},
	})
	require.NoError(t, err)
	cases := []struct {
		svc, env, api, key string
		want               string
	}{
		{"svc", "release", "api-1", "K1", "usagePlan-a"},
		{"svc", "release", "api-anything", "K2", "usagePlan-a"},
		{"svc", "test", "api-1", "K1", "usagePlan-a"},
		{"svc", "test", "api-2", "K1", "usagePlan-b"},
		{"svc", "test", "api-2", "K2", ""},
		{"svc", "test", "api-3", "K1", ""},
		{"svc", "prepub", "api-1", "K1", ""},
		{"other", "release", "api-1", "K1", ""},
		{"svc", "release", "api-1", "K3", ""},
	}
	for _, c := range cases {
		got, ok := tbl.Lookup(c.svc, c.env, c.api, c.key)
		require.Equal(t, c.want != "", ok, "%+v", c)
		require.Equal(t, c.want, got, "%+v", c)
	}
	var nilTable *Table
	_, ok := nilTable.Lookup("svc", "release", "api-1", "K1")
	require.False(t, ok)
}

func TestTableLookupDoesNotAllocate(t *testing.T) {
	tbl, err := Compile([]Plan{
		{ID: "usagePlan-a", Keys: []string{"K1"}, Targets: []Target{wide("svc", "release")}},
		{ID: "usagePlan-b", Keys: []string{"K1"}, Targets: []Target{scoped("svc", "test", "api-2")}},
	})
	require.NoError(t, err)
	svc, env, api, key := "svc", "test", "api-2", "K1"
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := tbl.Lookup(svc, env, api, key); !ok {
			t.Fatal("miss")
		}
	})
	require.Zero(t, allocs)
}

func BenchmarkLookup(b *testing.B) {
	tbl, _ := Compile([]Plan{{ID: "usagePlan-a", Keys: []string{"AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"}, Targets: []Target{scoped("service-abcd1234", "release", "api-get00001")}}})
	b.ReportAllocs()
	scatter.Run(b, 1, func(_, count int) {
		for range count {
			tbl.Lookup("service-abcd1234", "release", "api-get00001", "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN")
		}
	})
}
