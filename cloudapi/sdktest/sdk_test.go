package sdktest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
)

const config = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release", "test"],
     "apis": [
       {"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"},
       {"id": "api-get00001", "name": "getOrder", "method": "GET", "path": "/orders/{id}"}
     ]}
  ],
  "keys": [
    {"id": "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "name": "existing", "secret": "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"}
  ],
  "plans": []
}`

// The admin credential of the tests (not a usage-plan key).
const (
	adminID     = "AKIDadmin0000000000000000000000000000"
	adminSecret = "admin-secret-0123456789abcdef"
)

// code returns the Cloud API error code of err ("" for nil).
func code(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var se *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &se) {
		t.Fatalf("not an SDK error: %v", err)
	}
	if se.RequestId == "" {
		t.Errorf("error %s has no RequestId", se.Code)
	}
	return se.Code
}

func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := code(t, err); got != want {
		t.Fatalf("error code %q, want %q (%v)", got, want, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func str(s string) *string { return common.StringPtr(s) }
func i64(n int64) *int64   { return common.Int64Ptr(n) }
func strs(s ...string) []*string {
	return common.StringPtrs(s)
}

const svc = "service-abcd1234"

// bindEnv is a BindEnvironment request of plan to env of svc:
// service-wide, or for apis when they are given.
func bindEnv(plan, env string, apis ...string) *apigw.BindEnvironmentRequest {
	r := apigw.NewBindEnvironmentRequest()
	r.UsagePlanIds, r.ServiceId, r.Environment = strs(plan), str(svc), str(env)
	if len(apis) > 0 {
		r.BindType, r.ApiIds = str("API"), strs(apis...)
	}
	return r
}

// unbindEnv is the UnBindEnvironment request of the same binding.
func unbindEnv(plan, env string, apis ...string) *apigw.UnBindEnvironmentRequest {
	r := apigw.NewUnBindEnvironmentRequest()
	r.UsagePlanIds, r.ServiceId, r.Environment = strs(plan), str(svc), str(env)
	if len(apis) > 0 {
		r.BindType, r.ApiIds = str("API"), strs(apis...)
	}
	return r
}

// TestSDKLifecycle runs every action of the old gateway through the
// real SDK against an examples/server process in managed mode: keys, a
// plan, key and environment bindings, changes, describes, unbinding and
// deletion, with the documented failures on the way; the data listener
// admits the new key once it is bound, and refuses it once disabled or
// rotated.
func TestSDKLifecycle(t *testing.T) {
	e := start(t, config)
	c := e.admin()
	rec := &recorder{}
	c.WithHttpTransport(rec)

	// Keys: one generated, one manual, a duplicate refused.
	ck := apigw.NewCreateApiKeyRequest()
	ck.SecretName = str("auto_key")
	auto, err := c.CreateApiKey(ck)
	must(t, err)
	k := auto.Response.Result
	if !strings.HasPrefix(*k.AccessKeyId, "AKID") || len(*k.AccessKeyId) != 40 || len(*k.AccessKeySecret) != 40 ||
		*k.AccessKeyType != "auto" || *k.Status != 1 || *k.SecretName != "auto_key" {
		t.Fatalf("CreateApiKey auto: %+v", k)
	}
	if auto.Response.RequestId == nil || *auto.Response.RequestId == "" {
		t.Fatal("no RequestId")
	}
	autoID, autoSecret := *k.AccessKeyId, *k.AccessKeySecret
	// Known, but no plan binds it in release yet.
	e.wantStatus("/release/orders", autoID, autoSecret, http.StatusForbidden)

	mk := apigw.NewCreateApiKeyRequest()
	mk.SecretName, mk.AccessKeyType = str("partner"), str("manual")
	mk.AccessKeyId, mk.AccessKeySecret = str("partner_key_1"), str("partner_secret_1")
	manual, err := c.CreateApiKey(mk)
	must(t, err)
	if *manual.Response.Result.AccessKeyType != "manual" || *manual.Response.Result.AccessKeySecret != "partner_secret_1" {
		t.Fatalf("CreateApiKey manual: %+v", manual.Response.Result)
	}
	err = again(c, 1, "CreateApiKey", mk, apigw.NewCreateApiKeyResponse())
	wantCode(t, err, "FailedOperation.AccessKeyExist")
	bad := apigw.NewCreateApiKeyRequest()
	bad.SecretName, bad.AccessKeyType, bad.AccessKeyId = str("x"), str("manual"), str("bad id!")
	bad.AccessKeySecret = str("partner_secret_1")
	_, err = c.CreateApiKey(bad)
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.CreateApiKey(apigw.NewCreateApiKeyRequest())
	wantCode(t, err, "MissingParameter")

	// A plan.
	cp := apigw.NewCreateUsagePlanRequest()
	cp.UsagePlanName, cp.UsagePlanDesc = str("gold"), str("paying tier")
	cp.MaxRequestNum, cp.MaxRequestNumPreSec = i64(1000), i64(10)
	plan, err := c.CreateUsagePlan(cp)
	must(t, err)
	pi := plan.Response.Result
	planID := *pi.UsagePlanId
	if !strings.HasPrefix(planID, "usagePlan-") || *pi.MaxRequestNum != 1000 || *pi.MaxRequestNumPreSec != 10 || *pi.UsagePlanName != "gold" {
		t.Fatalf("CreateUsagePlan: %+v", pi)
	}
	cp.MaxRequestNum = i64(0)
	_, err = c.CreateUsagePlan(cp)
	wantCode(t, err, "InvalidParameterValue.InvalidMaxRequestNum")
	cp.MaxRequestNum, cp.MaxRequestNumPreSec = i64(10), i64(5000)
	_, err = c.CreateUsagePlan(cp)
	wantCode(t, err, "InvalidParameterValue.RangeExceeded")

	// Bind keys, then an environment.
	bk := apigw.NewBindSecretIdsRequest()
	bk.UsagePlanId, bk.AccessKeyIds = str(planID), strs(autoID, "partner_key_1")
	r1, err := c.BindSecretIds(bk)
	must(t, err)
	if !*r1.Response.Result {
		t.Fatal("BindSecretIds: Result false")
	}
	err = again(c, 1, "BindSecretIds", bk, apigw.NewBindSecretIdsResponse())
	wantCode(t, err, "UnsupportedOperation.AlreadyBindUsagePlan")
	bk.AccessKeyIds = strs("nobody")
	_, err = c.BindSecretIds(bk)
	wantCode(t, err, "ResourceNotFound.InvalidAccessKeyId")
	bk.UsagePlanId = str("usagePlan-zzzzzzzz")
	_, err = c.BindSecretIds(bk)
	wantCode(t, err, "ResourceNotFound.InvalidUsagePlan")

	be := apigw.NewBindEnvironmentRequest()
	be.UsagePlanIds, be.ServiceId, be.Environment = strs(planID), str(svc), str("release")
	_, err = c.BindEnvironment(be)
	must(t, err)
	// The data listener admits the new key under the new plan.
	if body := e.wantStatus("/release/orders", autoID, autoSecret, http.StatusOK); body["plan"] != planID || body["secretId"] != autoID {
		t.Fatalf("echo: %v", body)
	}
	e.wantStatus("/release/orders", autoID, "wrong_secret_0123", http.StatusUnauthorized)
	// Rotated: the old secret is refused at once, the new one admitted.
	rot := apigw.NewUpdateApiKeyRequest()
	rot.AccessKeyId = str(autoID)
	rotated, err := c.UpdateApiKey(rot)
	must(t, err)
	e.wantStatus("/release/orders", autoID, autoSecret, http.StatusUnauthorized)
	prevSecret := autoSecret
	autoSecret = *rotated.Response.Result.AccessKeySecret
	if autoSecret == prevSecret || len(autoSecret) != 40 {
		t.Fatal("UpdateApiKey did not rotate the secret")
	}
	e.wantStatus("/release/orders/42", autoID, autoSecret, http.StatusOK)
	err = again(c, 1, "BindEnvironment", be, apigw.NewBindEnvironmentResponse())
	wantCode(t, err, "UnsupportedOperation.UnsupportedBindEnvironment")
	be.Environment = str("prepub")
	_, err = c.BindEnvironment(be)
	wantCode(t, err, "InvalidParameterValue.InvalidEnv")
	be.Environment, be.ServiceId = str("release"), str("service-zzzzzzzz")
	_, err = c.BindEnvironment(be)
	wantCode(t, err, "ResourceNotFound.InvalidService")

	// A second plan that shares a key cannot bind the same environment.
	cp2 := apigw.NewCreateUsagePlanRequest()
	cp2.UsagePlanName = str("silver")
	p2, err := c.CreateUsagePlan(cp2)
	must(t, err)
	plan2 := *p2.Response.Result.UsagePlanId
	if *p2.Response.Result.MaxRequestNum != -1 || *p2.Response.Result.MaxRequestNumPreSec != -1 {
		t.Fatalf("CreateUsagePlan defaults: %+v", p2.Response.Result)
	}
	_, err = c.BindEnvironment(bindEnv(plan2, "release"))
	must(t, err)
	bk2 := apigw.NewBindSecretIdsRequest()
	bk2.UsagePlanId, bk2.AccessKeyIds = str(plan2), strs(autoID)
	_, err = c.BindSecretIds(bk2)
	wantCode(t, err, "UnsupportedOperation.AlreadyBindUsagePlan")

	// An API-scoped binding in another environment; a second API merges
	// into it, the same API twice is refused.
	cp3 := apigw.NewCreateUsagePlanRequest()
	cp3.UsagePlanName = str("bronze")
	p3, err := c.CreateUsagePlan(cp3)
	must(t, err)
	plan3 := *p3.Response.Result.UsagePlanId
	_, err = c.BindEnvironment(bindEnv(plan3, "test", "api-list0001"))
	must(t, err)
	_, err = c.BindEnvironment(bindEnv(plan3, "test", "api-get00001"))
	must(t, err)
	err = again(c, 1, "BindEnvironment", bindEnv(plan3, "test", "api-get00001"), apigw.NewBindEnvironmentResponse())
	wantCode(t, err, "UnsupportedOperation.UnsupportedBindEnvironment")
	dae := apigw.NewDescribeUsagePlanEnvironmentsRequest()
	dae.UsagePlanId, dae.BindType = str(plan3), str("API")
	apiEnvs, err := c.DescribeUsagePlanEnvironments(dae)
	must(t, err)
	if r := apiEnvs.Response.Result; *r.TotalCount != 2 || *r.EnvironmentList[0].Environment != "test" || *r.EnvironmentList[1].Path != "/orders" {
		t.Fatalf("DescribeUsagePlanEnvironments API: %+v", r)
	}
	dae.BindType = nil
	apiEnvs, err = c.DescribeUsagePlanEnvironments(dae)
	must(t, err)
	if *apiEnvs.Response.Result.TotalCount != 0 {
		t.Fatalf("DescribeUsagePlanEnvironments SERVICE lists API bindings: %+v", apiEnvs.Response.Result)
	}
	_, err = c.UnBindEnvironment(unbindEnv(plan3, "test", "api-list0001", "api-get00001"))
	must(t, err)
	dp3 := apigw.NewDeleteUsagePlanRequest()
	dp3.UsagePlanId = str(plan3)
	// (Its body is the DescribeUsagePlanEnvironments' above.)
	err = again(c, 3, "DeleteUsagePlan", dp3, apigw.NewDeleteUsagePlanResponse())
	must(t, err)

	// Modify: unset parameters are left as they are.
	mp := apigw.NewModifyUsagePlanRequest()
	mp.UsagePlanId, mp.MaxRequestNumPreSec = str(planID), i64(20)
	mod, err := c.ModifyUsagePlan(mp)
	must(t, err)
	if r := mod.Response.Result; *r.MaxRequestNumPreSec != 20 || *r.MaxRequestNum != 1000 || *r.UsagePlanName != "gold" || *r.UsagePlanDesc != "paying tier" {
		t.Fatalf("ModifyUsagePlan: %+v", r)
	}
	mp.UsagePlanId = str("usagePlan-zzzzzzzz")
	_, err = c.ModifyUsagePlan(mp)
	wantCode(t, err, "ResourceNotFound.InvalidUsagePlan")

	// Describe.
	dp := apigw.NewDescribeUsagePlanRequest()
	dp.UsagePlanId = str(planID)
	d, err := c.DescribeUsagePlan(dp)
	must(t, err)
	if r := d.Response.Result; *r.BindSecretIdTotalCount != 2 || *r.BindEnvironmentTotalCount != 1 ||
		*r.BindEnvironments[0].EnvironmentName != "release" || *r.BindEnvironments[0].ServiceId != svc {
		t.Fatalf("DescribeUsagePlan: %+v", r)
	}
	ds := apigw.NewDescribeUsagePlansStatusRequest()
	ds.Filters = []*apigw.Filter{{Name: str("UsagePlanName"), Values: strs("gold")}}
	st, err := c.DescribeUsagePlansStatus(ds)
	must(t, err)
	if *st.Response.Result.TotalCount != 1 || *st.Response.Result.UsagePlanStatusSet[0].UsagePlanId != planID {
		t.Fatalf("DescribeUsagePlansStatus: %+v", st.Response.Result)
	}
	ds.Filters = []*apigw.Filter{{Name: str("Nope"), Values: strs("x")}}
	_, err = c.DescribeUsagePlansStatus(ds)
	wantCode(t, err, "InvalidParameterValue.InvalidFilterNotSupportedName")
	ds.Filters, ds.Limit = nil, i64(101)
	_, err = c.DescribeUsagePlansStatus(ds)
	wantCode(t, err, "InvalidParameterValue.RangeExceeded")

	dau := apigw.NewDescribeApiUsagePlanRequest()
	dau.ServiceId = str(svc)
	au, err := c.DescribeApiUsagePlan(dau)
	must(t, err)
	if *au.Response.Result.TotalCount != 2 {
		t.Fatalf("DescribeApiUsagePlan: %d rows", *au.Response.Result.TotalCount)
	}
	dsu := apigw.NewDescribeServiceUsagePlanRequest()
	dsu.ServiceId, dsu.Limit = str(svc), i64(1)
	su, err := c.DescribeServiceUsagePlan(dsu)
	must(t, err)
	if *su.Response.Result.TotalCount != 2 || len(su.Response.Result.ServiceUsagePlanList) != 1 {
		t.Fatalf("DescribeServiceUsagePlan: %+v", su.Response.Result)
	}
	dsu.ServiceId = str("service-zzzzzzzz")
	_, err = c.DescribeServiceUsagePlan(dsu)
	wantCode(t, err, "ResourceNotFound.InvalidService")
	dsi := apigw.NewDescribeUsagePlanSecretIdsRequest()
	dsi.UsagePlanId = str(planID)
	si, err := c.DescribeUsagePlanSecretIds(dsi)
	must(t, err)
	if *si.Response.Result.TotalCount != 2 || *si.Response.Result.AccessKeyList[0].Status != 1 {
		t.Fatalf("DescribeUsagePlanSecretIds: %+v", si.Response.Result)
	}

	// Disable a key, find it by status; a bound key cannot be deleted.
	e.wantStatus("/release/orders", "partner_key_1", "partner_secret_1", http.StatusOK)
	dk := apigw.NewDisableApiKeyRequest()
	dk.AccessKeyId = str("partner_key_1")
	_, err = c.DisableApiKey(dk)
	must(t, err)
	e.wantStatus("/release/orders", "partner_key_1", "partner_secret_1", http.StatusUnauthorized)
	dks := apigw.NewDescribeApiKeysStatusRequest()
	dks.Filters = []*apigw.Filter{{Name: str("Status"), Values: strs("0")}}
	ks, err := c.DescribeApiKeysStatus(dks)
	must(t, err)
	if *ks.Response.Result.TotalCount != 1 || *ks.Response.Result.ApiKeySet[0].AccessKeyId != "partner_key_1" ||
		*ks.Response.Result.ApiKeySet[0].Status != 0 || ks.Response.Result.ApiKeySet[0].AccessKeySecret != nil {
		t.Fatalf("DescribeApiKeysStatus: %+v", ks.Response.Result.ApiKeySet)
	}
	dks.Filters = []*apigw.Filter{{Name: str("NotUsagePlanId"), Values: strs(planID)}}
	ks, err = c.DescribeApiKeysStatus(dks)
	must(t, err)
	if *ks.Response.Result.TotalCount != 1 || *ks.Response.Result.ApiKeySet[0].AccessKeyId != "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN" {
		t.Fatalf("DescribeApiKeysStatus NotUsagePlanId: %+v", ks.Response.Result.ApiKeySet)
	}
	del := apigw.NewDeleteApiKeyRequest()
	del.AccessKeyId = str("partner_key_1")
	err = again(c, 1, "DeleteApiKey", del, apigw.NewDeleteApiKeyResponse())
	wantCode(t, err, "UnsupportedOperation.ResourceIsInUse")
	del.AccessKeyId = str(autoID)
	err = again(c, 2, "DeleteApiKey", del, apigw.NewDeleteApiKeyResponse())
	wantCode(t, err, "UnsupportedOperation.InvalidStatus")
	del.AccessKeyId = str("nobody")
	_, err = c.DeleteApiKey(del)
	wantCode(t, err, "ResourceNotFound.InvalidAccessKeyId")

	// A bound plan cannot be deleted.
	dpl := apigw.NewDeleteUsagePlanRequest()
	dpl.UsagePlanId = str(planID)
	err = again(c, 2, "DeleteUsagePlan", dpl, apigw.NewDeleteUsagePlanResponse())
	wantCode(t, err, "UnsupportedOperation.UsagePlanInUse")

	// Demote plan2 (once gold no longer binds release service-wide: the
	// two scopes cannot coexist), then unbind it per API.
	err = again(c, 2, "UnBindEnvironment", unbindEnv(planID, "release"), apigw.NewUnBindEnvironmentResponse())
	must(t, err)
	dm := apigw.NewDemoteServiceUsagePlanRequest()
	dm.UsagePlanId, dm.ServiceId, dm.Environment = str(plan2), str(svc), str("release")
	_, err = c.DemoteServiceUsagePlan(dm)
	must(t, err)
	err = again(c, 1, "DemoteServiceUsagePlan", dm, apigw.NewDemoteServiceUsagePlanResponse())
	wantCode(t, err, "UnsupportedOperation.NoUsagePlanEnv")
	de := apigw.NewDescribeUsagePlanEnvironmentsRequest()
	de.UsagePlanId, de.BindType = str(plan2), str("API")
	envs, err := c.DescribeUsagePlanEnvironments(de)
	must(t, err)
	if *envs.Response.Result.TotalCount != 2 || *envs.Response.Result.EnvironmentList[0].ApiId != "api-get00001" {
		t.Fatalf("DescribeUsagePlanEnvironments: %+v", envs.Response.Result)
	}
	err = again(c, 3, "UnBindEnvironment", unbindEnv(plan2, "release"), apigw.NewUnBindEnvironmentResponse())
	wantCode(t, err, "UnsupportedOperation.UnsupportedUnBindEnvironment")
	_, err = c.UnBindEnvironment(unbindEnv(plan2, "release", "api-get00001", "api-list0001"))
	must(t, err)
	err = again(c, 1, "UnBindEnvironment", unbindEnv(plan2, "release", "api-get00001", "api-list0001"), apigw.NewUnBindEnvironmentResponse())
	wantCode(t, err, "UnsupportedOperation.NoUsagePlanEnv")

	// Unbind a key, then delete it and the plan.
	uk := apigw.NewUnBindSecretIdsRequest()
	uk.UsagePlanId, uk.AccessKeyIds = str(planID), strs("partner_key_1")
	_, err = c.UnBindSecretIds(uk)
	must(t, err)
	err = again(c, 1, "UnBindSecretIds", uk, apigw.NewUnBindSecretIdsResponse())
	wantCode(t, err, "InvalidParameterValue.InvalidAccessKeyIds")
	del.AccessKeyId = str("partner_key_1")
	err = again(c, 3, "DeleteApiKey", del, apigw.NewDeleteApiKeyResponse())
	must(t, err)
	dpk := apigw.NewDescribeApiKeyRequest()
	dpk.AccessKeyId = str("partner_key_1")
	_, err = c.DescribeApiKey(dpk)
	wantCode(t, err, "ResourceNotFound.InvalidAccessKeyId")
	err = again(c, 1, "DeleteUsagePlan", dpl, apigw.NewDeleteUsagePlanResponse())
	must(t, err)
	_, err = c.DescribeUsagePlan(dp)
	wantCode(t, err, "ResourceNotFound.InvalidUsagePlan")

	// Rotate the generated key; enable and describe.
	uak := apigw.NewUpdateApiKeyRequest()
	uak.AccessKeyId = str(autoID)
	up := apigw.NewUpdateApiKeyResponse()
	err = again(c, 4, "UpdateApiKey", uak, up)
	must(t, err)
	if *up.Response.Result.AccessKeySecret == autoSecret || len(*up.Response.Result.AccessKeySecret) != 40 {
		t.Fatal("UpdateApiKey did not rotate the secret")
	}
	dk.AccessKeyId = str(autoID)
	err = again(c, 5, "DisableApiKey", dk, apigw.NewDisableApiKeyResponse())
	must(t, err)
	err = again(c, 6, "UpdateApiKey", uak, apigw.NewUpdateApiKeyResponse())
	wantCode(t, err, "UnsupportedOperation.InvalidStatus")
	ek := apigw.NewEnableApiKeyRequest()
	ek.AccessKeyId = str(autoID)
	err = again(c, 7, "EnableApiKey", ek, apigw.NewEnableApiKeyResponse())
	must(t, err)
	dak := apigw.NewDescribeApiKeyRequest()
	dak.AccessKeyId = str(autoID)
	got, err := c.DescribeApiKey(dak)
	must(t, err)
	if *got.Response.Result.AccessKeySecret != *up.Response.Result.AccessKeySecret || *got.Response.Result.Status != 1 {
		t.Fatalf("DescribeApiKey: %+v", got.Response.Result)
	}
	if m := rec.missing(gatewayActions...); len(m) > 0 {
		t.Fatalf("no call of %v succeeded", m)
	}
	e.stop(prevSecret, autoSecret, *up.Response.Result.AccessKeySecret, "partner_secret_1")
}

// again sends req as action once more, its signature scoped to another
// service name (apigateway<n>). The Go SDK signs neither a nonce nor the
// action, so a write sent again in the same second, or a write over the
// body of an earlier request of that second, carries a signature the
// handler already accepted and is refused as a replay; other Tencent
// SDKs scope their signature with another service name, which the
// handler verifies as sent, so that this repeat is a new signature.
func again(c *apigw.Client, n int, action string, req tchttp.Request, resp tchttp.Response) error {
	req.(interface{ Init() *tchttp.BaseRequest }).Init().WithApiInfo(fmt.Sprintf("apigateway%d", n), apigw.APIVersion, action)
	return c.Send(req, resp)
}
