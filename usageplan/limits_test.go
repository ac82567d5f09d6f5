package usageplan

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limitsConfig uses every field of the model of AWS usage plans: a burst,
// windows of each kind of per, per-API throttles, and a dry run.
const limitsConfig = `{
  "services": [{"id": "service-aaaaaaaa", "name": "s", "environments": ["release", "test"], "apis": [
    {"id": "api-aaaaaaaa", "name": "a", "method": "GET", "path": "/a"},
    {"id": "api-bbbbbbbb", "name": "b", "method": "GET", "path": "/b"}]},
    {"id": "service-cccccccc", "name": "c", "environments": ["release"], "apis": [
    {"id": "api-cccccccc", "name": "c", "method": "GET", "path": "/c"}]}],
  "keys": [{"id": "AKIDlimits1", "name": "k", "secret": "0123456789abcdef"}],
  "plans": [
    {"id": "usagePlan-aaaaaaaa", "name": "shaped", "qps": 10, "burst": 50, "quota": 10000, "quotaPeriod": "day",
     "limits": [{"name": "per_minute", "requests": 300, "per": "minute"}, {"name": "per_10s", "requests": 60, "per": "10s"},
                {"name": "per_hour", "requests": 5000, "per": "hour"}, {"name": "per_day", "requests": 9000, "per": "day"}],
     "throttles": {"api-aaaaaaaa": {"qps": 2, "burst": 4}, "api-bbbbbbbb": {"qps": 5}},
     "keys": ["AKIDlimits1"], "bindings": [{"service": "service-aaaaaaaa", "environment": "release"}]},
    {"id": "usagePlan-bbbbbbbb", "name": "trial", "qps": 5, "enforce": false,
     "limits": [{"name": "per_second", "requests": 3, "per": "second"}],
     "keys": ["AKIDlimits1"], "bindings": [{"service": "service-cccccccc", "environment": "release", "apis": ["api-cccccccc"]}]}
  ]
}`

func TestPlanLimitsLoadExplainDescribeExport(t *testing.T) {
	reg, err := loadString(t, limitsConfig)
	require.NoError(t, err)
	snap := reg.Snapshot()
	p, ok := snap.Plan("usagePlan-aaaaaaaa")
	require.True(t, ok)
	assert.EqualValues(t, 50, p.Burst)
	assert.Equal(t, []Window{
		{Name: "per_minute", Requests: 300, Per: time.Minute}, {Name: "per_10s", Requests: 60, Per: 10 * time.Second},
		{Name: "per_hour", Requests: 5000, Per: time.Hour}, {Name: "per_day", Requests: 9000, Per: 24 * time.Hour},
	}, p.Limits)
	assert.Equal(t, map[string]Throttle{"api-aaaaaaaa": {QPS: 2, Burst: 4}, "api-bbbbbbbb": {QPS: 5}}, p.Throttles)
	assert.False(t, p.DryRun, "enforced unless enforce is false")
	trial, _ := snap.Plan("usagePlan-bbbbbbbb")
	assert.True(t, trial.DryRun)

	ex, err := snap.Explain(Request{Service: "service-aaaaaaaa", Environment: "release", Method: "GET", Path: "/a", Key: "AKIDlimits1"})
	require.NoError(t, err)
	require.NotNil(t, ex.Throttle)
	assert.Equal(t, Throttle{QPS: 2, Burst: 4}, *ex.Throttle)
	assert.Len(t, ex.Plan.Limits, 4)
	ex, err = snap.Explain(Request{Service: "service-cccccccc", Environment: "release", Method: "GET", Path: "/c", Key: "AKIDlimits1"})
	require.NoError(t, err)
	assert.Nil(t, ex.Throttle)
	assert.True(t, ex.Plan.DryRun)

	info, err := Describer{Snapshot: snap}.UsagePlan(context.Background(), "usagePlan-aaaaaaaa")
	require.NoError(t, err)
	assert.EqualValues(t, 50, info.MaxRequestBurst)
	assert.Equal(t, []UsagePlanLimit{{"per_minute", 300, 60}, {"per_10s", 60, 10}, {"per_hour", 5000, 3600}, {"per_day", 9000, 86400}}, info.RequestLimits)
	assert.Equal(t, []UsagePlanThrottle{{ApiId: "api-aaaaaaaa", MaxRequestNumPreSec: 2, MaxRequestBurst: 4}, {ApiId: "api-bbbbbbbb", MaxRequestNumPreSec: 5}}, info.ApiThrottles)
	assert.Nil(t, info.Enforce)
	info, err = Describer{Snapshot: snap}.UsagePlan(context.Background(), "usagePlan-bbbbbbbb")
	require.NoError(t, err)
	require.NotNil(t, info.Enforce)
	assert.False(t, *info.Enforce)
	assert.Zero(t, info.MaxRequestBurst)
	assert.Nil(t, info.ApiThrottles)

	var out bytes.Buffer
	require.NoError(t, reg.Export(&out))
	for _, want := range []string{`"burst": 50`, `"per": "minute"`, `"per": "10s"`, `"per": "day"`, `"enforce": false`, `"api-bbbbbbbb": {`} {
		assert.Contains(t, out.String(), want)
	}
	again, err := LoadConfig(&out, testOptions())
	require.NoError(t, err)
	assert.True(t, reflect.DeepEqual(snap.model(), again.Snapshot().model()), "the export reloads to the same registry")
}

// Every problem of the new fields is reported at once, each at its JSON
// path.
func TestPlanLimitsProblemsHavePaths(t *testing.T) {
	_, err := loadString(t, `{
  "services": [{"id": "service-aaaaaaaa", "name": "s", "environments": ["release"], "apis": [
    {"id": "api-aaaaaaaa", "name": "a", "method": "GET", "path": "/a"},
    {"id": "api-bbbbbbbb", "name": "b", "method": "GET", "path": "/b"}]}],
  "keys": [],
  "plans": [
    {"id": "usagePlan-aaaaaaaa", "name": "p", "qps": 10, "burst": 0.5, "enforce": "no",
     "limits": [{"name": "quota", "requests": 0, "per": "fortnight"}, {"name": "w", "requests": 1.5, "per": "1500ms"},
                {"name": "w", "per": "25h"}, {"name": "bad name", "requests": 1, "per": "0s"}, {"name": "e", "requests": 1, "per": "hour"}],
     "throttles": {"api-aaaaaaaa": {"qps": 0, "burst": 100000}, "api-bbbbbbbb": {"burst": 2}, "api-zzzzzzzz": {"qps": 1}, "api-aaaaaaaa": {"qps": 1}},
     "bindings": [{"service": "service-aaaaaaaa", "environment": "release", "apis": ["api-aaaaaaaa"]}]},
    {"id": "usagePlan-bbbbbbbb", "name": "q", "burst": 5},
    {"id": "usagePlan-cccccccc", "name": "r", "qps": 5, "burst": 10001, "throttles": {"api-aaaaaaaa": {"qps": 2001}}},
    {"id": "usagePlan-dddddddd", "name": "z", "qps": 5, "burst": -0, "throttles": {"api-aaaaaaaa": {"qps": 1, "burst": 0}},
     "bindings": [{"service": "service-aaaaaaaa", "environment": "release", "apis": ["api-bbbbbbbb"]}]}
  ]
}`)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	got := map[string]string{}
	for _, p := range ve.Problems {
		got[p.Path] += p.Err.Error() + "; "
	}
	for path, want := range map[string]string{
		"plans[0].burst":                        "must be an integer",
		"plans[0].enforce":                      "must be a boolean",
		"plans[0].limits":                       "at most 4 windows",
		"plans[0].limits[0].name":               "names another policy",
		"plans[0].limits[0].requests":           "must be 1–99999999, got 0",
		"plans[0].limits[0].per":                "fortnight",
		"plans[0].limits[1].requests":           "must be an integer",
		"plans[0].limits[1].per":                "whole seconds",
		"plans[0].limits[2].name":               "duplicates w",
		"plans[0].limits[2].requests":           "is required",
		"plans[0].limits[2].per":                "25h",
		"plans[0].limits[3].name":               "only letters",
		"plans[0].limits[3].per":                "0s",
		"plans[0].throttles.api-aaaaaaaa.qps":   "must be 1–2000, got 0",
		"plans[0].throttles.api-aaaaaaaa.burst": "must be 1–10000, got 100000",
		"plans[0].throttles.api-aaaaaaaa":       "repeated",
		"plans[0].throttles.api-bbbbbbbb":       "binds no API api-bbbbbbbb",
		"plans[0].throttles.api-bbbbbbbb.qps":   "is required",
		"plans[0].throttles.api-zzzzzzzz":       "binds no API api-zzzzzzzz",
		"plans[1].burst":                        "needs a limited qps",
		"plans[2].burst":                        "must be 1–10000, got 10001",
		"plans[2].throttles.api-aaaaaaaa":       "binds no API",
		"plans[2].throttles.api-aaaaaaaa.qps":   "must be 1–2000, got 2001",
		// A burst written 0 is out of range, not the default.
		"plans[3].burst":                        "must be 1–10000, got 0 (omit it for the default)",
		"plans[3].throttles.api-aaaaaaaa.burst": "must be 1–10000, got 0 (omit it for the default)",
	} {
		assert.Contains(t, got[path], want, "at %s; all problems:\n%v", path, err)
	}
}

// A registry change that would leave a throttle on an API the plan no
// longer binds is refused; raising the burst ceiling is an Option.
func TestThrottleFollowsBindings(t *testing.T) {
	reg, err := loadString(t, strings.Replace(limitsConfig, `"bindings": [{"service": "service-aaaaaaaa", "environment": "release"}]`,
		`"bindings": [{"service": "service-aaaaaaaa", "environment": "release", "apis": ["api-aaaaaaaa", "api-bbbbbbbb"]}]`, 1))
	require.NoError(t, err)
	p, _ := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
	p.Throttles["api-cccccccc"] = Throttle{QPS: 1}
	err = reg.UpdatePlan(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "binds no API api-cccccccc")

	p, _ = reg.Snapshot().Plan("usagePlan-aaaaaaaa")
	p.Burst, p.DryRun = 20, true
	p.Limits = p.Limits[:1]
	delete(p.Throttles, "api-bbbbbbbb")
	require.NoError(t, reg.UpdatePlan(p))
	got, _ := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
	assert.EqualValues(t, 20, got.Burst)
	assert.True(t, got.DryRun)
	assert.Len(t, got.Limits, 1)
	assert.Equal(t, map[string]Throttle{"api-aaaaaaaa": {QPS: 2, Burst: 4}}, got.Throttles)

	wide := testOptions()
	wide.MaxBurst = 100_000
	_, err = LoadConfig(strings.NewReader(strings.Replace(limitsConfig, `"burst": 50`, `"burst": 100000`, 1)), wide)
	require.NoError(t, err)
}

// A patch that names none of the new fields leaves them as they are; one
// that names them sets them, checked as any change.
func TestPatchPlanLimits(t *testing.T) {
	reg, err := loadString(t, limitsConfig)
	require.NoError(t, err)
	name := "renamed"
	got, err := reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Name: &name})
	require.NoError(t, err)
	assert.EqualValues(t, 50, got.Burst)
	assert.Len(t, got.Limits, 4)
	assert.Len(t, got.Throttles, 2)

	burst, dry := int64(7), true
	limits := []Window{{Name: "per_minute", Requests: 30, Per: time.Minute}}
	throttles := map[string]Throttle{"api-bbbbbbbb": {QPS: 3}}
	got, err = reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Burst: &burst, Limits: &limits, Throttles: &throttles, DryRun: &dry})
	require.NoError(t, err)
	assert.EqualValues(t, 7, got.Burst)
	assert.Equal(t, limits, got.Limits)
	assert.Equal(t, throttles, got.Throttles)
	assert.True(t, got.DryRun)

	bad := map[string]Throttle{"api-cccccccc": {QPS: 3}}
	_, err = reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Throttles: &bad})
	require.Error(t, err, "service-cccccccc is not bound by this plan")
}
