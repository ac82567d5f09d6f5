package cloudapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// Algorithm is the only signature algorithm the admin API accepts.
const Algorithm = "TC3-HMAC-SHA256"

// tc3Terminator ends every TC3 credential scope.
const tc3Terminator = "tc3_request"

// unsignedPayload is what a client that does not sign the body sends in
// X-TC-Content-SHA256 (and hashes in place of the body).
const unsignedPayload = "UNSIGNED-PAYLOAD"

// Authorization is a parsed TC3-HMAC-SHA256 Authorization header:
//
//	TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=content-type;host, Signature=<64 hex>
type Authorization struct {
	SecretID string
	// Date (YYYY-MM-DD) and Service are the credential scope as the
	// client sent it; the signing key is derived from them as they are.
	Date, Service string
	// SignedHeaders are the lowercase header names, in the order sent
	// (which must be ascending).
	SignedHeaders []string
	Signature     [sha256.Size]byte
}

// Scope returns the credential scope, date/service/tc3_request.
func (a *Authorization) Scope() string { return a.Date + "/" + a.Service + "/" + tc3Terminator }

// ParseAuthorization parses a TC3-HMAC-SHA256 Authorization header. It
// never panics; every refusal is an *Error with code
// AuthFailure.InvalidAuthorization whose message says what is wrong
// (and never repeats the signature).
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		if alg, _, _ := strings.Cut(h, " "); alg != "" && !strings.ContainsAny(alg, "=,") {
			return a, invalidAuth("algorithm " + quoteShort(alg) + " is not supported; sign with " + Algorithm)
		}
		return a, invalidAuth("the Authorization header must start with " + Algorithm)
	}
	var cred, signed, sig string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, invalidAuth("Authorization parameters are Name=value, separated by commas")
		}
		var slot *string
		var i int
		switch name {
		case "Credential":
			slot, i = &cred, 0
		case "SignedHeaders":
			slot, i = &signed, 1
		case "Signature":
			slot, i = &sig, 2
		default:
			return a, invalidAuth("unknown Authorization parameter " + quoteShort(name))
		}
		if seen[i] {
			return a, invalidAuth("Authorization parameter " + name + " is repeated")
		}
		seen[i], *slot = true, value
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return a, invalidAuth("the Authorization header needs Credential, SignedHeaders and Signature")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 4 || parts[3] != tc3Terminator {
		return a, invalidAuth("Credential must be <SecretId>/<YYYY-MM-DD>/<service>/tc3_request")
	}
	a.SecretID, a.Date, a.Service = parts[0], parts[1], parts[2]
	if a.SecretID == "" || a.Service == "" {
		return a, invalidAuth("Credential has an empty SecretId or service")
	}
	if !validDate(a.Date) {
		return a, invalidAuth("the Credential date must be YYYY-MM-DD")
	}
	if signed == "" {
		return a, invalidAuth("SignedHeaders is empty")
	}
	a.SignedHeaders = strings.Split(signed, ";")
	for i, name := range a.SignedHeaders {
		if !validHeaderName(name) {
			return a, invalidAuth("SignedHeaders must list lowercase header names separated by ';'")
		}
		if i > 0 && a.SignedHeaders[i-1] >= name {
			return a, invalidAuth("SignedHeaders must be sorted and list each header once")
		}
	}
	if len(sig) != 2*sha256.Size {
		return a, invalidAuth("Signature must be 64 lowercase hexadecimal digits")
	}
	for i := 0; i < len(sig); i++ {
		if c := sig[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return a, invalidAuth("Signature must be 64 lowercase hexadecimal digits")
		}
	}
	if _, err := hex.Decode(a.Signature[:], []byte(sig)); err != nil {
		return a, invalidAuth("Signature must be 64 lowercase hexadecimal digits")
	}
	return a, nil
}

func validDate(d string) bool {
	if len(d) != 10 || d[4] != '-' || d[7] != '-' {
		return false
	}
	for i := 0; i < len(d); i++ {
		if i != 4 && i != 7 && (d[i] < '0' || d[i] > '9') {
			return false
		}
	}
	return true
}

func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// quoteShort quotes s for a message, cut to 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(`"`+s+`"`, "?")
}

// signedRequest is what TC3 signs of one request.
type signedRequest struct {
	method    string
	timestamp string // X-TC-Timestamp as sent
	// headers are the values of the signed headers, in SignedHeaders
	// order, as sent (canonicalisation trims and lowercases them).
	headers     []string
	payloadHash string // lowercase hex SHA-256 of the body
}

// signedBy reports whether a's signature is r's under secret. TC3
// lowercases the signed headers' values, but the Go SDK signs its Host
// as configured: a request with a capital letter in a signed value is
// checked with the values as sent too. Either way only the secret's
// holder could have signed it.
func (r *signedRequest) signedBy(secret []byte, a *Authorization) bool {
	for _, lower := range []bool{true, false} {
		want := signature(secret, a, stringToSign(a, r.timestamp, canonicalRequest(a, r, lower)))
		if hmac.Equal(want[:], a.Signature[:]) {
			return true
		}
		if !slices.ContainsFunc(r.headers, func(v string) bool { return strings.ToLower(v) != v }) {
			return false
		}
	}
	return false
}

// canonicalRequest builds the TC3 canonical request of a POST to "/"
// without a query string: the signed headers' values trimmed, and
// lowercased if lower.
func canonicalRequest(a *Authorization, r *signedRequest, lower bool) string {
	var b strings.Builder
	b.WriteString(r.method)
	b.WriteString("\n/\n\n")
	for i, name := range a.SignedHeaders {
		v := strings.TrimSpace(r.headers[i])
		if lower {
			v = strings.ToLower(v)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(a.SignedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(r.payloadHash)
	return b.String()
}

// stringToSign is TC3's string to sign for a canonical request.
func stringToSign(a *Authorization, timestamp, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + timestamp + "\n" + a.Scope() + "\n" + hex.EncodeToString(h[:])
}

// signature computes the TC3 signature of s with secret, deriving the
// key from the credential scope as the client sent it.
func signature(secret []byte, a *Authorization, s string) [sha256.Size]byte {
	k := hmacSHA256(append([]byte("TC3"), secret...), a.Date)
	k = hmacSHA256(k, a.Service)
	k = hmacSHA256(k, tc3Terminator)
	var out [sha256.Size]byte
	copy(out[:], hmacSHA256(k, s))
	return out
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// sha256Hex returns the lowercase hex SHA-256 of b.
func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
