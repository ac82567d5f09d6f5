package keys

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

// FuzzSignerMatchesTheWire: whatever the signer signs — any header
// value, any host, through any redirect — the verifier accepts the
// request that net/http puts on the wire (written with Request.Write and
// read back with http.ReadRequest, as a server would), and no hop to
// another origin than the first request's carries a signature.
func FuzzSignerMatchesTheWire(f *testing.F) {
	f.Add(" \tpadded\t ", "api.example.com", "/next?a=1", true)
	f.Add("plain", "bücher.example:8080", "http://other.example/steal", true)
	f.Add("", "127.0.0.1:8080", "https://127.0.0.1:8080/tls", false)
	f.Add("a\x01b", "[::1]:80", "//api.example.com/p", true)
	f.Add("ünïcode\xff", "API.Example.COM", "HTTP://api.example.com:80/up", true)
	v, err := NewVerifier(testKeys(), VerifierConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value, host, location string, signHost bool) {
		headers := []string{"x-date", "x-custom", RequestTarget}
		if signHost {
			headers = append(headers, "host")
		}
		req, err := http.NewRequest("GET", "http://"+host+"/start?q=1", nil)
		if err != nil {
			return
		}
		req.Header.Set("X-Custom", value)
		first := req.URL
		wire := roundTripper(func(r *http.Request) (*http.Response, error) {
			var b bytes.Buffer
			if err := r.Write(&b); err != nil {
				return nil, err // net/http would not send it either
			}
			got, err := http.ReadRequest(bufio.NewReader(&b))
			if err != nil {
				return nil, err
			}
			// net/http itself may send Authorization: Basic (userinfo in a
			// redirect's Location); only an hmac credential is the signer's.
			if strings.HasPrefix(got.Header.Get("Authorization"), Scheme+" ") {
				if !sameOrigin(first, r.URL) {
					t.Fatalf("a hop to %s (from %s) was signed", r.URL, first)
				}
				if _, err := v.VerifyAt(got, t0); err != nil {
					t.Fatalf("signed request refused: %v\n%s", err, b.String())
				}
			} else if r.Response == nil {
				t.Fatalf("the first request went out unsigned")
			}
			resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}
			if r.Response == nil && location != "" { // redirect the first hop only
				resp.StatusCode = http.StatusFound
				resp.Header.Set("Location", location)
			}
			return resp, nil
		})
		s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Headers: headers}
		c := &http.Client{Transport: &Transport{Signer: s, Base: wire, Now: func() time.Time { return t0 }}}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
