package cloudapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/planguard/planguard/usageplan"
)

// ModifyUsagePlan takes the limits DescribeUsagePlan returns as extra
// fields; a request that omits them leaves them as they are.
func TestModifyUsagePlanLimits(t *testing.T) {
	h, reg := newHandler(t, Managed)
	describe := func() usageplan.UsagePlanInfo {
		t.Helper()
		e := do(t, h, req{action: "DescribeUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd"}`}.build())
		wantOK(t, e)
		var info usageplan.UsagePlanInfo
		if err := json.Unmarshal(e.Response.Result, &info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	wantOK(t, do(t, h, req{action: "ModifyUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd","MaxRequestBurst":30,
	  "RequestLimits":[{"Name":"per_minute","Requests":100,"PerSeconds":60}],"Enforce":false}`}.build()))
	info := describe()
	if info.MaxRequestBurst != 30 || len(info.RequestLimits) != 1 || info.RequestLimits[0] != (usageplan.UsagePlanLimit{Name: "per_minute", Requests: 100, PerSeconds: 60}) ||
		info.Enforce == nil || *info.Enforce {
		t.Fatalf("after the change: %+v", info)
	}
	wantOK(t, do(t, h, req{action: "ModifyUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd","MaxRequestNum":1000,"QuotaAlerts":[80,100]}`}.build()))
	if info := describe(); len(info.QuotaAlerts) != 2 || info.QuotaAlerts[0] != 80 || info.QuotaAlerts[1] != 100 {
		t.Fatalf("QuotaAlerts after the change: %+v", info)
	}
	wantOK(t, do(t, h, req{action: "ModifyUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd","UsagePlanName":"renamed"}`}.build()))
	if again := describe(); again.MaxRequestBurst != 30 || len(again.RequestLimits) != 1 || again.Enforce == nil || len(again.QuotaAlerts) != 2 || again.UsagePlanName != "renamed" {
		t.Fatalf("an old client's change: %+v", again)
	}
	for name, body := range map[string]string{
		"throttle on an API the plan does not bind": `{"UsagePlanId":"usagePlan-kgf82zcd","ApiThrottles":[{"ApiId":"api-list0001","MaxRequestNumPreSec":5}]}`,
		"throttle listed twice":                     `{"UsagePlanId":"usagePlan-kgf82zcd","ApiThrottles":[{"ApiId":"api-list0001","MaxRequestNumPreSec":5},{"ApiId":"api-list0001","MaxRequestNumPreSec":6}]}`,
		"window of 0 s":                             `{"UsagePlanId":"usagePlan-kgf82zcd","RequestLimits":[{"Name":"w","Requests":1,"PerSeconds":0}]}`,
		"burst without qps":                         `{"UsagePlanId":"usagePlan-kgf82zcd","MaxRequestNumPreSec":-1,"MaxRequestBurst":5}`,
		"alert of 0 percent":                        `{"UsagePlanId":"usagePlan-kgf82zcd","QuotaAlerts":[0]}`,
		"alerts without a quota":                    `{"UsagePlanId":"usagePlan-kgf82zcd","MaxRequestNum":-1}`,
	} {
		before := reg.Snapshot().Version()
		e := do(t, h, req{action: "ModifyUsagePlan", body: body}.build())
		if e.Response.Error == nil {
			t.Fatalf("%s: accepted", name)
		}
		if reg.Snapshot().Version() != before {
			t.Fatalf("%s: the registry changed", name)
		}
	}
}

// CreateUsagePlan and ModifyUsagePlan take planguard's QuotaPeriod and
// TimeZone; every UsagePlanInfo answer (theirs and DescribeUsagePlan's)
// returns them, so that a client reads back what it set.
func TestUsagePlanInfoHasPeriodAndZone(t *testing.T) {
	h, _ := newHandler(t, Managed)
	type info struct {
		UsagePlanId string
		QuotaPeriod *string
		TimeZone    *string
	}
	decode := func(e envelope) info {
		t.Helper()
		wantOK(t, e)
		var i info
		if err := json.Unmarshal(e.Response.Result, &i); err != nil {
			t.Fatal(err)
		}
		return i
	}
	created := decode(do(t, h, req{action: "CreateUsagePlan", body: `{"UsagePlanName":"daily","MaxRequestNum":10,"QuotaPeriod":"day","TimeZone":"Asia/Shanghai"}`}.build()))
	if created.QuotaPeriod == nil || *created.QuotaPeriod != "day" || created.TimeZone == nil || *created.TimeZone != "Asia/Shanghai" {
		t.Fatalf("CreateUsagePlan: %+v", created)
	}
	described := decode(do(t, h, req{action: "DescribeUsagePlan", body: `{"UsagePlanId":"` + created.UsagePlanId + `"}`}.build()))
	if described.QuotaPeriod == nil || *described.QuotaPeriod != "day" || described.TimeZone == nil || *described.TimeZone != "Asia/Shanghai" {
		t.Fatalf("DescribeUsagePlan: %+v", described)
	}
	modified := decode(do(t, h, req{action: "ModifyUsagePlan", body: `{"UsagePlanId":"` + created.UsagePlanId + `","QuotaPeriod":"month"}`}.build()))
	if modified.QuotaPeriod == nil || *modified.QuotaPeriod != "month" || *modified.TimeZone != "Asia/Shanghai" {
		t.Fatalf("ModifyUsagePlan: %+v", modified)
	}
	// A plan without a zone (UTC) omits TimeZone, as the status rows do.
	gold := decode(do(t, h, req{action: "DescribeUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd"}`}.build()))
	if gold.QuotaPeriod == nil || *gold.QuotaPeriod != "total" || gold.TimeZone != nil {
		t.Fatalf("DescribeUsagePlan of a plan without a zone: %+v", gold)
	}
}

// A plan setting the registry refuses is InvalidParameterValue naming
// the admin API's parameter (not the config file's field, and never
// InternalError).
func TestInvalidPlanSettingsNameTheirParameter(t *testing.T) {
	h, reg := newHandler(t, Managed)
	for _, tc := range []struct{ action, body, param string }{
		{"CreateUsagePlan", `{"UsagePlanName":"x","TimeZone":"Mars/Base"}`, "TimeZone"},
		{"ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","TimeZone":"Mars/Base"}`, "TimeZone"},
		{"ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","ApiThrottles":[{"ApiId":"api-list0001","MaxRequestNumPreSec":5}]}`, "ApiThrottles"},
		{"ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","MaxRequestNumPreSec":-1,"MaxRequestBurst":5}`, "MaxRequestBurst"},
		{"CreateUsagePlan", `{"UsagePlanName":"x","UsagePlanDesc":"` + strings.Repeat("d", 201) + `"}`, "UsagePlanDesc"},
	} {
		before := reg.Snapshot().Version()
		e := do(t, h, req{action: tc.action, body: tc.body}.build())
		wantCode(t, e, CodeInvalidParameterValue)
		if !strings.HasPrefix(e.Response.Error.Message, tc.param+" ") && !strings.HasPrefix(e.Response.Error.Message, tc.param+": ") {
			t.Errorf("%s %s: message %q does not start with %s", tc.action, tc.body, e.Response.Error.Message, tc.param)
		}
		if reg.Snapshot().Version() != before {
			t.Fatalf("%s: the registry changed", tc.body)
		}
	}
}
