package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func adminGet(t *testing.T, h http.Handler, target string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", target, nil)
	req.Host = "127.0.0.1:8081"
	h.ServeHTTP(rec, req)
	var body struct{ Response map[string]any }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	assert.NotContains(t, rec.Body.String(), goldSecret)
	assert.NotContains(t, rec.Body.String(), testSecret)
	return rec.Code, body.Response
}

// InUseRequestNum reflects the requests actually admitted through the
// middleware.
func TestAdminReportsAdmittedRequests(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	for range 3 {
		require.Equal(t, 200, f.do(t, "GET", "/release/orders", goldKey, goldSecret, nil).status)
	}
	require.Equal(t, 401, f.do(t, "GET", "/release/orders", goldKey, "wrong-secret-000", nil).status)
	admin := newAdmin(t, f.reg, LimiterUsage(f.lim, f.reg.Snapshot, f.clock))

	code, resp := adminGet(t, admin, "/DescribeApiUsagePlan?ServiceId=service-abcd1234&SearchEnvironment=release")
	require.Equal(t, 200, code, resp)
	result := resp["Result"].(map[string]any)
	require.EqualValues(t, 1, result["TotalCount"])
	row := result["ApiUsagePlanList"].([]any)[0].(map[string]any)
	assert.EqualValues(t, 3, row["InUseRequestNum"])
	assert.EqualValues(t, 100, row["MaxRequestNum"])
	assert.Equal(t, "usagePlan-gold0001", row["UsagePlanId"])

	code, resp = adminGet(t, admin, "/DescribeUsagePlanSecretIds?UsagePlanId=usagePlan-gold0001")
	require.Equal(t, 200, code)
	keyRow := resp["Result"].(map[string]any)["AccessKeyList"].([]any)[0].(map[string]any)
	assert.EqualValues(t, 3, keyRow["InUseRequestNum"])

	for _, target := range []string{
		"/DescribeServiceUsagePlan?ServiceId=service-abcd1234",
		"/DescribeUsagePlan?UsagePlanId=usagePlan-gold0001",
		"/DescribeUsagePlanEnvironments?UsagePlanId=usagePlan-gold0001&BindType=SERVICE",
		"/DescribeApiKeysStatus?Limit=100",
		"/DescribeApiUsagePlan?ServiceId=service-abcd1234&ApiIds=api-list0001,api-get00001&Offset=99",
		"/DescribeApiUsagePlan?ServiceId=service-abcd1234&Offset=&Limit=", // empty: the defaults, as the old gateway's examples send them
	} {
		code, resp := adminGet(t, admin, target)
		assert.Equal(t, 200, code, "%s: %v", target, resp)
	}
}

func TestAdminErrors(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	admin := newAdmin(t, f.reg, nil)
	for target, want := range map[string]int{
		"/DescribeApiUsagePlan": 400,
		"/DescribeApiUsagePlan?ServiceId=service-abcd1234&Limit=0":                 400,
		"/DescribeApiUsagePlan?ServiceId=service-abcd1234&Limit=101":               400,
		"/DescribeApiUsagePlan?ServiceId=service-abcd1234&Offset=x":                400,
		"/DescribeApiUsagePlan?ServiceId=service-abcd1234&Offset=-1":               400,
		"/DescribeUsagePlan?UsagePlanId=usagePlan-nope0000":                        400,
		"/DescribeUsagePlanEnvironments?UsagePlanId=usagePlan-gold0001&BindType=x": 400,
		"/DescribeSomethingElse":                                                   404,
	} {
		code, resp := adminGet(t, admin, target)
		require.Equal(t, want, code, target)
		e := resp["Error"].(map[string]any)
		assert.NotEmpty(t, e["Message"], target)
		if want == 400 {
			assert.Equal(t, "InvalidParameter", e["Code"])
			assert.False(t, strings.Contains(e["Message"].(string), "\n"), "one-line message")
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/DescribeApiKeysStatus", nil)
	req.Host = "localhost:8081"
	admin.ServeHTTP(rec, req)
	require.Equal(t, 405, rec.Code)
}
