package sdktest

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/planguard/planguard/cloudapi"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

// TestReviewSDKEndpointWithCapitals: the handler accepts the Host
// ignoring case (docs/admin-api.md), but canonicalises the signed host
// lowercase, while the Go SDK signs the endpoint as configured. A client
// whose endpoint has a capital letter ("LocalHost:PORT") is refused with
// AuthFailure.SignatureFailure although its signature is the SDK's own.
// The SDK signs its endpoint as configured, capitals and all, where TC3
// lowercases the signed values: an endpoint of "LocalHost:PORT" (a Host
// the handler accepts, case ignored) is served.
func TestSDKEndpointWithCapitals(t *testing.T) {
	reg, err := usageplan.LoadConfig(strings.NewReader(config), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	h, err := cloudapi.New(reg, []cloudapi.Credential{{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)}},
		cloudapi.Config{Hosts: []string{"localhost:" + port}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	defer srv.Close()

	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Scheme = "HTTP"
	cpf.HttpProfile.Endpoint = "LocalHost:" + port
	c, err := apigw.NewClient(common.NewCredential(adminID, adminSecret), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeApiKeysStatus(apigw.NewDescribeApiKeysStatusRequest())
	if err != nil {
		t.Fatalf("the SDK with endpoint LocalHost:%s (an accepted Host, case ignored): %v", port, err)
	}
}
