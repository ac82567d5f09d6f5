package sdktest_test

import (
	"errors"
	"fmt"
	"net/http/httptest"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

// Automation written for the old gateway's management API keeps its SDK
// calls: only the client's endpoint (and the admin credential) change.
// Here the Tencent Cloud SDK for Go creates a key and a plan and binds
// them, on planguard's admin API served on a loopback port.
func Example_tencentSDK() {
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	srv := httptest.NewUnstartedServer(nil) // a free loopback port
	hosts, err := cloudapi.LoopbackHosts(srv.Listener.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := cloudapi.New(reg, []cloudapi.Credential{
		{SecretID: "AKIDadmin0000000000000000000000000000", SecretKey: keys.NewSecret("admin-secret-0123456789abcdef")},
	}, cloudapi.Config{Hosts: hosts, Mode: cloudapi.Managed})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.Config.Handler = h
	srv.Start()
	defer srv.Close()

	// The client, as for the old gateway but for these two lines.
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = srv.Listener.Addr().String() // was apigateway.tencentcloudapi.com
	cpf.HttpProfile.Scheme = "HTTP"                         // plain HTTP on loopback
	client, err := apigw.NewClient(common.NewCredential("AKIDadmin0000000000000000000000000000", "admin-secret-0123456789abcdef"), "ap-guangzhou", cpf)
	if err != nil {
		fmt.Println(err)
		return
	}

	keyReq := apigw.NewCreateApiKeyRequest()
	keyReq.SecretName = common.StringPtr("partner")
	keyReq.AccessKeyType = common.StringPtr("manual")
	keyReq.AccessKeyId = common.StringPtr("partner_key_1")
	keyReq.AccessKeySecret = common.StringPtr("ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC")
	if _, err := client.CreateApiKey(keyReq); err != nil {
		fmt.Println(err)
		return
	}
	planReq := apigw.NewCreateUsagePlanRequest()
	planReq.UsagePlanName = common.StringPtr("gold")
	planReq.MaxRequestNum = common.Int64Ptr(100000)
	planReq.MaxRequestNumPreSec = common.Int64Ptr(100)
	plan, err := client.CreateUsagePlan(planReq)
	if err != nil {
		fmt.Println(err)
		return
	}
	planID := plan.Response.Result.UsagePlanId
	bindReq := apigw.NewBindSecretIdsRequest()
	bindReq.UsagePlanId = planID
	bindReq.AccessKeyIds = common.StringPtrs([]string{"partner_key_1"})
	if _, err := client.BindSecretIds(bindReq); err != nil {
		fmt.Println(err)
		return
	}

	descReq := apigw.NewDescribeUsagePlanRequest()
	descReq.UsagePlanId = planID
	desc, err := client.DescribeUsagePlan(descReq)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := desc.Response.Result
	fmt.Println(*r.UsagePlanName, *r.MaxRequestNumPreSec, *r.MaxRequestNum, *r.BindSecretIdTotalCount, *r.BindSecretIds[0])

	// An unknown plan: the old API's error code.
	descReq = apigw.NewDescribeUsagePlanRequest()
	descReq.UsagePlanId = common.StringPtr("usagePlan-nosuch00")
	_, err = client.DescribeUsagePlan(descReq)
	var sdkErr *sdkerrors.TencentCloudSDKError
	if errors.As(err, &sdkErr) {
		fmt.Println(sdkErr.GetCode())
	}
	// Output:
	// gold 100 100000 1 partner_key_1
	// ResourceNotFound.InvalidUsagePlan
}
