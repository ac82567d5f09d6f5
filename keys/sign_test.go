package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/internal/scatter"
)

const (
	vectorSecret = "ZxF2whO0RhuwnVCj5JMMAuqcDcN2oPrC"
	vectorID     = "AKIDCgOPWjQ6BAxvHtyckhWABJVYSBj548pN"
)

// The published test vectors: the signing string and the signature.
func TestSpecVectors(t *testing.T) {
	cases := []struct {
		dateHeader, date, alg, want string
	}{
		{"date", "Fri, 09 Oct 2015 00:00:00 GMT", HMACSHA1, "zJ1fUmiWSmSZUoqgZi+dGUJvxn0="},
		{"date", "Fri, 09 Oct 2015 00:00:00 GMT", HMACSHA256, "P6FsmuKopyHp3tBPMSjBX/N2PG3dOU6NE0LVHAFfeFk="},
		{"x-date", "Mon, 19 Mar 2018 12:08:40 GMT", HMACSHA1, "NI05zGaK4h8BfAh6EQ05ZJ2vG4k="},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(c.dateHeader, c.date)
		r.Header.Set("Source", "AndriodApp")
		ss, err := SigningString(r, []string{c.dateHeader, "source"})
		require.NoError(t, err)
		require.Equal(t, c.dateHeader+": "+c.date+"\nsource: AndriodApp", ss)

		m := lookupAlgorithm(c.alg).start([]byte(vectorSecret))
		m.writeString(ss)
		got := base64.StdEncoding.EncodeToString(m.finish())
		m.release()
		require.Equal(t, c.want, got, c.alg)

		// The signer produces the same signature at that date.
		now, _ := time.Parse(http.TimeFormat, c.date)
		s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Algorithm: c.alg, Headers: []string{c.dateHeader, "source"}, Source: "AndriodApp"}
		r2 := httptest.NewRequest("GET", "/", nil)
		require.NoError(t, s.SignAt(r2, now))
		auth, err := ParseAuthorization(r2.Header.Get("Authorization"))
		require.NoError(t, err)
		require.Equal(t, c.want, auth.Signature)
	}
}

// The pooled HMAC agrees with crypto/hmac for every algorithm, key length
// (including keys longer than a block) and message length.
func TestMACMatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range Algorithms() {
		alg := lookupAlgorithm(name)
		for range 200 {
			key := make([]byte, rng.IntN(300))
			msg := make([]byte, rng.IntN(2000))
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			ref := hmac.New(func() hash.Hash { return alg.pool.New().(*macState).h }, key)
			ref.Write(msg)
			m := alg.start(key)
			m.writeString(string(msg))
			require.Equal(t, ref.Sum(nil), m.finish(), "%s key %d msg %d", name, len(key), len(msg))
			m.release()
		}
	}
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// A second enabled key, for tests where one key must not affect another.
const (
	otherID     = "other_key_1"
	otherSecret = "other-secret-0123"
)

type lookupMap map[string]Key

func (l lookupMap) LookupKey(_ context.Context, id string) (Key, error) {
	if k, ok := l[id]; ok {
		return k, nil
	}
	return Key{}, ErrNotFound
}

func testKeys() lookupMap {
	return lookupMap{
		vectorID:    {ID: vectorID, Name: "k", Secret: NewSecret(vectorSecret)},
		"disabled1": {ID: "disabled1", Name: "d", Secret: NewSecret("disabledsecret"), Status: Disabled},
		otherID:     {ID: otherID, Name: "other", Secret: NewSecret(otherSecret)},
	}
}

func TestRoundTripEveryAlgorithm(t *testing.T) {
	v, err := NewVerifier(testKeys(), VerifierConfig{RequiredHeaders: []string{RequestTarget}})
	require.NoError(t, err)
	for _, alg := range Algorithms() {
		for _, headers := range [][]string{
			{"x-date", RequestTarget},
			{RequestTarget, "date", "source", "content-type"},
			{"host", "x-date", RequestTarget},
		} {
			s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Algorithm: alg, Headers: headers, Source: "app"}
			r := httptest.NewRequest("POST", "http://api.example.com/orders/42?x=1&y=%20", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			require.NoError(t, s.SignAt(r, t0))
			k, err := v.VerifyAt(r, t0.Add(10*time.Second))
			require.NoError(t, err, "%s %v", alg, headers)
			require.Equal(t, vectorID, k.ID)

			// (request-target) binds the signature to the request line.
			r.RequestURI = "/orders/43?x=1&y=%20"
			_, err = v.VerifyAt(r, t0)
			requireReason(t, err, ReasonSignatureMismatch)
		}
	}
}

// VerifyIn looks the key up where it is told to, not in the verifier's
// own Lookup (the middleware passes the request's registry snapshot).
func TestVerifyInUsesTheGivenLookup(t *testing.T) {
	v, err := NewVerifier(lookupMap{}, VerifierConfig{})
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/orders/42", nil)
	s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret)}
	require.NoError(t, s.SignAt(r, t0))

	_, err = v.VerifyAt(r, t0)
	requireReason(t, err, ReasonUnknownKey)
	k, err := v.VerifyIn(context.Background(), r, testKeys(), t0)
	require.NoError(t, err)
	require.Equal(t, vectorID, k.ID)
	_, err = v.VerifyIn(context.Background(), r, lookupMap{vectorID: {ID: vectorID, Secret: NewSecret(vectorSecret), Status: Disabled}}, t0)
	requireReason(t, err, ReasonUnknownKey)
}

// failingLookup cannot tell: its store is down.
type failingLookup struct{ err error }

func (f failingLookup) LookupKey(context.Context, string) (Key, error) { return Key{}, f.err }

// ctxLookup records the context it was given.
type ctxLookup struct {
	lookupMap
	got *context.Context
}

func (c ctxLookup) LookupKey(ctx context.Context, id string) (Key, error) {
	*c.got = ctx
	return c.lookupMap.LookupKey(ctx, id)
}

// A lookup that fails is not an unknown key: the error is a
// *LookupError wrapping the lookup's, never an *AuthError (which would
// answer 401 to a client that did nothing wrong). An error that wraps
// ErrNotFound is an unknown key. The lookup gets the context it was
// given: the request's for VerifyAt, the caller's for VerifyIn.
func TestLookupErrorsAreNotRefusals(t *testing.T) {
	r := httptest.NewRequest("GET", "/orders/42", nil)
	s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret)}
	require.NoError(t, s.SignAt(r, t0))

	outage := errors.New("connection refused")
	v, err := NewVerifier(failingLookup{outage}, VerifierConfig{})
	require.NoError(t, err)
	_, err = v.VerifyAt(r, t0)
	require.ErrorIs(t, err, outage)
	var le *LookupError
	require.ErrorAs(t, err, &le)
	require.Equal(t, vectorID, le.ID)
	var ae *AuthError
	require.False(t, errors.As(err, &ae), "a failed lookup is not a refusal: %v", err)

	_, err = v.VerifyIn(context.Background(), r, failingLookup{fmt.Errorf("db: %w", ErrNotFound)}, t0)
	requireReason(t, err, ReasonUnknownKey)

	type ctxKey struct{}
	var got context.Context
	rc := r.WithContext(context.WithValue(r.Context(), ctxKey{}, "request"))
	v, err = NewVerifier(ctxLookup{testKeys(), &got}, VerifierConfig{})
	require.NoError(t, err)
	_, err = v.VerifyAt(rc, t0)
	require.NoError(t, err)
	require.Equal(t, "request", got.Value(ctxKey{}))
	_, err = v.VerifyIn(context.WithValue(context.Background(), ctxKey{}, "caller"), rc, ctxLookup{testKeys(), &got}, t0)
	require.NoError(t, err)
	require.Equal(t, "caller", got.Value(ctxKey{}))
}

func requireReason(t *testing.T, err error, want Reason) {
	t.Helper()
	var ae *AuthError
	require.True(t, errors.As(err, &ae), "error %v is not an *AuthError", err)
	require.Equal(t, want, ae.Reason, "got %q", ae.Error())
}

func TestTransportSignsWithoutTouchingTheRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(204)
	}))
	defer srv.Close()
	tr := &Transport{Signer: &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Source: "wm"}, Now: func() time.Time { return t0 }}
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, req.Header.Get("Authorization"), "the caller's request is not modified")
	require.Equal(t, "Mon, 23 Nov 2026 12:00:00 GMT", got.Header.Get("X-Date"))
	require.Equal(t, "wm", got.Header.Get("Source"))
	require.Contains(t, got.Header.Get("Authorization"), `headers="x-date x-nonce source"`)
	require.Len(t, got.Header.Get(NonceHeader), 22, "128 random bits, base64url")
	v, _ := NewVerifier(testKeys(), VerifierConfig{})
	_, err = v.VerifyAt(got, t0)
	require.NoError(t, err)
}

func TestSignerRefusesBadSettings(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for _, s := range []*Signer{
		{ID: "x", Secret: NewSecret("s"), Algorithm: "md5"},
		{ID: "x", Secret: NewSecret("s"), Headers: []string{"source"}, Source: "a"},
		{ID: "x", Secret: NewSecret("s"), Headers: []string{"x-date", "X-Custom"}},
		{ID: "x", Secret: NewSecret("s"), Headers: []string{"x-date", "x-custom"}}, // absent
	} {
		require.Error(t, s.SignAt(r, t0))
	}
	// Names are matched ignoring ASCII case only: the Kelvin sign (U+212A)
	// is not a header name character, even though Unicode lowers it to
	// "k", and a signer that lowered it would sign a name it was not given.
	r.Header.Set("Key", "v")
	s := &Signer{ID: "x", Secret: NewSecret("s"), Headers: []string{"X-Date", "\u212Aey"}}
	require.Error(t, s.SignAt(r, t0))
}

func TestVerifierConfig(t *testing.T) {
	_, err := NewVerifier(testKeys(), VerifierConfig{ClockSkew: -time.Second})
	require.Error(t, err)
	_, err = NewVerifier(testKeys(), VerifierConfig{Algorithms: []string{"hmac-md5"}})
	require.Error(t, err)
	_, err = NewVerifier(testKeys(), VerifierConfig{RequiredHeaders: []string{"X-Upper"}})
	require.Error(t, err)
	_, err = NewVerifier(nil, VerifierConfig{})
	require.Error(t, err)
}

func TestSecretsNeverInErrors(t *testing.T) {
	s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret)}
	r := httptest.NewRequest("GET", "/", nil)
	require.NoError(t, s.SignAt(r, t0))
	good, _ := ParseAuthorization(r.Header.Get("Authorization"))
	r.Header.Set("X-Date", "Mon, 23 Nov 2026 12:00:01 GMT") // MAC no longer matches
	v, _ := NewVerifier(testKeys(), VerifierConfig{})
	_, err := v.VerifyAt(r, t0)
	requireReason(t, err, ReasonSignatureMismatch)
	assert.NotContains(t, err.Error(), vectorSecret)
	assert.NotContains(t, err.Error(), good.Signature)
}

// BenchmarkVerify: an old gateway client's signature (x-date, source).
func BenchmarkVerify(b *testing.B) {
	v, _ := NewVerifier(testKeys(), VerifierConfig{})
	s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Source: "AndriodApp", Headers: []string{"x-date", "source"}}
	r := httptest.NewRequest("GET", "/orders/42", nil)
	if err := s.SignAt(r, t0); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifyAt(r, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		scatter.Run(b, 1, func(_, count int) {
			for range count {
				if _, err := v.VerifyAt(r, t0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkBareHMACSHA1 is the baseline: crypto/hmac over the same
// signing string.
func BenchmarkBareHMACSHA1(b *testing.B) {
	msg := []byte("x-date: Mon, 23 Nov 2026 12:00:00 GMT\nsource: AndriodApp")
	key := []byte(vectorSecret)
	b.ReportAllocs()
	for b.Loop() {
		h := hmac.New(sha1.New, key)
		h.Write(msg)
		h.Sum(nil)
	}
}

// BenchmarkSign: the Transport's default signature (x-date, x-nonce,
// source).
func BenchmarkSign(b *testing.B) {
	s := &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Source: "AndriodApp"}
	r := httptest.NewRequest("GET", "/orders/42", nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SignAt(r, t0); err != nil {
			b.Fatal(err)
		}
	}
}
