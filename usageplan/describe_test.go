package usageplan

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const describeConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"},
       {"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}
     ]},
    {"id": "service-other001", "name": "other", "environments": ["release"], "apis": []}
  ],
  "keys": [
    {"id": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "name": "test01", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"},
    {"id": "partner_key_1", "name": "partner", "secret": "partner-secret-1", "status": "disabled"}
  ],
  "plans": [
    {"id": "usagePlan-aaaaaaaa", "name": "gold", "description": "paying tier", "qps": 1000, "quota": 100000,
     "keys": ["partner_key_1", "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"],
     "bindings": [
       {"service": "service-abcd1234", "environment": "release"},
       {"service": "service-abcd1234", "environment": "test", "apis": ["api-get00001", "api-list0001"]},
       {"service": "service-other001", "environment": "release"}
     ]},
    {"id": "usagePlan-bbbbbbbb", "name": "free",
     "bindings": [{"service": "service-abcd1234", "environment": "release"}]}
  ]
}`

type fakeUsage map[string]map[string]int64

func (f fakeUsage) PlanUsage(_ context.Context, p Plan) (map[string]int64, int64, error) {
	var sum int64
	out := map[string]int64{}
	for k, v := range f[p.ID] {
		out[k] = v
		sum += v
	}
	return out, sum, nil
}

func describer(t *testing.T) Describer {
	reg, err := LoadConfig(strings.NewReader(describeConfig), testOptions())
	require.NoError(t, err)
	return Describer{Snapshot: reg.Snapshot(), Usage: fakeUsage{"usagePlan-aaaaaaaa": {"AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN": 7, "partner_key_1": 3}}}
}

var ctx = context.Background()

func TestDescribeApiUsagePlan(t *testing.T) {
	d := describer(t)
	set, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234"})
	require.NoError(t, err)
	require.Equal(t, 4, set.TotalCount)
	got := make([]string, len(set.ApiUsagePlanList))
	for i, r := range set.ApiUsagePlanList {
		got[i] = r.UsagePlanId + " " + r.Environment + " " + r.ApiId
	}
	assert.Equal(t, []string{
		"usagePlan-aaaaaaaa release ",
		"usagePlan-aaaaaaaa test api-get00001",
		"usagePlan-aaaaaaaa test api-list0001",
		"usagePlan-bbbbbbbb release ",
	}, got)
	first := set.ApiUsagePlanList[1]
	assert.Equal(t, ApiUsagePlan{
		ServiceId: "service-abcd1234", ServiceName: "orders", ApiId: "api-get00001", ApiName: "getOrder",
		Path: "/orders/{id}", Method: "GET", UsagePlanId: "usagePlan-aaaaaaaa", UsagePlanName: "gold",
		UsagePlanDesc: "paying tier", Environment: "test", InUseRequestNum: 10, MaxRequestNum: 100000,
		MaxRequestNumPreSec: 1000, CreatedTime: "2026-11-23T08:00:00Z", ModifiedTime: "2026-11-23T08:00:00Z",
	}, first)
	free := set.ApiUsagePlanList[3]
	assert.EqualValues(t, -1, free.MaxRequestNum, "-1 is kept for unlimited")
	assert.EqualValues(t, -1, free.MaxRequestNumPreSec)

	js, _ := json.Marshal(set)
	for _, field := range []string{`"TotalCount":4`, `"ApiUsagePlanList":[`, `"UsagePlanId":`, `"UsagePlanName":`, `"UsagePlanDesc":`,
		`"Environment":`, `"InUseRequestNum":10`, `"MaxRequestNum":100000`, `"MaxRequestNumPreSec":1000`, `"ApiId":"api-get00001"`,
		`"Path":"/orders/{id}"`, `"Method":"GET"`, `"ApiName":"getOrder"`, `"ServiceId":`, `"ServiceName":"orders"`, `"CreatedTime":"2026-11-23T08:00:00Z"`} {
		assert.Contains(t, string(js), field)
	}

	env, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234", SearchEnvironment: "test", ApiIds: []string{"api-list0001"}})
	require.NoError(t, err)
	require.Equal(t, 1, env.TotalCount)
	assert.Equal(t, "api-list0001", env.ApiUsagePlanList[0].ApiId)

	none, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{ServiceId: "service-abcd1234", SearchEnvironment: "tes"})
	require.NoError(t, err)
	assert.Equal(t, 0, none.TotalCount, "SearchEnvironment is an exact match")
	assert.NotNil(t, none.ApiUsagePlanList)
}

func TestDescribePaging(t *testing.T) {
	d := describer(t)
	q := ApiUsagePlanQuery{ServiceId: "service-abcd1234"}
	cases := []struct {
		page    Page
		rows    int
		invalid bool
	}{
		{Page{}, 4, false},
		{Page{Offset: 1, Limit: 2}, 2, false},
		{Page{Offset: 3, Limit: 100}, 1, false},
		{Page{Offset: 4}, 0, false},
		{Page{Offset: 1000}, 0, false},
		{Page{Limit: 101}, 0, true},
		{Page{Limit: -1}, 0, true},
		{Page{Offset: -1}, 0, true},
	}
	for _, c := range cases {
		q.Page = c.page
		set, err := d.ApiUsagePlan(ctx, q)
		if c.invalid {
			require.ErrorIs(t, err, ErrInvalidParameter, "%+v", c.page)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 4, set.TotalCount, "TotalCount counts every match")
		require.Len(t, set.ApiUsagePlanList, c.rows, "%+v", c.page)
	}
}

func TestDescribeOtherQueries(t *testing.T) {
	d := describer(t)
	svc, err := d.ServiceUsagePlan(ctx, "service-abcd1234", Page{})
	require.NoError(t, err)
	require.Equal(t, 2, svc.TotalCount)
	assert.Empty(t, svc.ServiceUsagePlanList[0].ApiId)

	info, err := d.UsagePlan(ctx, "usagePlan-aaaaaaaa")
	require.NoError(t, err)
	assert.Equal(t, 2, info.BindSecretIdTotalCount)
	assert.Equal(t, []string{"AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "partner_key_1"}, info.BindSecretIds)
	assert.Equal(t, 3, info.BindEnvironmentTotalCount)
	assert.EqualValues(t, 10, info.InUseRequestNum)

	envs, err := d.UsagePlanEnvironments(ctx, "usagePlan-aaaaaaaa", BindService, Page{})
	require.NoError(t, err)
	require.Equal(t, 2, envs.TotalCount)
	apis, err := d.UsagePlanEnvironments(ctx, "usagePlan-aaaaaaaa", BindAPI, Page{})
	require.NoError(t, err)
	require.Equal(t, 2, apis.TotalCount)
	assert.Equal(t, "api-get00001", apis.EnvironmentList[0].ApiId)
	_, err = d.UsagePlanEnvironments(ctx, "usagePlan-aaaaaaaa", "BOTH", Page{})
	require.ErrorIs(t, err, ErrInvalidParameter)

	secrets, err := d.UsagePlanSecretIds(ctx, "usagePlan-aaaaaaaa", Page{Limit: 1, Offset: 1})
	require.NoError(t, err)
	require.Equal(t, 2, secrets.TotalCount)
	assert.Equal(t, []UsagePlanBindSecret{{AccessKeyId: "partner_key_1", SecretName: "partner", Status: 0, InUseRequestNum: 3}}, secrets.AccessKeyList)

	ks, err := d.ApiKeysStatus(Page{})
	require.NoError(t, err)
	require.Equal(t, 2, ks.TotalCount)
	assert.Equal(t, "auto", ks.ApiKeySet[0].AccessKeyType)
	assert.Equal(t, "manual", ks.ApiKeySet[1].AccessKeyType)
	js, _ := json.Marshal(ks)
	assert.NotContains(t, string(js), "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC")
	assert.NotContains(t, string(js), "partner-secret-1")

	for _, err := range []error{
		func() error { _, err := d.ApiUsagePlan(ctx, ApiUsagePlanQuery{}); return err }(),
		func() error { _, err := d.ServiceUsagePlan(ctx, "service-zzzzzzzz", Page{}); return err }(),
		func() error { _, err := d.UsagePlan(ctx, ""); return err }(),
		func() error { _, err := d.UsagePlanSecretIds(ctx, "usagePlan-zzzzzzzz", Page{}); return err }(),
	} {
		require.ErrorIs(t, err, ErrInvalidParameter)
	}
}
