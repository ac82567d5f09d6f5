package keys

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzParseAuthorization: never panics; whatever parses formats back to a
// header that parses to the same value.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(`hmac id="AKID1", algorithm="hmac-sha1", headers="x-date source", signature="abc="`)
	f.Add(`HMAC id=x,algorithm=hmac-sha256 , headers="a\"b",signature="\\"`)
	f.Add(`hmac ,,, id="a",,algorithm=b,headers=c,signature=d,extra="x"`)
	f.Add(`hmac id="`)
	f.Fuzz(func(t *testing.T, v string) {
		a, err := ParseAuthorization(v)
		if err != nil {
			if _, ok := err.(*AuthError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		b, err := ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("formatted %q does not parse: %v", a.String(), err)
		}
		if a != b {
			t.Fatalf("round trip changed %+v to %+v", a, b)
		}
	})
}

// FuzzVerify: a signed request with one header mutated, added or removed
// never verifies unless the mutation leaves every signed part as it was,
// and the verifier never panics.
func FuzzVerify(f *testing.F) {
	f.Add("Source", "other", "")
	f.Add("X-Date", "Mon, 23 Nov 2026 12:00:01 GMT", "")
	f.Add("Authorization", `hmac id="AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN", algorithm="hmac-sha1", headers="x-date", signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="`, "")
	f.Add("X-Other", "x", "/other")
	f.Fuzz(func(t *testing.T, name, value, target string) {
		v, _ := NewVerifier(testKeys(), VerifierConfig{})
		s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Source: "app", Headers: []string{"x-date", "source", RequestTarget}}
		r := httptest.NewRequest("GET", "/orders/1?q=2", nil)
		if err := s.SignAt(r, t0); err != nil {
			t.Fatal(err)
		}
		before := r.Header.Clone()
		uri := r.RequestURI
		if target != "" {
			r.RequestURI = target
		}
		if name != "" {
			r.Header[name] = append(r.Header[name], value)
		}
		_, err := v.VerifyAt(r, t0)
		// A target not in origin-form is not what the client signed; the
		// verifier reads r.URL then, which the mutation leaves alone.
		targetChanged := r.RequestURI != uri && strings.HasPrefix(r.RequestURI, "/")
		if err == nil && (targetChanged || changedSigned(before, r.Header)) {
			t.Fatalf("a mutated request verified: %s=%q target=%q", name, value, target)
		}
	})
}

func changedSigned(before, after http.Header) bool {
	for _, h := range []string{"Authorization", "X-Date", "Source"} {
		if len(before[h]) != len(after[h]) || before.Get(h) != after.Get(h) {
			return true
		}
	}
	return false
}
