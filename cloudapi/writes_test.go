package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// flakyUsage is a usage store that answers `ok` PlanUsage calls (each key
// at 7) and fails every call after those.
type flakyUsage struct{ ok atomic.Int32 }

var errStoreDown = errors.New("store down")

func (u *flakyUsage) PlanUsage(_ context.Context, p usageplan.Plan) (map[string]int64, int64, error) {
	if u.ok.Add(-1) < 0 {
		return nil, 0, errStoreDown
	}
	return map[string]int64{"partner_key_1": 7}, 7, nil
}
func (*flakyUsage) KeyUsage(context.Context, usageplan.Plan, string) (int64, error) {
	return 0, errStoreDown
}
func (*flakyUsage) ResetKeyUsage(context.Context, usageplan.Plan, string) error { return errStoreDown }
func (*flakyUsage) GrantKeyUsage(context.Context, usageplan.Plan, string, int64) (int64, error) {
	return 0, errStoreDown
}

// decodeResult checks that e succeeded and decodes its Result into v.
func decodeResult(t *testing.T, e envelope, v any) {
	t.Helper()
	wantOK(t, e)
	if err := json.Unmarshal(e.Response.Result, v); err != nil {
		t.Fatal(err)
	}
}

// A plan write answers InternalError only when nothing was changed, so
// that a client may retry it: with the usage store down, CreateUsagePlan
// (a new plan has no keys, so no usage to read) succeeds, and
// ModifyUsagePlan of a plan with keys fails before the change. A store
// that fails between the usage read before the change and the one after
// gets the change answered, with the usage read before.
func TestPlanWritesFailOnlyUnchanged(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	usage := &flakyUsage{}
	h, err := New(reg, []Credential{{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)}},
		Config{Hosts: []string{testHost}, Mode: Managed, Usage: usage, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	before := reg.Snapshot().PlanCount()
	var info usageplan.UsagePlanInfo
	decodeResult(t, do(t, h, req{action: "CreateUsagePlan", body: `{"UsagePlanName":"silver"}`}.build()), &info)
	if n := reg.Snapshot().PlanCount(); n != before+1 || info.UsagePlanName != "silver" || info.InUseRequestNum != 0 {
		t.Fatalf("CreateUsagePlan with the store down: %d plans (were %d), answer %+v", n, before, info)
	}

	modify := req{action: "ModifyUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd","MaxRequestNum":5}`}
	e := do(t, h, modify.build())
	if p, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd"); e.Response.Error == nil || e.Response.Error.Code != CodeInternalError || p.Quota != 100 {
		t.Fatalf("ModifyUsagePlan with the store down: %+v, quota now %d (want InternalError, 100)", e.Response.Error, p.Quota)
	}

	usage.ok.Store(1) // the read before the change succeeds, the one after fails
	modify.ts = epoch.Add(-time.Second)
	decodeResult(t, do(t, h, modify.build()), &info)
	if p, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd"); p.Quota != 5 || info.MaxRequestNum != 5 || info.InUseRequestNum != 7 {
		t.Fatalf("ModifyUsagePlan with the store failing after the change: quota %d, answer %+v (want 5, usage 7)", p.Quota, info)
	}
}

// rendezvousStore is a MemoryStore whose first two Usage calls wait for
// each other: two GrantApiKeyUsage that read the usage before they lower
// it read it at once (what two admin scripts do by chance).
type rendezvousStore struct {
	limiter.MemoryStore
	arrived atomic.Int32
	both    chan struct{}
	once    sync.Once
}

func (s *rendezvousStore) Usage(ctx context.Context, c limiter.Counter) (int64, error) {
	n, err := s.MemoryStore.Usage(ctx, c)
	if s.arrived.Add(1) == 2 {
		s.once.Do(func() { close(s.both) })
	}
	select {
	case <-s.both:
	case <-time.After(2 * time.Second):
	}
	return n, err
}

// Two GrantApiKeyUsage of 50 at once, from a usage of 100, leave it at 0:
// neither overwrites the other (the grant is one step of the store).
func TestGrantsAtOnceBothCount(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	store := &rendezvousStore{both: make(chan struct{})}
	lim, err := limiter.New(store, limiter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close(context.Background()) })
	now := func() time.Time { return epoch }
	h, err := New(reg, []Credential{{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)}},
		Config{Hosts: []string{testHost}, Mode: Managed, Usage: LimiterUsage(lim, reg.Snapshot, now), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd")
	limits := limitsOf(reg.Snapshot(), plan)
	if err := lim.SetUsage(context.Background(), plan.ID, "partner_key_1", limits, epoch, 100); err != nil {
		t.Fatal(err)
	}
	body := `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyId":"partner_key_1","RequestNum":50}`
	var wg sync.WaitGroup
	answers := make([]*httptest.ResponseRecorder, 2)
	for i := range 2 {
		r := req{action: "GrantApiKeyUsage", body: body, ts: epoch.Add(-time.Duration(i+1) * time.Second)}.build()
		answers[i] = httptest.NewRecorder()
		wg.Go(func() { h.ServeHTTP(answers[i], r) })
	}
	wg.Wait()
	for _, w := range answers {
		var e envelope
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		wantOK(t, e)
	}
	used, err := lim.Usage(context.Background(), plan.ID, "partner_key_1", limits, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if used != 0 {
		t.Fatalf("usage 100, two successful grants of 50: usage is now %d, want 0 (a grant was lost)", used)
	}
}

// A refused window, throttle or alert threshold names its parameter, not
// the plan field that has the same last name (a window's Name is not
// UsagePlanName, a throttle's MaxRequestNumPreSec not the plan's).
func TestPlanSettingErrorsNameTheirParameter(t *testing.T) {
	h, _ := newHandler(t, Managed)
	wantOK(t, do(t, h, req{action: "BindEnvironment", body: `{"UsagePlanIds":["usagePlan-kgf82zcd"],"ServiceId":"service-abcd1234","Environment":"release","BindType":"API","ApiIds":["api-list0001"]}`}.build()))
	for i, tc := range []struct{ params, code, message string }{
		{`"RequestLimits":[{"Name":"bad name","Requests":1,"PerSeconds":60}]`, CodeInvalidParameterValue, "RequestLimits[0].Name may contain only letters, digits and '_'"},
		{`"RequestLimits":[{"Name":"w","Requests":1,"PerSeconds":60},{"Name":"v","Requests":0,"PerSeconds":60}]`, CodeInvalidParameterValue, "RequestLimits[1].Requests must be 1–99999999, got 0"},
		{`"ApiThrottles":[{"ApiId":"api-list0001","MaxRequestNumPreSec":0}]`, CodeInvalidParameterValue, "ApiThrottles: MaxRequestNumPreSec of API api-list0001 must be 1–2000, got 0"},
		{`"QuotaAlerts":[50,50]`, CodeInvalidParameterValue, "QuotaAlerts[1] duplicates 50"},
		{`"MaxRequestNumPreSec":0`, CodeRangeExceeded, "MaxRequestNumPreSec must be -1 (unlimited) or 1–2000, got 0"},
		{`"MaxRequestNum":0`, CodeInvalidMaxRequestNum, "MaxRequestNum must be -1 (unlimited) or 1–99999999, got 0"},
	} {
		body := `{"UsagePlanId":"usagePlan-kgf82zcd",` + tc.params + `}`
		e := do(t, h, req{action: "ModifyUsagePlan", body: body, ts: epoch.Add(-time.Duration(i) * time.Second)}.build())
		if e.Response.Error == nil || e.Response.Error.Code != tc.code || e.Response.Error.Message != tc.message {
			t.Errorf("%s: %+v\nwant %s: %s", body, e.Response.Error, tc.code, tc.message)
		}
	}
}

// Parameters are taken as spelled: a name in another case is
// UnknownParameter (encoding/json alone matches names ignoring case), a
// body that is not one JSON object is InvalidParameter.FormatError, and
// a QuotaPeriod of "" is refused (limiter.ParsePeriod reads it as total,
// as a config file may).
func TestParametersAsSpelled(t *testing.T) {
	h, reg := newHandler(t, Managed)
	for i, tc := range []struct{ action, body, code, message string }{
		{"ModifyUsagePlan", `{"usageplanid":"usagePlan-kgf82zcd","usageplanname":"lower"}`, CodeUnknownParameter, `unknown parameter "usageplan`},
		{"ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","RequestLimits":[{"name":"w","Requests":1,"PerSeconds":60}]}`, CodeUnknownParameter, `unknown parameter "RequestLimits[0].name"`},
		{"DescribeApiKeysStatus", `null`, CodeInvalidParameterFormat, "the body must be a JSON object"},
		{"DescribeApiKeysStatus", `[]`, CodeInvalidParameterFormat, "the body must be a JSON object"},
		{"ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","QuotaPeriod":""}`, CodeInvalidParameterValue, `QuotaPeriod must be "total", "day", "week" or "month", got ""`},
	} {
		e := do(t, h, req{action: tc.action, body: tc.body, ts: epoch.Add(-time.Duration(i) * time.Second)}.build())
		if e.Response.Error == nil || e.Response.Error.Code != tc.code || !strings.HasPrefix(e.Response.Error.Message, tc.message) {
			t.Errorf("%s %s: %+v\nwant %s: %s...", tc.action, tc.body, e.Response.Error, tc.code, tc.message)
		}
	}
	if p, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd"); p.Name != "gold" || p.QuotaPeriod != limiter.Total || len(p.Limits) != 0 {
		t.Fatalf("refused parameters changed the plan: %+v", p)
	}
}
