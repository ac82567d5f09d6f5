package cloudapi

import (
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// authenticate verifies r's TC3-HMAC-SHA256 signature against the admin
// credentials and returns the credential, the body it signed and the
// request's key in the replay record of writes (seenKey).
func (h *Handler) authenticate(r *http.Request, now time.Time) (Credential, []byte, [sha256.Size]byte, *Error) {
	cred, body, a, ts, err := h.verify(r, now)
	if err != nil {
		return Credential{}, nil, [sha256.Size]byte{}, err
	}
	return cred, body, seenKey(a.SecretID, ts, r.Header.Get("X-TC-Action"), &a.Signature), nil
}

func (h *Handler) verify(r *http.Request, now time.Time) (Credential, []byte, Authorization, string, *Error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data" {
			return Credential{}, nil, Authorization{}, "", invalidAuth("the HmacSHA1/HmacSHA256 signature methods are not supported; sign with " + Algorithm)
		}
		return Credential{}, nil, Authorization{}, "", invalidAuth("an Authorization header signed with " + Algorithm + " is required")
	}
	if len(r.Header.Values("Authorization")) > 1 {
		return Credential{}, nil, Authorization{}, "", invalidAuth("Authorization is sent more than once")
	}
	a, err := ParseAuthorization(auth)
	if err != nil {
		return Credential{}, nil, Authorization{}, "", err.(*Error)
	}
	if !containsAll(a.SignedHeaders, "content-type", "host") {
		return Credential{}, nil, Authorization{}, "", invalidAuth("SignedHeaders must include content-type and host")
	}
	if h.cfg.RequireSignedAction && !containsAll(a.SignedHeaders, "x-tc-action") {
		return Credential{}, nil, Authorization{}, "", invalidAuth("SignedHeaders must include x-tc-action")
	}
	if t := r.Header.Values("X-TC-Content-SHA256"); len(t) > 0 {
		return Credential{}, nil, Authorization{}, "", invalidAuth("the body must be signed: X-TC-Content-SHA256 (UNSIGNED-PAYLOAD) is not accepted")
	}
	if r.Header.Get("X-TC-Token") != "" {
		return Credential{}, nil, Authorization{}, "", &Error{Code: CodeTokenFailure, Message: "temporary credentials (X-TC-Token) are not accepted by the admin API"}
	}
	cred, ok := h.creds[a.SecretID]
	if !ok {
		return Credential{}, nil, Authorization{}, "", errorf(CodeSecretIDNotFound, "no admin credential has SecretId %s", quoteShort(a.SecretID))
	}
	ts, terr := timestamp(r, a, now)
	if terr != nil {
		return Credential{}, nil, Authorization{}, "", terr
	}
	body, berr := readBody(r)
	if berr != nil {
		return Credential{}, nil, Authorization{}, "", berr
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return Credential{}, nil, Authorization{}, "", errorf(CodeUnsupportedProtocol, "Content-Type must be application/json")
	}
	sr := signedRequest{method: r.Method, timestamp: ts, payloadHash: sha256Hex(body)}
	for _, name := range a.SignedHeaders {
		var v string
		if name == "host" {
			v = r.Host
		} else {
			vs := r.Header.Values(name)
			if len(vs) != 1 {
				return Credential{}, nil, Authorization{}, "", invalidAuth("signed header " + name + " must be sent exactly once")
			}
			v = vs[0]
		}
		sr.headers = append(sr.headers, v)
	}
	if !sr.signedBy([]byte(cred.SecretKey.Reveal()), &a) {
		return Credential{}, nil, Authorization{}, "", &Error{Code: CodeSignatureFailure, Message: "the signature does not match the request; check the SecretKey, the endpoint (Host) and the body"}
	}
	return cred, body, a, ts, nil
}

// timestamp checks X-TC-Timestamp: decimal Unix seconds within
// MaxClockSkew of now, on the day the credential scope names.
func timestamp(r *http.Request, a Authorization, now time.Time) (string, *Error) {
	vs := r.Header.Values("X-TC-Timestamp")
	if len(vs) != 1 || vs[0] == "" || len(vs[0]) > 12 {
		return "", invalidAuth("X-TC-Timestamp must be sent once, in Unix seconds")
	}
	sec, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || sec < 0 || strconv.FormatInt(sec, 10) != vs[0] {
		return "", invalidAuth("X-TC-Timestamp must be a decimal number of Unix seconds")
	}
	skew := now.Unix() - sec
	if skew > int64(MaxClockSkew/time.Second) || skew < -int64(MaxClockSkew/time.Second) {
		return "", &Error{Code: CodeSignatureExpire, Message: fmt.Sprintf("X-TC-Timestamp is %d s away from the server's clock (at most %d s allowed)", skew, int64(MaxClockSkew/time.Second))}
	}
	if d := time.Unix(sec, 0).UTC().Format(time.DateOnly); d != a.Date {
		return "", invalidAuth("the Credential date must be the UTC date of X-TC-Timestamp, " + d)
	}
	return vs[0], nil
}

func readBody(r *http.Request) ([]byte, *Error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, errorf(CodeUnsupportedProtocol, "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return nil, errorf(CodeRequestSizeLimitExceeded, "the request body is larger than %d bytes", MaxBodyBytes)
	}
	return body, nil
}

func containsAll(list []string, names ...string) bool {
	for _, n := range names {
		found := false
		for _, l := range list {
			found = found || l == n
		}
		if !found {
			return false
		}
	}
	return true
}
