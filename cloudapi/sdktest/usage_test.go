package sdktest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
)

// createPlanRequest is CreateUsagePlan with planguard's additions, which
// the SDK's request type lacks: its BaseRequest signs and sends any
// parameters.
type createPlanRequest struct {
	*tchttp.BaseRequest
	UsagePlanName *string `json:"UsagePlanName,omitempty" name:"UsagePlanName"`
	MaxRequestNum *int64  `json:"MaxRequestNum,omitempty" name:"MaxRequestNum"`
	QuotaPeriod   *string `json:"QuotaPeriod,omitempty" name:"QuotaPeriod"`
}

// usageRequest is a request for one of planguard's own usage actions,
// which the SDK has no method for: the SDK's BaseRequest signs and sends
// it like any other.
type usageRequest struct {
	*tchttp.BaseRequest
	UsagePlanId *string `json:"UsagePlanId,omitempty" name:"UsagePlanId"`
	AccessKeyId *string `json:"AccessKeyId,omitempty" name:"AccessKeyId"`
	RequestNum  *int64  `json:"RequestNum,omitempty" name:"RequestNum"`
}

type usageResponse struct {
	*tchttp.BaseResponse
	Response *struct {
		Result *struct {
			UsagePlanId         *string
			AccessKeyId         *string
			InUseRequestNum     *int64
			MaxRequestNum       *int64
			RemainingRequestNum *int64
			QuotaPeriod         *string
			PeriodStartTime     *string
			PeriodEndTime       *string
		}
		RequestId *string
	}
}

type resetResponse struct {
	*tchttp.BaseResponse
	Response *struct {
		Result    *bool
		RequestId *string
	}
}

func usageCall(c *apigw.Client, action, plan, key string, n int64) (*usageResponse, error) {
	resp := &usageResponse{BaseResponse: &tchttp.BaseResponse{}}
	return resp, sendUsage(c, action, plan, key, n, resp)
}

func sendUsage(c *apigw.Client, action, plan, key string, n int64, resp tchttp.Response) error {
	return sendUsageAs(c, "apigateway", action, plan, key, n, resp)
}

// sendUsageAs signs the usage call with the credential scope's service
// named service: a write whose body is the DescribeApiKeyUsage's of the
// same second needs a signature of its own (see again).
func sendUsageAs(c *apigw.Client, service, action, plan, key string, n int64, resp tchttp.Response) error {
	req := &usageRequest{BaseRequest: &tchttp.BaseRequest{}, UsagePlanId: &plan, AccessKeyId: &key}
	if n > 0 {
		req.RequestNum = &n
	}
	req.Init().WithApiInfo(service, apigw.APIVersion, action)
	return c.Send(req, resp)
}

// TestSDKUsageActions reads, grants and resets a key's usage through the
// SDK, after the process's data listener admitted requests, and checks
// that the quota follows: a reset gives the key its whole quota back.
func TestSDKUsageActions(t *testing.T) {
	e := start(t, config)
	c := e.admin()
	const key, secret = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"
	cp := &createPlanRequest{BaseRequest: &tchttp.BaseRequest{}, UsagePlanName: str("metered"), MaxRequestNum: i64(10), QuotaPeriod: str("day")}
	cp.Init().WithApiInfo("apigateway", apigw.APIVersion, "CreateUsagePlan")
	created := apigw.NewCreateUsagePlanResponse()
	must(t, c.Send(cp, created))
	plan := *created.Response.Result.UsagePlanId
	bk := apigw.NewBindSecretIdsRequest()
	bk.UsagePlanId, bk.AccessKeyIds = str(plan), strs(key)
	_, err := c.BindSecretIds(bk)
	must(t, err)
	_, err = c.BindEnvironment(bindEnv(plan, "release"))
	must(t, err)
	for range 7 {
		e.wantStatus("/release/orders", key, secret, http.StatusOK)
	}

	// The Describe actions report the usage too.
	de := apigw.NewDescribeUsagePlanEnvironmentsRequest()
	de.UsagePlanId = str(plan)
	envs, err := c.DescribeUsagePlanEnvironments(de)
	must(t, err)
	if n := *envs.Response.Result.EnvironmentList[0].InUseRequestNum; n != 7 {
		t.Fatalf("DescribeUsagePlanEnvironments: InUseRequestNum %d, want 7", n)
	}
	r, err := usageCall(c, "DescribeApiKeyUsage", plan, key, 0)
	must(t, err)
	today := time.Now().UTC().Format(time.DateOnly)
	if u := r.Response.Result; *u.InUseRequestNum != 7 || *u.RemainingRequestNum != 3 || *u.MaxRequestNum != 10 || *u.QuotaPeriod != "day" ||
		*u.UsagePlanId != plan || *u.AccessKeyId != key || !strings.HasPrefix(*u.PeriodStartTime, today) || *u.PeriodEndTime <= *u.PeriodStartTime {
		t.Fatalf("DescribeApiKeyUsage: %+v", u)
	}
	r, err = usageCall(c, "GrantApiKeyUsage", plan, key, 5)
	must(t, err)
	if *r.Response.Result.InUseRequestNum != 2 || *r.Response.Result.RemainingRequestNum != 8 {
		t.Fatalf("GrantApiKeyUsage: %+v", r.Response.Result)
	}
	reset := &resetResponse{BaseResponse: &tchttp.BaseResponse{}}
	must(t, sendUsageAs(c, "apigateway1", "ResetApiKeyUsage", plan, key, 0, reset))
	if !*reset.Response.Result {
		t.Fatal("ResetApiKeyUsage: Result false")
	}
	// The whole quota is back: 10 requests, then 429.
	for range 10 {
		e.wantStatus("/release/orders", key, secret, http.StatusOK)
	}
	e.wantStatus("/release/orders", key, secret, http.StatusTooManyRequests)
	r, err = usageCall(c, "DescribeApiKeyUsage", plan, key, 0)
	must(t, err)
	if *r.Response.Result.InUseRequestNum != 10 || *r.Response.Result.RemainingRequestNum != 0 {
		t.Fatalf("DescribeApiKeyUsage after the quota: %+v", r.Response.Result)
	}

	err = sendUsageAs(c, "apigateway2", "GrantApiKeyUsage", plan, key, 0, &usageResponse{BaseResponse: &tchttp.BaseResponse{}})
	wantCode(t, err, "MissingParameter")
	_, err = usageCall(c, "DescribeApiKeyUsage", plan, "nobody", 0)
	wantCode(t, err, "ResourceNotFound.InvalidAccessKeyId")
	_, err = usageCall(c, "DescribeApiKeyUsage", "usagePlan-zzzzzzzz", key, 0)
	wantCode(t, err, "ResourceNotFound.InvalidUsagePlan")
	ok := apigw.NewCreateApiKeyRequest()
	ok.SecretName, ok.AccessKeyType, ok.AccessKeyId, ok.AccessKeySecret = str("other"), str("manual"), str("other_key_1"), str("other_secret_1")
	_, err = c.CreateApiKey(ok)
	must(t, err)
	_, err = usageCall(c, "ResetApiKeyUsage", plan, "other_key_1", 0)
	wantCode(t, err, "UnsupportedOperation.ResourceUnassociated")
	e.stop(secret)
}
