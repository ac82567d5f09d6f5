package usageplan

import (
	"bytes"
	"context"
	"errors"
	"github.com/planguard/planguard/limiter"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const alertsConfig = `{
  "services": [{"id": "service-aaaaaaaa", "name": "s", "environments": ["release"], "apis": [
    {"id": "api-aaaaaaaa", "name": "a", "method": "GET", "path": "/a"}]}],
  "keys": [{"id": "AKIDalerts1", "name": "k", "secret": "0123456789abcdef"}],
  "plans": [
    {"id": "usagePlan-aaaaaaaa", "name": "metered", "qps": 10, "quota": 1000, "quotaPeriod": "month", "alerts": [50, 80, 100],
     "keys": ["AKIDalerts1"], "bindings": [{"service": "service-aaaaaaaa", "environment": "release"}]},
    {"id": "usagePlan-bbbbbbbb", "name": "quiet", "qps": 10, "quota": 1000}
  ]
}`

// A plan's alerts load, reach Explain and DescribeUsagePlan, export and
// load back; a plan without them has none.
func TestPlanAlertsLoadExplainDescribeExport(t *testing.T) {
	reg, err := loadString(t, alertsConfig)
	require.NoError(t, err)
	snap := reg.Snapshot()
	p, _ := snap.Plan("usagePlan-aaaaaaaa")
	assert.Equal(t, []int{50, 80, 100}, p.Alerts)
	quiet, _ := snap.Plan("usagePlan-bbbbbbbb")
	assert.Nil(t, quiet.Alerts)

	ex, err := snap.Explain(Request{Service: "service-aaaaaaaa", Environment: "release", Method: "GET", Path: "/a", Key: "AKIDalerts1"})
	require.NoError(t, err)
	assert.Equal(t, []int{50, 80, 100}, ex.Plan.Alerts)

	info, err := Describer{Snapshot: snap}.UsagePlan(context.Background(), "usagePlan-aaaaaaaa")
	require.NoError(t, err)
	assert.Equal(t, []int{50, 80, 100}, info.QuotaAlerts)
	info, err = Describer{Snapshot: snap}.UsagePlan(context.Background(), "usagePlan-bbbbbbbb")
	require.NoError(t, err)
	assert.Nil(t, info.QuotaAlerts)

	var out bytes.Buffer
	require.NoError(t, reg.Export(&out))
	assert.Contains(t, out.String(), `"alerts": [`)
	back, err := LoadConfig(strings.NewReader(out.String()), RegistryConfig{})
	require.NoError(t, err)
	p2, _ := back.Snapshot().Plan("usagePlan-aaaaaaaa")
	assert.Equal(t, p.Alerts, p2.Alerts)
	// Loading the same config again changes nothing.
	rev := reg.Snapshot().Version()
	require.NoError(t, reg.Load(strings.NewReader(alertsConfig)))
	assert.Equal(t, rev, reg.Snapshot().Version())
}

// Every problem of alerts is reported at once, each at its JSON path.
func TestPlanAlertsProblemsHavePaths(t *testing.T) {
	_, err := loadString(t, `{
  "services": [], "keys": [],
  "plans": [
    {"id": "usagePlan-aaaaaaaa", "name": "p", "qps": 10, "quota": 100, "alerts": [0, 101, 50, 50, 1.5, -3]},
    {"id": "usagePlan-bbbbbbbb", "name": "q", "qps": 10, "alerts": [50]},
    {"id": "usagePlan-cccccccc", "name": "r", "qps": 10, "quota": 100, "alerts": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]},
    {"id": "usagePlan-dddddddd", "name": "s", "qps": 10, "quota": 100, "alerts": [4294967346, 2.5, 50]}
  ]
}`)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	got := map[string]string{}
	for _, p := range ve.Problems {
		got[p.Path] += p.Err.Error() + "; "
	}
	for path, want := range map[string]string{
		"plans[0].alerts[0]": "must be a percentage from 1 to 100, got 0",
		"plans[0].alerts[1]": "got 101",
		"plans[0].alerts[3]": "duplicates 50",
		"plans[0].alerts[4]": "must be an integer",
		"plans[0].alerts[5]": "got -3",
		"plans[1].alerts":    "need a limited quota",
		"plans[2].alerts":    "at most 10 thresholds, got 11",
		// Beyond a 32-bit int, which would wrap it to 50.
		"plans[3].alerts[0]": "must be a percentage from 1 to 100, got 4294967346",
		"plans[3].alerts[1]": "must be an integer",
	} {
		assert.Contains(t, got[path], want, "at %s; all problems:\n%v", path, err)
	}
	assert.NotContains(t, got, "plans[0].alerts[2]")
	assert.NotContains(t, got, "plans[3].alerts[2]", "a value out of range does not make the next one a duplicate")
	assert.Equal(t, 1, strings.Count(got["plans[3].alerts[0]"], ";"), "reported once")
	assert.NotContains(t, got["plans[0].alerts[4]"], "percentage", "a value that does not parse is reported once")
}

// A patch that does not name alerts keeps them; one that does sets them
// (an empty list removes them), checked as any change.
func TestPatchPlanAlerts(t *testing.T) {
	reg, err := loadString(t, alertsConfig)
	require.NoError(t, err)
	name := "renamed"
	got, err := reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Name: &name})
	require.NoError(t, err)
	assert.Equal(t, []int{50, 80, 100}, got.Alerts)
	alerts := []int{90}
	got, err = reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Alerts: &alerts})
	require.NoError(t, err)
	assert.Equal(t, []int{90}, got.Alerts)
	none := []int{}
	got, err = reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Alerts: &none})
	require.NoError(t, err)
	assert.Nil(t, got.Alerts)
	bad := []int{0}
	_, err = reg.PatchPlan("usagePlan-aaaaaaaa", PlanPatch{Alerts: &bad})
	require.Error(t, err)
	unlimited := int64(limiter.Unlimited)
	_, err = reg.PatchPlan("usagePlan-bbbbbbbb", PlanPatch{Quota: &unlimited, Alerts: &alerts})
	require.Error(t, err, "alerts need a quota")
	p, _ := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
	assert.Nil(t, p.Alerts, "a refused patch changes nothing")
}

// FuzzPlanAlertsConfig: whatever a plan's quota and alerts, the config
// is refused with a message or accepted with valid alerts that export
// and load back unchanged.
func FuzzPlanAlertsConfig(f *testing.F) {
	f.Add(`1000`, `[50, 80, 100]`)
	f.Add(`-1`, `[50]`)
	f.Add(`10`, `[0, 101, 50, 50, 1.5, -3, "x", null]`)
	f.Add(`10`, `[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]`)
	f.Add(`10`, `[]`)
	f.Add(`10`, `{}`)
	f.Add(`10`, `[9223372036854775808]`)
	f.Add(`10`, `[4294967346]`)
	f.Fuzz(func(t *testing.T, quota, alerts string) {
		doc := `{"services": [], "keys": [], "plans": [{"id": "usagePlan-aaaaaaaa", "name": "p", "qps": 10,
		  "quota": ` + quota + `, "alerts": ` + alerts + `}]}`
		reg, err := LoadConfig(strings.NewReader(doc), testOptions())
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		p, _ := reg.Snapshot().Plan("usagePlan-aaaaaaaa")
		if len(p.Alerts) > MaxAlerts || len(p.Alerts) > 0 && p.Quota == limiter.Unlimited {
			t.Fatalf("alerts %v accepted with quota %d", p.Alerts, p.Quota)
		}
		seen := map[int]bool{}
		for _, a := range p.Alerts {
			if a < 1 || a > 100 || seen[a] {
				t.Fatalf("alerts %v accepted", p.Alerts)
			}
			seen[a] = true
		}
		var out bytes.Buffer
		require.NoError(t, reg.Export(&out))
		again, err := LoadConfig(&out, testOptions())
		require.NoError(t, err)
		q, _ := again.Snapshot().Plan("usagePlan-aaaaaaaa")
		require.Equal(t, p.Alerts, q.Alerts)
	})
}
