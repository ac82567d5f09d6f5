package cloudapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/planguard/planguard/keys"
	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/usageplan"
)

// FuzzParseAuthorization: the parser never panics, refuses with an
// *Error of code AuthFailure.InvalidAuthorization, and what it accepts
// formats back to a header it parses to the same value.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("TC3-HMAC-SHA256 Credential=AKIDadmin/2026-12-04/apigateway/tc3_request, SignedHeaders=content-type;host, Signature=fb8091864c8ba98127cbbb8ae85080019cc66556692cb554b75d99066654c2ca")
	f.Add("TC3-HMAC-SHA256 Credential=a/2026-12-04/127/tc3_request,SignedHeaders=content-type;host;x-tc-action,Signature=" + strings.Repeat("0", 64))
	f.Add("HMAC-SHA256 Credential=a")
	f.Add("TC3-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=")
	f.Add("TC3-HMAC-SHA256 Signature=x, Signature=y")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Code != CodeInvalidAuthorization || e.Message == "" {
				t.Fatalf("refusal %#v is not an InvalidAuthorization *Error", err)
			}
			return
		}
		again := Algorithm + " Credential=" + a.SecretID + "/" + a.Scope() + ", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + hex.EncodeToString(a.Signature[:])
		b, err := ParseAuthorization(again)
		if err != nil {
			t.Fatalf("%q parsed, its canonical form %q does not: %v", h, again, err)
		}
		if b.SecretID != a.SecretID || b.Scope() != a.Scope() || strings.Join(b.SignedHeaders, ";") != strings.Join(a.SignedHeaders, ";") || b.Signature != a.Signature {
			t.Fatalf("%q and its canonical form parse differently: %+v, %+v", h, a, b)
		}
		if !validDate(a.Date) || a.Service == "" || a.SecretID == "" || strings.Contains(a.SecretID+a.Service, "/") {
			t.Fatalf("accepted an invalid scope: %+v", a)
		}
	})
}

// FuzzServe: whatever the headers and body, the handler answers HTTP
// 200 with the JSON envelope, never panics, and authenticates nothing
// it was not given a valid signature for.
func FuzzServe(f *testing.F) {
	h, reg := newHandler(f, Managed)
	// Signed at a fixed second (not the next default one, which depends
	// on the tests run before), so that the seeds and the kept corpus
	// carry the signature this process computes.
	valid := req{action: "DescribeApiKeysStatus", body: "{}", ts: epoch.Add(-time.Second)}.build()
	f.Add(valid.Header.Get("Authorization"), valid.Header.Get("X-TC-Timestamp"), "DescribeApiKeysStatus", "application/json", "{}")
	f.Add(valid.Header.Get("Authorization"), valid.Header.Get("X-TC-Timestamp"), "CreateApiKey", "application/json", `{"SecretName":"x"}`)
	f.Add(valid.Header.Get("Authorization"), valid.Header.Get("X-TC-Timestamp"), "DescribeApiKeysStatus", "application/Json", "{}")
	f.Add(valid.Header.Get("Authorization"), valid.Header.Get("X-TC-Timestamp"), "DescribeApiKeysStatus", " application/json ", "{}")
	f.Add("TC3-HMAC-SHA256 Credential=reader/2026-12-04/apigateway/tc3_request, SignedHeaders=content-type;host, Signature=00", "1796427673", "DeleteUsagePlan", "application/json", `{"UsagePlanId":1}`)
	f.Add("", "", "", "application/x-www-form-urlencoded", "Action=A&Signature=s")
	before := reg.Snapshot().Version()
	// The Authorization header's own formatting (the spaces after its
	// commas) is not signed: a header that parses to the valid one's
	// credential, scope, signed headers and signature carries the valid
	// signature.
	validAuth, err := ParseAuthorization(valid.Header.Get("Authorization"))
	if err != nil {
		f.Fatal(err)
	}
	carriesValid := func(h string) bool {
		a, err := ParseAuthorization(h)
		return err == nil && a.SecretID == validAuth.SecretID && a.Scope() == validAuth.Scope() &&
			slices.Equal(a.SignedHeaders, validAuth.SignedHeaders) && a.Signature == validAuth.Signature
	}
	f.Fuzz(func(t *testing.T, auth, ts, action, contentType, body string) {
		hr := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		hr.Host = testHost
		hr.Header["Authorization"] = []string{auth}
		hr.Header["X-Tc-Timestamp"] = []string{ts}
		hr.Header["X-Tc-Action"] = []string{action}
		hr.Header["X-Tc-Version"] = []string{Version}
		hr.Header["Content-Type"] = []string{contentType}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hr)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		var e envelope
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Response.RequestId == "" {
			t.Fatalf("not the envelope: %s", w.Body.Bytes())
		}
		if strings.Contains(w.Body.String(), adminSecret) {
			t.Fatal("the answer shows the admin secret")
		}
		// Signed header values are canonicalized lowercase and trimmed,
		// as TC3 defines them: "application/Json" is signed as
		// "application/json".
		signedAsValid := carriesValid(auth) && ts == valid.Header.Get("X-TC-Timestamp") &&
			body == "{}" && strings.ToLower(strings.TrimSpace(contentType)) == "application/json"
		if e.Response.Error == nil && !signedAsValid {
			t.Fatalf("authenticated a request it had no valid signature for: %q %q %q %q", auth, ts, contentType, body)
		}
		if reg.Snapshot().Version() != before {
			t.Fatalf("a fuzzed request changed the registry")
		}
	})
}

// FuzzSignedActions: every action, signed by the read-write credential
// in managed mode with a usage store, with any body: an answer in the
// envelope (HTTP 200, JSON, no admin secret), never a panic or
// InternalError. The clock moves one second per input, so that the
// replay record keeps only the last seenFor of signatures; the
// same request sent again is refused as a replay when it is a write.
func FuzzSignedActions(f *testing.F) {
	reg, err := usageplan.LoadConfig(strings.NewReader(testConfig), usageplan.RegistryConfig{})
	if err != nil {
		f.Fatal(err)
	}
	lim, err := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { lim.Close(context.Background()) })
	var tick atomic.Int64
	now := func() time.Time { return epoch.Add(time.Duration(tick.Load()) * time.Second) }
	h, err := New(reg, []Credential{{SecretID: adminID, SecretKey: keys.NewSecret(adminSecret)}},
		Config{Hosts: []string{testHost}, Mode: Managed, Usage: LimiterUsage(lim, reg.Snapshot, now), Now: now})
	if err != nil {
		f.Fatal(err)
	}
	names, writes := Actions()
	slices.Sort(names)
	for i := range names {
		f.Add(uint8(i), `{"UsagePlanId":"usagePlan-kgf82zcd","AccessKeyId":"partner_key_1","RequestNum":1}`)
		f.Add(uint8(i), `{"Filters":[{"Name":"KeyWord","Values":[1]}],"Limit":1e300,"Offset":-0}`)
	}
	f.Add(uint8(0), `{"SecretIds":{"a":1},"UsagePlanId":["x"]}`)
	f.Add(uint8(0), `{"UsagePlanId":"usagePlan-kgf82zcd","Environments":[null],"BindType":"API","ApiIds":[null]}`)
	f.Fuzz(func(t *testing.T, i uint8, body string) {
		action := names[int(i)%len(names)]
		ts := now()
		tick.Add(1)
		r := req{action: action, body: body, ts: ts}
		e := do(t, h, r.build())
		if e.Response.Error != nil && e.Response.Error.Code == CodeInternalError {
			t.Fatalf("%s %q: %s", action, body, e.Response.Error.Message)
		}
		again := do(t, h, r.build())
		if writes[action] && (again.Response.Error == nil || again.Response.Error.Code != CodeSignatureFailure) {
			t.Fatalf("%s %q sent again: %+v", action, body, again.Response.Error)
		}
	})
}
