package keys

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const fresh = "Mon, 23 Nov 2026 12:00:00 GMT" // t0

// signed builds a request whose Authorization is computed by hand over
// the given headers (name → value, in list order) so that tests can forge
// anything.
type forged struct {
	id, alg, list string
	values        [][2]string // headers to set, in order (may repeat)
	secret        string
	sigOverride   *string
	extraAuth     string
}

func (f forged) request() *http.Request {
	r := httptest.NewRequest("GET", "/orders/42?a=1", nil)
	for _, kv := range f.values {
		r.Header.Add(kv[0], kv[1])
	}
	secret := orDefaultString(f.secret, vectorSecret)
	alg := orDefaultString(f.alg, HMACSHA1)
	a := lookupAlgorithm(alg)
	sig := validSig() // stands in when the request cannot be signed
	if a != nil {
		m := a.start([]byte(secret))
		var hr headerReader
		// Old clients sign the names lowercase, whatever case they list.
		if writeSigningString(m, r, lowerASCII(f.list), &hr) == nil {
			sig = base64.StdEncoding.EncodeToString(m.finish())
		}
		m.release()
	}
	if f.sigOverride != nil {
		sig = *f.sigOverride
	}
	auth := Authorization{ID: orDefaultString(f.id, vectorID), Algorithm: alg, Headers: f.list, Signature: sig}
	r.Header.Set("Authorization", auth.String())
	if f.extraAuth != "" {
		r.Header.Add("Authorization", f.extraAuth)
	}
	return r
}

func ptr(s string) *string { return &s }

func validSig() string {
	h := hmac.New(sha1.New, []byte(vectorSecret))
	h.Write([]byte("x-date: " + fresh))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestAdversarialRequests(t *testing.T) {
	xdate := [2]string{"X-Date", fresh}
	good := forged{list: "x-date", values: [][2]string{xdate}}
	sig := validSig()
	raw := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }

	cases := []struct {
		name   string
		req    func() *http.Request
		cfg    VerifierConfig
		now    time.Time
		want   Reason // 0 = accepted
		header string
	}{
		{name: "valid baseline", req: good.request},
		{name: "no authorization", req: func() *http.Request { r := good.request(); r.Header.Del("Authorization"); return r }, want: ReasonNoAuthorization},
		{name: "duplicate authorization line", req: func() *http.Request {
			f := good
			f.extraAuth = good.request().Header.Get("Authorization")
			return f.request()
		}, want: ReasonMultipleHeader},
		{name: "wrong scheme", req: mutate(good, raw(`Basic dXNlcjpwYXNz`)), want: ReasonMalformed},
		{name: "scheme without params", req: mutate(good, raw(`hmac`)), want: ReasonMalformed},
		{name: "scheme glued to params", req: mutate(good, raw(`hmacid="x"`)), want: ReasonMalformed},
		{name: "missing id", req: mutate(good, raw(`hmac algorithm="hmac-sha1", headers="x-date", signature="`+sig+`"`)), want: ReasonIDOrSignatureMissing},
		{name: "missing signature", req: mutate(good, raw(`hmac id="`+vectorID+`", algorithm="hmac-sha1", headers="x-date"`)), want: ReasonIDOrSignatureMissing},
		{name: "empty signature", req: mutate(good, raw(`hmac id="`+vectorID+`", algorithm="hmac-sha1", headers="x-date", signature=""`)), want: ReasonIDOrSignatureMissing},
		{name: "missing algorithm", req: mutate(good, raw(`hmac id="`+vectorID+`", headers="x-date", signature="`+sig+`"`)), want: ReasonMalformed},
		{name: "missing headers", req: mutate(good, raw(`hmac id="`+vectorID+`", algorithm="hmac-sha1", signature="`+sig+`"`)), want: ReasonMalformed},
		{name: "repeated id", req: mutate(good, raw(`hmac id="`+vectorID+`", id="other", algorithm="hmac-sha1", headers="x-date", signature="`+sig+`"`)), want: ReasonMalformed},
		{name: "repeated signature, different case", req: mutate(good, raw(`hmac id="`+vectorID+`", algorithm="hmac-sha1", headers="x-date", signature="`+sig+`", Signature="`+sig+`"`)), want: ReasonMalformed},
		{name: "unterminated quote", req: mutate(good, raw(`hmac id="`+vectorID+`, algorithm="hmac-sha1"`)), want: ReasonMalformed},
		{name: "1 MiB header", req: mutate(good, raw(`hmac id="`+strings.Repeat("A", 1<<20)+`"`)), want: ReasonMalformed},
		{name: "too many params", req: mutate(good, raw(`hmac a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i=9`)), want: ReasonMalformed},
		{name: "lenient whitespace and case accepted", req: mutate(good, raw("HMAC   id =\t\""+vectorID+"\" ,algorithm= hmac-sha1 ,  headers=\"x-date\",signature=\""+sig+"\"")), want: 0},
		{name: "unknown algorithm", req: func() *http.Request { f := good; f.alg = "hmac-md5"; return f.request() }, want: ReasonAlgorithm},
		{name: "algorithm in wrong case", req: mutate(good, raw(`hmac id="`+vectorID+`", algorithm="HMAC-SHA1", headers="x-date", signature="`+sig+`"`)), want: ReasonAlgorithm},
		{name: "algorithm not allowed", req: good.request, cfg: VerifierConfig{Algorithms: []string{HMACSHA256}}, want: ReasonAlgorithm},
		{name: "empty headers list", req: func() *http.Request { f := good; f.list = ""; return f.request() }, want: ReasonMalformed},
		{name: "headers double space", req: func() *http.Request {
			f := good
			f.list = "x-date  source"
			f.values = append(f.values, [2]string{"Source", "a"})
			return f.request()
		}, want: ReasonMalformed},
		{name: "headers leading space", req: func() *http.Request { f := good; f.list = " x-date"; return f.request() }, want: ReasonMalformed},
		{name: "headers trailing space", req: func() *http.Request { f := good; f.list = "x-date "; return f.request() }, want: ReasonMalformed},
		{name: "headers mixed case accepted", req: func() *http.Request { f := good; f.list = "X-Date"; return f.request() }, want: 0},
		{name: "headers Date Source accepted", req: func() *http.Request {
			f := good
			f.list, f.values = "Date Source", [][2]string{{"Date", fresh}, {"Source", "AndriodApp"}}
			return f.request()
		}, want: 0},
		{name: "headers duplicated", req: func() *http.Request { f := good; f.list = "x-date x-date"; return f.request() }, want: ReasonMalformed},
		{name: "headers duplicated in two cases", req: func() *http.Request { f := good; f.list = "x-date X-Date"; return f.request() }, want: ReasonMalformed},
		{name: "headers duplicated, both capitalised", req: func() *http.Request {
			f := good
			f.list, f.values = "x-date Source SOURCE", [][2]string{xdate, {"Source", "a"}}
			return f.request()
		}, want: ReasonMalformed},
		{name: "no date signed", req: func() *http.Request {
			f := good
			f.list, f.values = "source", [][2]string{xdate, {"Source", "a"}}
			return f.request()
		}, want: ReasonNoDate},
		{name: "listed header absent", req: func() *http.Request { f := good; f.list = "x-date source"; return f.request() }, want: ReasonHeaderMissing, header: "source"},
		{name: "signed header sent twice", req: func() *http.Request {
			f := good
			f.list, f.values = "x-date source", [][2]string{xdate, {"Source", "a"}, {"Source", "b"}}
			return f.request()
		}, want: ReasonMultipleHeader},
		{name: "x-date sent twice", req: func() *http.Request { f := good; f.values = [][2]string{xdate, xdate}; return f.request() }, want: ReasonMultipleHeader},
		{name: "CR LF in signed value", req: func() *http.Request {
			f := good
			f.list, f.values = "x-date source", [][2]string{xdate, {"Source", "a\r\nx-evil: 1"}}
			return f.request()
		}, want: ReasonHeaderMissing, header: "source"},
		{name: "NUL in signed value", req: func() *http.Request {
			f := good
			f.list, f.values = "x-date source", [][2]string{xdate, {"Source", "a\x00"}}
			return f.request()
		}, want: ReasonHeaderMissing, header: "source"},
		{name: "required header not signed", req: good.request, cfg: VerifierConfig{RequiredHeaders: []string{RequestTarget}}, want: ReasonHeaderMissing, header: RequestTarget},
		{name: "nonce required, not signed", req: good.request, cfg: VerifierConfig{RequireNonce: true}, want: ReasonHeaderMissing, header: "x-nonce"},
		{name: "nonce required, signed empty", cfg: VerifierConfig{RequireNonce: true}, req: func() *http.Request {
			f := good
			f.list, f.values = "x-date x-nonce", [][2]string{xdate, {"X-Nonce", ""}}
			return f.request()
		}, want: ReasonHeaderMissing, header: "x-nonce"},
		{name: "nonce required, sent twice", cfg: VerifierConfig{RequireNonce: true}, req: func() *http.Request {
			f := good
			f.list, f.values = "x-date x-nonce", [][2]string{xdate, {"X-Nonce", "a"}, {"X-Nonce", "b"}}
			return f.request()
		}, want: ReasonMultipleHeader},
		{name: "nonce required and signed", cfg: VerifierConfig{RequireNonce: true}, req: func() *http.Request {
			f := good
			f.list, f.values = "x-date X-Nonce", [][2]string{xdate, {"X-Nonce", "n0nce"}}
			return f.request()
		}, want: 0},
		{name: "stale x-date", req: good.request, now: t0.Add(901 * time.Second), want: ReasonDateOutOfWindow, header: "x-date"},
		{name: "stale date names date", req: func() *http.Request {
			f := good
			f.list, f.values = "date source", [][2]string{{"Date", fresh}, {"Source", "AndriodApp"}}
			return f.request()
		}, now: t0.Add(-time.Hour), want: ReasonDateOutOfWindow, header: "date"},
		{name: "x-date from the future", req: good.request, now: t0.Add(-901 * time.Second), want: ReasonDateOutOfWindow},
		{name: "edge of window accepted", req: good.request, now: t0.Add(900 * time.Second), want: 0},
		{name: "year 9999", req: withDate(good, "Fri, 31 Dec 9999 23:59:59 GMT"), want: ReasonDateOutOfWindow},
		{name: "year 0001", req: withDate(good, "Mon, 01 Jan 0001 00:00:00 GMT"), want: ReasonDateOutOfWindow},
		{name: "RFC 850 date", req: withDate(good, "Monday, 23-Nov-26 12:00:00 GMT"), want: ReasonDateOutOfWindow},
		{name: "ANSI C date", req: withDate(good, "Mon Nov 23 12:00:00 2026"), want: ReasonDateOutOfWindow},
		{name: "non-GMT zone", req: withDate(good, "Mon, 23 Nov 2026 13:00:00 CET"), want: ReasonDateOutOfWindow},
		{name: "wrong weekday", req: withDate(good, "Tue, 23 Nov 2026 12:00:00 GMT"), want: ReasonDateOutOfWindow},
		{name: "unpadded day", req: withDate(good, "Mon, 3 Nov 2026 12:00:00 GMT"), want: ReasonDateOutOfWindow},
		{name: "stale signed date, fresh unsigned x-date", req: func() *http.Request {
			f := good
			f.list, f.values = "date", [][2]string{{"Date", "Mon, 23 Nov 2026 10:00:00 GMT"}, xdate}
			return f.request()
		}, want: ReasonDateOutOfWindow, header: "date"},
		{name: "legacy: Date never checked", cfg: VerifierConfig{LegacyUncheckedDate: true}, req: func() *http.Request {
			f := good
			f.list, f.values = "date", [][2]string{{"Date", "Mon, 23 Nov 2026 10:00:00 GMT"}}
			return f.request()
		}, want: 0},
		{name: "legacy: X-Date still checked", cfg: VerifierConfig{LegacyUncheckedDate: true}, req: good.request, now: t0.Add(time.Hour), want: ReasonDateOutOfWindow},
		{name: "date and x-date disagree", req: func() *http.Request {
			f := good
			f.list, f.values = "x-date date", [][2]string{xdate, {"Date", "Mon, 23 Nov 2026 12:00:05 GMT"}}
			return f.request()
		}, want: ReasonDateOutOfWindow},
		{name: "unknown key", req: func() *http.Request { f := good; f.id = "nobody"; return f.request() }, want: ReasonUnknownKey},
		{name: "disabled key", req: func() *http.Request { f := good; f.id, f.secret = "disabled1", "disabledsecret"; return f.request() }, want: ReasonUnknownKey},
		{name: "wrong secret", req: func() *http.Request { f := good; f.secret = "another-secret"; return f.request() }, want: ReasonSignatureMismatch},
		{name: "swapped header names, same MAC", req: func() *http.Request {
			// Sign "x-date source", then claim "source x-date": values swap places.
			f := good
			f.list, f.values = "x-date source", [][2]string{xdate, {"Source", fresh}}
			r := f.request()
			a, _ := ParseAuthorization(r.Header.Get("Authorization"))
			a.Headers = "source x-date"
			r.Header.Set("Authorization", a.String())
			return r
		}, want: ReasonSignatureMismatch},
		{name: "unpadded base64", req: func() *http.Request { f := good; f.sigOverride = ptr(strings.TrimRight(sig, "=")); return f.request() }, want: ReasonSignatureMismatch},
		{name: "URL-safe base64", req: func() *http.Request {
			f := good
			f.sigOverride = ptr(strings.NewReplacer("+", "-", "/", "_").Replace(sig) + "")
			return f.request()
		}, want: sigVariantReason(sig)},
		{name: "non-canonical padding bits", req: func() *http.Request { f := good; f.sigOverride = ptr(flipLastBits(sig)); return f.request() }, want: ReasonSignatureMismatch},
		{name: "base64 with embedded newline", req: func() *http.Request { f := good; f.sigOverride = ptr(sig[:10] + "\n" + sig[10:]); return f.request() }, want: ReasonMalformed},
		{name: "MAC prefix", req: func() *http.Request {
			raw, _ := base64.StdEncoding.DecodeString(sig)
			f := good
			f.sigOverride = ptr(base64.StdEncoding.EncodeToString(raw[:10]))
			return f.request()
		}, want: ReasonSignatureMismatch},
		{name: "sha256-length MAC with sha1", req: func() *http.Request {
			f := good
			f.sigOverride = ptr(base64.StdEncoding.EncodeToString(make([]byte, 32)))
			return f.request()
		}, want: ReasonSignatureMismatch},
		{name: "request-target changed", cfg: VerifierConfig{RequiredHeaders: []string{RequestTarget}}, req: func() *http.Request {
			f := good
			f.list = "x-date (request-target)"
			r := f.request()
			r.Method = "DELETE"
			return r
		}, want: ReasonSignatureMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(testKeys(), tc.cfg)
			require.NoError(t, err)
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			k, err := v.VerifyAt(tc.req(), now)
			if tc.want == 0 {
				require.NoError(t, err)
				require.Equal(t, vectorID, k.ID)
				return
			}
			requireReason(t, err, tc.want)
			if tc.header != "" {
				var ae *AuthError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, tc.header, ae.Header)
				if tc.want == ReasonDateOutOfWindow { // the message names the header that was checked
					require.Equal(t, "HMAC signature cannot be verified, the "+tc.header+" header is out of date for HMAC Authentication.", ae.Message())
				}
			}
			require.NotContains(t, err.Error(), vectorSecret)
		})
	}
	require.GreaterOrEqual(t, len(cases), 40)
}

// A URL-safe variant of a signature without '+' or '/' is the same
// string, so it verifies; otherwise it is refused.
func sigVariantReason(sig string) Reason {
	if strings.ContainsAny(sig, "+/") {
		return ReasonSignatureMismatch
	}
	return 0
}

func flipLastBits(sig string) string {
	// A 20-byte MAC encodes in 28 characters with one '=': the last
	// data character carries 2 unused bits. Set one of them.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := len(sig) - 2
	idx := strings.IndexByte(alphabet, sig[i])
	return sig[:i] + string(alphabet[idx^1]) + sig[i+1:]
}

func mutate(f forged, fn func(*http.Request)) func() *http.Request {
	return func() *http.Request { r := f.request(); fn(r); return r }
}

func withDate(f forged, date string) func() *http.Request {
	return func() *http.Request { f.values = [][2]string{{"X-Date", date}}; return f.request() }
}

// A ClockSkew above MaxClockSkew is refused: past year 2262 a signed date
// plus the skew overflows the replay cache's expiry (Unix nanoseconds),
// which then dropped the signature at once, so that the same request
// verified again and again. At MaxClockSkew, a request dated as far
// ahead as it may be is refused the second time.
func TestClockSkewIsBounded(t *testing.T) {
	for _, skew := range []time.Duration{-time.Second, MaxClockSkew + time.Second, 200 * 365 * 24 * time.Hour, time.Duration(1<<63 - 1)} {
		if _, err := NewVerifier(testKeys(), VerifierConfig{ClockSkew: skew}); err == nil {
			t.Errorf("ClockSkew %v accepted", skew)
		}
	}
	v, err := NewVerifier(testKeys(), VerifierConfig{ClockSkew: MaxClockSkew, ReplayCachePerKey: 10})
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/orders", nil)
	require.NoError(t, (&Signer{ID: vectorID, Secret: NewSecret(vectorSecret)}).SignAt(r, t0.Add(MaxClockSkew)))
	_, err = v.VerifyAt(r, t0)
	require.NoError(t, err)
	_, err = v.VerifyAt(r, t0.Add(2*MaxClockSkew))
	requireReason(t, err, ReasonReplayed)
}

// A Lookup (a database) that returns an enabled key without a secret
// does not make the verifier accept a MAC keyed with nothing, which
// anyone who knows the key's public ID could compute.
func TestKeyWithoutSecretIsRefused(t *testing.T) {
	v, err := NewVerifier(lookupMap{"dbkey1": {ID: "dbkey1", Name: "db"}}, VerifierConfig{})
	require.NoError(t, err)
	mac := hmac.New(sha1.New, nil)
	mac.Write([]byte("x-date: " + fresh))
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("X-Date", fresh)
	r.Header.Set("Authorization", Authorization{ID: "dbkey1", Algorithm: HMACSHA1, Headers: "x-date",
		Signature: base64.StdEncoding.EncodeToString(mac.Sum(nil))}.String())
	_, err = v.VerifyAt(r, t0)
	requireReason(t, err, ReasonUnknownKey)
}
