package tc3test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// vector is a request the Tencent Cloud SDK for Go v1.0.162 signed,
// captured on the wire (DescribeUsagePlan to 127.0.0.1:9090 at
// 1796427673).
var vector = Request{
	ID: "AKIDadmin0000000000000000000000000000", Secret: "admin-secret-0123456789abcdef",
	Action: "DescribeUsagePlan", Body: `{"UsagePlanId":"usagePlan-kgf82zcd"}`,
	Time: time.Unix(1796427673, 0),
}

const vectorAuthorization = "TC3-HMAC-SHA256 Credential=AKIDadmin0000000000000000000000000000/2026-12-04/apigateway/tc3_request, SignedHeaders=content-type;host, Signature=fb8091864c8ba98127cbbb8ae85080019cc66556692cb554b75d99066654c2ca"

// The defaults sign what the SDK signs, to the letter.
func TestSignsAsTheSDK(t *testing.T) {
	req := vector.New(t, "127.0.0.1:9090")
	if req.Method != http.MethodPost || req.URL.String() != "http://127.0.0.1:9090/" || req.Host != "127.0.0.1:9090" {
		t.Fatalf("%s %s Host %s", req.Method, req.URL, req.Host)
	}
	want := map[string]string{
		"Authorization": vectorAuthorization, "Content-Type": "application/json",
		"X-Tc-Action": "DescribeUsagePlan", "X-Tc-Version": "2018-08-08", "X-Tc-Timestamp": "1796427673",
	}
	for k, v := range want {
		if got := req.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	// Sign on a request of another address signs r.Host.
	other := vector
	other.Host = "127.0.0.1:9090"
	req = other.New(t, "127.0.0.1:1")
	if req.Host != "127.0.0.1:9090" || req.Header.Get("Authorization") != vectorAuthorization {
		t.Fatalf("Host %s: %s", req.Host, req.Header.Get("Authorization"))
	}
}

// Every field but Version is signed: changing one changes the signature
// (and ID and the scope show in the credential).
func TestEveryFieldIsSigned(t *testing.T) {
	base := vector
	base.Host = "127.0.0.1:9090"
	base.SignedHeaders = "content-type;host;x-tc-action"
	signature := func(r Request) string {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
		r.Sign(req)
		auth := req.Header.Get("Authorization")
		return auth[strings.LastIndex(auth, "=")+1:]
	}
	other := "{}"
	for name, edit := range map[string]func(*Request){
		"Secret":        func(r *Request) { r.Secret += "x" },
		"Action":        func(r *Request) { r.Action = "DeleteUsagePlan" },
		"Body":          func(r *Request) { r.Body = other },
		"Host":          func(r *Request) { r.Host = "127.0.0.1:9091" },
		"Time":          func(r *Request) { r.Time = r.Time.Add(time.Second) },
		"ContentType":   func(r *Request) { r.ContentType = "application/x-www-form-urlencoded" },
		"Service":       func(r *Request) { r.Service = "cvm" },
		"ScopeDate":     func(r *Request) { r.ScopeDate = "2026-12-03" },
		"SignedHeaders": func(r *Request) { r.SignedHeaders = "content-type;host" },
		"SignedBody":    func(r *Request) { r.SignedBody = &other },
	} {
		r := base
		edit(&r)
		if signature(r) == signature(base) {
			t.Errorf("%s is not signed", name)
		}
	}
	r := base
	r.Version = "2017-03-12"
	if signature(r) != signature(base) {
		t.Error("the version changed the signature")
	}
	// A signed body of Body's value is Body's signature; header values
	// are signed lowercase.
	same := base.Body
	r = base
	r.SignedBody = &same
	if signature(r) != signature(base) {
		t.Error("SignedBody equal to Body changed the signature")
	}
	r = base
	r.Action = strings.ToUpper(base.Action)
	if signature(r) != signature(base) {
		t.Error("the action was not signed lowercase")
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	r = base
	r.Service, r.ScopeDate = "cvm", "2026-12-03"
	r.Sign(req)
	if auth := req.Header.Get("Authorization"); !strings.HasPrefix(auth, "TC3-HMAC-SHA256 Credential="+base.ID+"/2026-12-03/cvm/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=") {
		t.Errorf("Authorization %s", auth)
	}
}
