package sdktest

import (
	"net"
	"testing"
	"time"

	apigw "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/apigateway/v20180808"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/planguard/planguard/internal/tc3test"
)

// TestSDKReadOnly: a process whose one admin credential is read-only
// (-admin-read-only) serves every Describe action to it and refuses
// every write, the usage ones included, with
// AuthFailure.UnauthorizedOperation, changing nothing.
func TestSDKReadOnly(t *testing.T) {
	e := start(t, config, "-admin-read-only")
	c := e.admin()
	const key = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
	ks, err := c.DescribeApiKeysStatus(apigw.NewDescribeApiKeysStatusRequest())
	must(t, err)
	if *ks.Response.Result.TotalCount != 1 {
		t.Fatalf("DescribeApiKeysStatus: %+v", ks.Response.Result)
	}
	cp := apigw.NewCreateUsagePlanRequest()
	cp.UsagePlanName = str("p")
	_, err = c.CreateUsagePlan(cp)
	wantCode(t, err, "AuthFailure.UnauthorizedOperation")
	dk := apigw.NewDisableApiKeyRequest()
	dk.AccessKeyId = str(key)
	_, err = c.DisableApiKey(dk)
	wantCode(t, err, "AuthFailure.UnauthorizedOperation")
	err = sendUsage(c, "ResetApiKeyUsage", "usagePlan-zzzzzzzz", key, 0, &resetResponse{BaseResponse: &tchttp.BaseResponse{}})
	wantCode(t, err, "AuthFailure.UnauthorizedOperation")
	st, err := c.DescribeUsagePlansStatus(apigw.NewDescribeUsagePlansStatusRequest())
	must(t, err)
	if *st.Response.Result.TotalCount != 0 {
		t.Fatalf("a read-only credential created a plan: %+v", st.Response.Result)
	}
	dak := apigw.NewDescribeApiKeyRequest()
	dak.AccessKeyId = str(key)
	got, err := c.DescribeApiKey(dak)
	must(t, err)
	if *got.Response.Result.Status != 1 {
		t.Fatal("a read-only credential disabled a key")
	}
	e.stop()
}

// TestSDKRefusals checks, through the process, that every
// authentication refusal reaches the SDK as an error with its code
// (every refusal is HTTP 200), and that none changes anything.
func TestSDKRefusals(t *testing.T) {
	e := start(t, config)
	// A request remembers its method and domain once sent: each call
	// gets a new one.
	list := apigw.NewDescribeApiKeysStatusRequest
	create := func() *apigw.CreateUsagePlanRequest {
		r := apigw.NewCreateUsagePlanRequest()
		r.UsagePlanName = str("p")
		return r
	}

	_, err := e.client(adminID, "wrong-secret-0123456789").DescribeApiKeysStatus(list())
	wantCode(t, err, "AuthFailure.SignatureFailure")
	_, err = e.client("AKIDnobody", adminSecret).DescribeApiKeysStatus(list())
	wantCode(t, err, "AuthFailure.SecretIdNotFound")
	_, err = e.client(adminID, adminSecret, func(p *profile.ClientProfile) { p.UnsignedPayload = true }).DescribeApiKeysStatus(list())
	wantCode(t, err, "AuthFailure.InvalidAuthorization")
	_, err = e.client(adminID, adminSecret, func(p *profile.ClientProfile) { p.SignMethod = "HmacSHA256" }).CreateUsagePlan(create())
	wantCode(t, err, "AuthFailure.InvalidAuthorization")
	_, err = e.client(adminID, adminSecret, func(p *profile.ClientProfile) { p.SignMethod = "HmacSHA1" }).DescribeApiKeysStatus(list())
	wantCode(t, err, "AuthFailure.InvalidAuthorization")
	_, err = e.client(adminID, adminSecret, func(p *profile.ClientProfile) { p.HttpProfile.ReqMethod = "GET" }).DescribeApiKeysStatus(list())
	wantCode(t, err, "UnsupportedProtocol")

	// A foreign Host, signed as such by the SDK, is refused before the
	// signature is looked at.
	_, port, _ := net.SplitHostPort(e.addr)
	foreign := e.client(adminID, adminSecret, func(p *profile.ClientProfile) { p.HttpProfile.Endpoint = "admin.example.com:" + port })
	foreign.WithHttpTransport(redirect(e.addr))
	_, err = foreign.CreateUsagePlan(create())
	wantCode(t, err, "UnauthorizedOperation")

	// A body changed after the SDK signed it.
	tampered := e.admin()
	tampered.WithHttpTransport(tamper{body: `{"UsagePlanName":"q"}`})
	_, err = tampered.CreateUsagePlan(create())
	wantCode(t, err, "AuthFailure.SignatureFailure")

	// Hand-signed: correct signatures, with a stale or future timestamp.
	body := `{"UsagePlanName":"p"}`
	now := time.Now()
	if code := sendRaw(t, tc3test.Request{ID: adminID, Secret: adminSecret, Action: "CreateUsagePlan", Body: body, Time: now.Add(-10 * time.Minute)}.New(t, e.addr)); code != "AuthFailure.SignatureExpire" {
		t.Fatalf("a stale timestamp: %q", code)
	}
	if code := sendRaw(t, tc3test.Request{ID: adminID, Secret: adminSecret, Action: "CreateUsagePlan", Body: body, Time: now.Add(10 * time.Minute)}.New(t, e.addr)); code != "AuthFailure.SignatureExpire" {
		t.Fatalf("a future timestamp: %q", code)
	}
	if code := sendRaw(t, tc3test.Request{ID: adminID, Secret: adminSecret, Action: "DescribeApiKeysStatus", Body: "{}", Host: "evil.example.com", Time: now}.New(t, e.addr)); code != "UnauthorizedOperation" {
		t.Fatalf("a foreign Host: %q", code)
	}
	st, err := e.admin().DescribeUsagePlansStatus(apigw.NewDescribeUsagePlansStatusRequest())
	must(t, err)
	if *st.Response.Result.TotalCount != 0 {
		t.Fatalf("a refused request created a plan: %+v", st.Response.Result)
	}

	// The same hand signer, current: accepted (so the refusals above are
	// the timestamp's and the Host's); and localhost:PORT, the
	// listener's other name, signed as such by the SDK.
	if code := sendRaw(t, tc3test.Request{ID: adminID, Secret: adminSecret, Action: "CreateUsagePlan", Body: body, Time: now}.New(t, e.addr)); code != "" {
		t.Fatalf("a current hand-signed request: %q", code)
	}
	localhost := e.client(adminID, adminSecret, func(p *profile.ClientProfile) { p.HttpProfile.Endpoint = "localhost:" + port })
	_, err = localhost.CreateUsagePlan(create())
	must(t, err)
	st, err = e.admin().DescribeUsagePlansStatus(apigw.NewDescribeUsagePlansStatusRequest())
	must(t, err)
	if *st.Response.Result.TotalCount != 2 {
		t.Fatalf("%d plans after two accepted CreateUsagePlan, want 2", *st.Response.Result.TotalCount)
	}
	e.stop()
}

// TestSDKDeclarative: without -managed, reads work and writes answer
// UnsupportedOperation (the config file is the truth).
func TestSDKDeclarative(t *testing.T) {
	e := startDeclarative(t, config)
	c := e.admin()
	_, err := c.DescribeApiKeysStatus(apigw.NewDescribeApiKeysStatusRequest())
	must(t, err)
	ck := apigw.NewCreateApiKeyRequest()
	ck.SecretName = str("k")
	_, err = c.CreateApiKey(ck)
	wantCode(t, err, "UnsupportedOperation")
	ks, err := c.DescribeApiKeysStatus(apigw.NewDescribeApiKeysStatusRequest())
	must(t, err)
	if n := *ks.Response.Result.TotalCount; n != 1 {
		t.Fatalf("declarative CreateApiKey changed the registry: %d keys", n)
	}
	e.stop()
}
