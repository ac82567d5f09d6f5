package cloudapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/internal/tc3test"
	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/usageplan"
)

const testConfig = `{
  "services": [
    {"id": "service-abcd1234", "name": "orders", "environments": ["release"],
     "apis": [{"id": "api-list0001", "name": "listOrders", "method": "GET", "path": "/orders"}]}
  ],
  "keys": [{"id": "partner_key_1", "name": "partner", "secret": "partner_secret_1"},
           {"id": "disabled_key1", "name": "off", "secret": "disabled_secret1", "status": "disabled"}],
  "plans": [{"id": "usagePlan-kgf82zcd", "name": "gold", "qps": 10, "quota": 100, "keys": ["partner_key_1"]}]
}`

const (
	adminID     = "AKIDadmin0000000000000000000000000000"
	adminSecret = "admin-secret-0123456789abcdef"
	readerID    = "reader"
	readerSec   = "reader-secret-0123456789abcdef"
	testHost    = "127.0.0.1:9090"
)

// defaultTS counts the requests built without a timestamp.
var defaultTS atomic.Int64

// epoch is the server's clock in these tests: 2026-12-04 UTC.
var epoch = time.Unix(1796427673, 0)

func newHandler(t testing.TB, mode Mode) (*Handler, *usageplan.Registry) {
	t.Helper()
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := LoopbackHosts(testHost)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(reg, []Credential{
		{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)},
		{SecretID: readerID, SecretKey: keys.NewSecret(readerSec), ReadOnly: true},
	}, Config{Hosts: hosts, Mode: mode, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

// req is a request to sign: what the client sends and how it signs it.
type req struct {
	id, secret    string
	service       string // credential scope service; "" is apigateway
	host          string
	action        string
	version       string
	body          string
	contentType   string
	ts            time.Time
	signedHeaders string // "" is content-type;host
	scopeDate     string // "" is ts's UTC date
	signBody      *string
}

// build signs r as a TC3 client does (with tc3test, written from the
// protocol's description independently of this package's code) and
// returns the HTTP request.
func (r req) build() *http.Request {
	if r.id == "" {
		r.id, r.secret = adminID, adminSecret
	}
	if r.host == "" {
		r.host = testHost
	}
	if r.version == "" {
		r.version = Version
	}
	if r.ts.IsZero() {
		// A request is served once (replay.go): each default request is
		// signed at its own second, up to 250 s before epoch, so that tests
		// sending the same request twice send two signatures.
		r.ts = epoch.Add(-time.Duration(defaultTS.Add(1)%250) * time.Second)
	}
	hr := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(r.body))
	hr.Host = r.host
	tc3test.Request{
		ID: r.id, Secret: r.secret, Action: r.action, Body: r.body, Host: r.host, Time: r.ts,
		Version: r.version, ContentType: r.contentType, Service: r.service,
		ScopeDate: r.scopeDate, SignedHeaders: r.signedHeaders, SignedBody: r.signBody,
	}.Sign(hr)
	return hr
}

type envelope struct {
	Response struct {
		Error *struct {
			Code    string
			Message string
		}
		RequestId string
		Result    json.RawMessage
	}
}

// do serves hr and checks the envelope every answer has: HTTP 200,
// JSON, a RequestId, and no admin secret anywhere.
func do(t *testing.T, h http.Handler, hr *http.Request) envelope {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 (the SDKs read no other)", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	body := w.Body.String()
	for _, s := range []string{adminSecret, readerSec} {
		if strings.Contains(body, s) {
			t.Fatalf("the answer contains an admin secret: %s", body)
		}
	}
	var e envelope
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, body)
	}
	if len(e.Response.RequestId) != 36 {
		t.Fatalf("RequestId %q is not a UUID", e.Response.RequestId)
	}
	return e
}

func wantCode(t *testing.T, e envelope, code string) {
	t.Helper()
	if e.Response.Error == nil {
		t.Fatalf("succeeded (%s), want error %s", e.Response.Result, code)
	}
	if e.Response.Error.Code != code {
		t.Fatalf("error %s (%s), want %s", e.Response.Error.Code, e.Response.Error.Message, code)
	}
}

func wantOK(t *testing.T, e envelope) {
	t.Helper()
	if e.Response.Error != nil {
		t.Fatalf("error %s: %s", e.Response.Error.Code, e.Response.Error.Message)
	}
}

// TestSDKVector verifies a request signed by the Tencent Cloud SDK for
// Go v1.0.162 (captured on the wire: DescribeUsagePlan to
// 127.0.0.1:9090 at 1796427673).
func TestSDKVector(t *testing.T) {
	h, _ := newHandler(t, Declarative)
	hr := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"UsagePlanId":"usagePlan-kgf82zcd"}`))
	hr.Host = testHost
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-TC-Action", "DescribeUsagePlan")
	hr.Header.Set("X-TC-Version", "2018-08-08")
	hr.Header.Set("X-TC-Timestamp", "1796427673")
	hr.Header.Set("X-TC-Region", "ap-guangzhou")
	hr.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential=AKIDadmin0000000000000000000000000000/2026-12-04/apigateway/tc3_request, SignedHeaders=content-type;host, Signature=fb8091864c8ba98127cbbb8ae85080019cc66556692cb554b75d99066654c2ca")
	e := do(t, h, hr)
	wantOK(t, e)
	var info usageplan.UsagePlanInfo
	if err := json.Unmarshal(e.Response.Result, &info); err != nil || info.UsagePlanId != "usagePlan-kgf82zcd" || info.MaxRequestNum != 100 {
		t.Fatalf("Result %s (%v)", e.Response.Result, err)
	}
}

func TestAuthentication(t *testing.T) {
	h, _ := newHandler(t, Managed)
	list := "DescribeApiKeysStatus"
	other := "{}"
	cases := []struct {
		name string
		hr   func() *http.Request
		code string // "" is success
	}{
		{"signed", func() *http.Request { return req{action: list, body: "{}"}.build() }, ""},
		{"charset", func() *http.Request {
			return req{action: list, body: "{}", contentType: "application/json; charset=utf-8"}.build()
		}, ""},
		{"service from the endpoint's first label", func() *http.Request {
			return req{action: list, body: "{}", service: "127"}.build()
		}, ""},
		{"x-tc-action signed too", func() *http.Request {
			return req{action: list, body: "{}", signedHeaders: "content-type;host;x-tc-action"}.build()
		}, ""},
		{"localhost", func() *http.Request {
			return req{action: list, body: "{}", host: "localhost:9090"}.build()
		}, ""},
		{"timestamp 300 s behind", func() *http.Request {
			return req{action: list, body: "{}", ts: epoch.Add(-300 * time.Second)}.build()
		}, ""},
		{"timestamp 300 s ahead", func() *http.Request {
			return req{action: list, body: "{}", ts: epoch.Add(300 * time.Second)}.build()
		}, ""},
		{"wrong signature", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			a := hr.Header.Get("Authorization")
			last := a[len(a)-1]
			flip := byte('0')
			if last == '0' {
				flip = '1'
			}
			hr.Header.Set("Authorization", a[:len(a)-1]+string(flip))
			return hr
		}, CodeSignatureFailure},
		{"wrong secret", func() *http.Request {
			return req{action: list, body: "{}", id: adminID, secret: "not-the-secret-0123456789"}.build()
		}, CodeSignatureFailure},
		{"unknown credential", func() *http.Request {
			return req{action: list, body: "{}", id: "AKIDnobody", secret: adminSecret}.build()
		}, CodeSecretIDNotFound},
		{"usage-plan key is no admin credential", func() *http.Request {
			return req{action: list, body: "{}", id: "partner_key_1", secret: "partner_secret_1"}.build()
		}, CodeSecretIDNotFound},
		{"stale timestamp", func() *http.Request {
			return req{action: list, body: "{}", ts: epoch.Add(-301 * time.Second)}.build()
		}, CodeSignatureExpire},
		{"future timestamp", func() *http.Request {
			return req{action: list, body: "{}", ts: epoch.Add(301 * time.Second)}.build()
		}, CodeSignatureExpire},
		{"tampered body", func() *http.Request {
			return req{action: list, body: `{"Limit":100}`, signBody: &other}.build()
		}, CodeSignatureFailure},
		{"tampered host", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.Host = "localhost:9090"
			return hr
		}, CodeSignatureFailure},
		{"read-only credential writes", func() *http.Request {
			return req{id: readerID, secret: readerSec, action: "CreateUsagePlan", body: `{"UsagePlanName":"x"}`}.build()
		}, CodeUnauthorizedOperation},
		{"read-only credential reads", func() *http.Request {
			return req{id: readerID, secret: readerSec, action: list, body: "{}"}.build()
		}, ""},
		{"foreign host", func() *http.Request {
			return req{action: list, body: "{}", host: "evil.example:9090"}.build()
		}, CodeForbiddenHost},
		{"other port", func() *http.Request {
			return req{action: list, body: "{}", host: "127.0.0.1:9091"}.build()
		}, CodeForbiddenHost},
		{"no Authorization", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.Header.Del("Authorization")
			return hr
		}, CodeInvalidAuthorization},
		{"v1 signature (form body)", func() *http.Request {
			hr := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=DescribeApiKeysStatus&SecretId=x&Signature=y&SignatureMethod=HmacSHA256"))
			hr.Host = testHost
			hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return hr
		}, CodeInvalidAuthorization},
		{"GET", func() *http.Request {
			hr := req{action: list, body: ""}.build()
			hr.Method = http.MethodGet
			return hr
		}, CodeUnsupportedProtocol},
		{"query string", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.URL.RawQuery = "Action=DescribeApiKeysStatus"
			return hr
		}, CodeUnsupportedProtocol},
		{"other path", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.URL.Path = "/v2"
			return hr
		}, CodeUnsupportedProtocol},
		{"UNSIGNED-PAYLOAD", func() *http.Request {
			unsigned := unsignedPayload
			hr := req{action: list, body: "{}", signBody: &unsigned}.build()
			hr.Header.Set("X-TC-Content-SHA256", unsignedPayload)
			return hr
		}, CodeInvalidAuthorization},
		{"temporary credential", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.Header.Set("X-TC-Token", "token")
			return hr
		}, CodeTokenFailure},
		{"host not signed", func() *http.Request {
			return req{action: list, body: "{}", signedHeaders: "content-type"}.build()
		}, CodeInvalidAuthorization},
		{"scope date is not the timestamp's", func() *http.Request {
			return req{action: list, body: "{}", scopeDate: "2026-12-03"}.build()
		}, CodeInvalidAuthorization},
		{"text/plain", func() *http.Request {
			return req{action: list, body: "{}", contentType: "text/plain"}.build()
		}, CodeUnsupportedProtocol},
		{"other version", func() *http.Request {
			return req{action: list, body: "{}", version: "2017-03-12"}.build()
		}, CodeNoSuchVersion},
		{"no action", func() *http.Request { return req{body: "{}"}.build() }, CodeMissingParameter},
		{"unknown action", func() *http.Request { return req{action: "CreateService", body: "{}"}.build() }, CodeInvalidAction},
		{"body too large", func() *http.Request {
			return req{action: list, body: `{"Filters":[]` + strings.Repeat(" ", MaxBodyBytes) + "}"}.build()
		}, CodeRequestSizeLimitExceeded},
		{"timestamp twice", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.Header.Add("X-TC-Timestamp", hr.Header.Get("X-TC-Timestamp"))
			return hr
		}, CodeInvalidAuthorization},
		{"timestamp not decimal", func() *http.Request {
			hr := req{action: list, body: "{}"}.build()
			hr.Header.Set("X-TC-Timestamp", "+"+hr.Header.Get("X-TC-Timestamp"))
			return hr
		}, CodeInvalidAuthorization},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := do(t, h, tc.hr())
			if tc.code == "" {
				wantOK(t, e)
				return
			}
			wantCode(t, e, tc.code)
		})
	}
}

func TestParameters(t *testing.T) {
	h, reg := newHandler(t, Managed)
	cases := []struct {
		name, action, body, code string
	}{
		{"unknown parameter", "DescribeUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","Foo":1}`, CodeUnknownParameter},
		{"wrong type", "DescribeApiKeysStatus", `{"Limit":"20"}`, CodeInvalidParameterFormat},
		{"not an object", "DescribeApiKeysStatus", `[1]`, CodeInvalidParameterFormat},
		{"two objects", "DescribeApiKeysStatus", `{}{}`, CodeInvalidParameterFormat},
		{"broken JSON", "DescribeApiKeysStatus", `{"Limit":`, CodeInvalidParameterFormat},
		{"Limit 0", "DescribeApiKeysStatus", `{"Limit":0}`, CodeRangeExceeded},
		{"negative Offset", "DescribeApiKeysStatus", `{"Offset":-1}`, CodeRangeExceeded},
		{"Offset above an int32", "DescribeApiKeysStatus", `{"Offset":2147483648}`, CodeRangeExceeded},
		{"empty body is no parameters", "DescribeApiKeysStatus", ``, ""},
		{"missing UsagePlanId", "DescribeUsagePlan", `{}`, CodeMissingParameter},
		{"unknown plan", "DescribeUsagePlan", `{"UsagePlanId":"usagePlan-zzzzzzzz"}`, CodeInvalidUsagePlan},
		{"unknown key", "DescribeApiKey", `{"AccessKeyId":"nobody"}`, CodeInvalidAccessKeyID},
		{"filter without values", "DescribeApiKeysStatus", `{"Filters":[{"Name":"Status"}]}`, CodeInvalidParameterValue},
		{"BindType API without ApiIds", "BindEnvironment", `{"UsagePlanIds":["usagePlan-kgf82zcd"],"ServiceId":"service-abcd1234","Environment":"release","BindType":"API"}`, CodeMissingParameter},
		{"unknown API", "BindEnvironment", `{"UsagePlanIds":["usagePlan-kgf82zcd"],"ServiceId":"service-abcd1234","Environment":"release","BindType":"API","ApiIds":["api-zzzzzzzz"]}`, CodeInvalidAPI},
		{"bad BindType", "BindEnvironment", `{"UsagePlanIds":["usagePlan-kgf82zcd"],"ServiceId":"service-abcd1234","Environment":"release","BindType":"ALL"}`, CodeInvalidParameterValue},
		{"bad name", "ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","UsagePlanName":"no spaces"}`, CodeInvalidParameterValue},
		{"bad period", "ModifyUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","QuotaPeriod":"year"}`, CodeInvalidParameterValue},
		{"bad key type", "CreateApiKey", `{"SecretName":"k","AccessKeyType":"other"}`, CodeInvalidParameterValue},
		{"manual without secret", "CreateApiKey", `{"SecretName":"k","AccessKeyType":"manual","AccessKeyId":"manual_1"}`, CodeMissingParameter},
		{"short manual secret", "CreateApiKey", `{"SecretName":"k","AccessKeyType":"manual","AccessKeyId":"manual_1","AccessKeySecret":"short"}`, CodeInvalidParameterValue},
		{"manual key update needs a secret", "UpdateApiKey", `{"AccessKeyId":"partner_key_1"}`, CodeMissingParameter},
		{"bind a disabled key", "BindSecretIds", `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyIds":["disabled_key1"]}`, CodeInvalidStatus},
		{"key listed twice", "BindSecretIds", `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyIds":["disabled_key1","disabled_key1"]}`, CodeInvalidAccessKeyIDs},
		{"no keys", "BindSecretIds", `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyIds":[]}`, CodeMissingParameter},
		{"rotate a disabled key", "UpdateApiKey", `{"AccessKeyId":"disabled_key1","AccessKeySecret":"new_secret_123"}`, CodeInvalidStatus},
		{"delete an enabled key", "DeleteApiKey", `{"AccessKeyId":"partner_key_1"}`, CodeInvalidStatus},
		{"filter unknown", "DescribeUsagePlansStatus", `{"Filters":[{"Name":"Owner","Values":["x"]}]}`, CodeInvalidFilterName},
		{"unbind an unbound environment", "UnBindEnvironment", `{"UsagePlanIds":["usagePlan-kgf82zcd"],"ServiceId":"service-abcd1234","Environment":"release"}`, CodeNoUsagePlanEnv},
		{"demote an unbound environment", "DemoteServiceUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd","ServiceId":"service-abcd1234","Environment":"release"}`, CodeNoUsagePlanEnv},
		{"grant without a usage store", "GrantApiKeyUsage", `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyId":"partner_key_1","RequestNum":1}`, CodeUnsupportedOperation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := reg.Snapshot().Version()
			e := do(t, h, req{action: tc.action, body: tc.body}.build())
			if tc.code == "" {
				wantOK(t, e)
				return
			}
			wantCode(t, e, tc.code)
			if v := reg.Snapshot().Version(); v != before {
				t.Fatalf("a refused %s changed the registry (version %d -> %d)", tc.action, before, v)
			}
		})
	}
}

// TestSecretsOnlyWhereReturned: the key's secret is in CreateApiKey,
// UpdateApiKey and DescribeApiKey answers and nowhere else.
func TestSecretsOnlyWhereReturned(t *testing.T) {
	h, _ := newHandler(t, Managed)
	const secret = "partner_secret_1"
	for _, a := range []struct{ action, body string }{
		{"DescribeApiKeysStatus", `{}`},
		{"DescribeApiKeysStatus", `{"Filters":[{"Name":"AccessKeySecret","Values":["partner_secret_1"]}]}`},
		{"DescribeUsagePlanSecretIds", `{"UsagePlanId":"usagePlan-kgf82zcd"}`},
		{"DescribeUsagePlan", `{"UsagePlanId":"usagePlan-kgf82zcd"}`},
		{"CreateApiKey", `{"SecretName":"k","AccessKeyType":"manual","AccessKeyId":"partner_key_1","AccessKeySecret":"partner_secret_1"}`},
		{"UpdateApiKey", `{"AccessKeyId":"partner_key_1","AccessKeySecret":"short"}`},
	} {
		e := do(t, h, req{action: a.action, body: a.body}.build())
		raw, _ := json.Marshal(e)
		if strings.Contains(string(raw), secret) {
			t.Errorf("%s answered the key's secret: %s", a.action, raw)
		}
	}
	e := do(t, h, req{action: "DescribeApiKey", body: `{"AccessKeyId":"partner_key_1"}`}.build())
	wantOK(t, e)
	var k APIKey
	if err := json.Unmarshal(e.Response.Result, &k); err != nil || k.AccessKeySecret != secret || k.Status != 1 || k.AccessKeyType != KeyTypeManual {
		t.Fatalf("DescribeApiKey: %+v %v", k, err)
	}
}

func TestDeclarativeRefusesEveryWrite(t *testing.T) {
	h, reg := newHandler(t, Declarative)
	before := reg.Snapshot().Version()
	names, writes := Actions()
	if len(names) != 25 {
		t.Fatalf("%d actions, want the 21 of the old gateway and 4 of planguard's", len(names))
	}
	for _, name := range names {
		e := do(t, h, req{action: name, body: "{}"}.build())
		if !writes[name] {
			if e.Response.Error != nil && strings.Contains(e.Response.Error.Message, "declarative") {
				t.Errorf("read action %s refused in declarative mode: %s", name, e.Response.Error.Message)
			}
			continue
		}
		wantCode(t, e, CodeUnsupportedOperation)
		if !strings.Contains(e.Response.Error.Message, "configuration file") {
			t.Errorf("%s: message %q does not say the file is the truth", name, e.Response.Error.Message)
		}
	}
	if reg.Snapshot().Version() != before {
		t.Fatal("declarative mode changed the registry")
	}
}

func TestNew(t *testing.T) {
	reg := usageplan.NewRegistry(usageplan.RegistryConfig{})
	good := Credential{SecretID: "admin", SecretKey: keys.NewSecret(adminSecret)}
	hosts := []string{testHost}
	cases := []struct {
		name  string
		creds []Credential
		cfg   Config
	}{
		{"no credential", nil, Config{Hosts: hosts}},
		{"duplicate", []Credential{good, good}, Config{Hosts: hosts}},
		{"short secret", []Credential{{SecretID: "a", SecretKey: keys.NewSecret("short")}}, Config{Hosts: hosts}},
		{"slash in id", []Credential{{SecretID: "a/b", SecretKey: keys.NewSecret(adminSecret)}}, Config{Hosts: hosts}},
		{"no hosts", []Credential{good}, Config{}},
		{"empty host", []Credential{good}, Config{Hosts: []string{""}}},
		{"unknown mode", []Credential{good}, Config{Hosts: hosts, Mode: 7}},
	}
	for _, tc := range cases {
		if _, err := New(reg, tc.creds, tc.cfg); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		} else if strings.Contains(err.Error(), adminSecret) {
			t.Errorf("%s: error shows the secret", tc.name)
		}
	}
	if _, err := New(nil, []Credential{good}, Config{Hosts: hosts}); err == nil {
		t.Error("New accepted a nil registry")
	}
}

func TestLoopbackHosts(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9090": "127.0.0.1:9090 localhost:9090",
		"[::1]:80":       "[::1]:80 localhost:80",
		"10.1.2.3:443":   "10.1.2.3:443",
	} {
		got, err := LoopbackHosts(addr)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("LoopbackHosts(%q) = %v, %v; want %s", addr, got, err, want)
		}
	}
	for _, addr := range []string{"0.0.0.0:80", "localhost:80", "nope"} {
		if _, err := LoopbackHosts(addr); err == nil {
			t.Errorf("LoopbackHosts(%q) accepted it", addr)
		}
	}
}

// TestConcurrentWrites: many goroutines change one plan's settings and
// bind keys at once; every change lands (a partial ModifyUsagePlan
// never undoes another's field).
func TestConcurrentWrites(t *testing.T) {
	h, reg := newHandler(t, Managed)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := "conc_key_" + strconv.Itoa(i)
			e := do(t, h, req{action: "CreateApiKey", body: `{"SecretName":"k","AccessKeyType":"manual","AccessKeyId":"` + id + `","AccessKeySecret":"conc_secret_1"}`}.build())
			wantOK(t, e)
			wantOK(t, do(t, h, req{action: "BindSecretIds", body: `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyIds":["` + id + `"]}`}.build()))
		})
		wg.Go(func() {
			field := map[bool]string{true: `"MaxRequestNum":500`, false: `"UsagePlanDesc":"changed"`}[i%2 == 0]
			wantOK(t, do(t, h, req{action: "ModifyUsagePlan", body: `{"UsagePlanId":"usagePlan-kgf82zcd",` + field + `}`}.build()))
		})
	}
	wg.Wait()
	p, _ := reg.Snapshot().Plan("usagePlan-kgf82zcd")
	if reg.Snapshot().PlanKeyCount(p.ID) != n+1 || p.Quota != 500 || p.Description != "changed" || p.QPS != 10 || p.Name != "gold" {
		t.Fatalf("plan after concurrent writes: %+v", p)
	}
}

// TestRequireSignedAction: with the option on, a request that does not
// sign X-TC-Action is refused, and one that does is served.
func TestRequireSignedAction(t *testing.T) {
	h, _ := newHandler(t, Managed)
	h.cfg.RequireSignedAction = true
	wantCode(t, do(t, h, req{action: "DescribeApiKeysStatus", body: "{}"}.build()), CodeInvalidAuthorization)
	wantOK(t, do(t, h, req{action: "DescribeApiKeysStatus", body: "{}", signedHeaders: "content-type;host;x-tc-action"}.build()))
	// The action is signed lowercased: another action fails the signature.
	hr := req{action: "DescribeApiKeysStatus", body: "{}", signedHeaders: "content-type;host;x-tc-action"}.build()
	hr.Header.Set("X-TC-Action", "DescribeUsagePlansStatus")
	wantCode(t, do(t, h, hr), CodeSignatureFailure)
}

// TestCancelledRequest: a request whose context is already cancelled
// still gets an answer in the envelope.
func TestCancelledRequest(t *testing.T) {
	h, _ := newHandler(t, Managed)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hr := req{action: "DescribeApiKeysStatus", body: "{}"}.build().WithContext(ctx)
	wantOK(t, do(t, h, hr))
}

// BenchmarkServe measures one signed DescribeUsagePlan through the
// handler (parse, verify, dispatch, describe, answer) beside the bare
// part: the same Describe answered in the same envelope without
// authentication.
func BenchmarkServe(b *testing.B) {
	h, reg := newHandler(b, Declarative)
	body := `{"UsagePlanId":"usagePlan-kgf82zcd"}`
	signed := req{action: "DescribeUsagePlan", body: body}.build()
	b.Run("signed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hr := signed.Clone(context.Background())
			hr.Body = io.NopCloser(strings.NewReader(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, hr)
			if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"Error"`) {
				b.Fatal(w.Body.String())
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			info, err := usageplan.Describer{Snapshot: reg.Snapshot()}.UsagePlan(context.Background(), "usagePlan-kgf82zcd")
			if err != nil {
				b.Fatal(err)
			}
			out, _ := json.Marshal(map[string]any{"Response": map[string]any{"Result": info, "RequestId": newRequestID()}})
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(out)
		}
	})
}
