// Package tc3test signs Tencent Cloud API 3.0 requests by hand, with
// TC3-HMAC-SHA256, for tests: the requests the SDKs cannot send (a
// signature of another time, host, scope or body) and the plain ones of
// tests that have no SDK.
//
// It is written from the algorithm's published description, not from
// package cloudapi's verifier, and shares no code with it: tests use it
// as an independent oracle of what a client signs. It is imported by
// tests only.
package tc3test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Request is a Cloud API 3.0 request (POST / with a JSON body) and how
// it is signed. ID, Secret and Action are the caller's; every other
// field's zero value is the default a client sends.
type Request struct {
	ID, Secret string // the credential: SecretId and SecretKey
	Action     string // X-TC-Action
	Body       string

	// Host is the Host header, and the host signed; "" is the request's
	// own (for New, the address it is sent to).
	Host string
	// Time is the signature's time (X-TC-Timestamp); zero is now.
	Time time.Time
	// Version is X-TC-Version; "" is 2018-08-08 (the API gateway's).
	Version string
	// ContentType is the Content-Type header, and the one signed; "" is
	// application/json.
	ContentType string
	// Service is the credential scope's service; "" is apigateway.
	Service string
	// ScopeDate is the credential scope's date; "" is Time's UTC date.
	ScopeDate string
	// SignedHeaders names the headers signed, lowercase, separated by
	// ";", in the order they are signed (among content-type, host and
	// x-tc-action); "" is content-type;host.
	SignedHeaders string
	// SignedBody is the body the signature covers, when it is not Body
	// (a body changed after signing).
	SignedBody *string
}

// Sign sets req's Content-Type, X-TC-Action, X-TC-Version,
// X-TC-Timestamp and Authorization headers to those of r, signing the
// host r.Host or, when that is "", req.Host. It does not set req's Host
// or body.
func (r Request) Sign(req *http.Request) {
	host := r.Host
	if host == "" {
		host = req.Host
	}
	ts := r.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	version := or(r.Version, "2018-08-08")
	contentType := or(r.ContentType, "application/json")
	service := or(r.Service, "apigateway")
	date := or(r.ScopeDate, ts.UTC().Format(time.DateOnly))
	signedHeaders := or(r.SignedHeaders, "content-type;host")
	body := r.Body
	if r.SignedBody != nil {
		body = *r.SignedBody
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)

	// 1. The canonical request: method, URI, query, the signed headers
	// (name:value, both lowercase and trimmed, one a line), their names,
	// and the body's SHA-256, one a line.
	values := map[string]string{"content-type": contentType, "host": host, "x-tc-action": r.Action}
	var headers strings.Builder
	for _, name := range strings.Split(signedHeaders, ";") {
		headers.WriteString(name + ":" + strings.ToLower(strings.TrimSpace(values[name])) + "\n")
	}
	canonical := "POST\n/\n\n" + headers.String() + "\n" + signedHeaders + "\n" + sha256Hex(body)
	// 2. The string to sign: algorithm, timestamp, credential scope and
	// the canonical request's SHA-256.
	scope := date + "/" + service + "/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + sha256Hex(canonical)
	// 3. The key, derived from the secret through the scope, and the
	// signature over the string to sign, in lowercase hex.
	key := mac(mac(mac([]byte("TC3"+r.Secret), date), service), "tc3_request")
	signature := hex.EncodeToString(mac(key, toSign))

	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-TC-Action", r.Action)
	req.Header.Set("X-TC-Version", version)
	req.Header.Set("X-TC-Timestamp", stamp)
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+r.ID+"/"+scope+", SignedHeaders="+signedHeaders+", Signature="+signature)
}

// New returns r as a POST of r.Body to http://addr/ (with Host r.Host
// when that is set), signed.
func (r Request) New(t testing.TB, addr string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	r.Sign(req)
	return req
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
