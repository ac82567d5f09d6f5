package middleware

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/planguard/planguard/keys"
)

// send signs a request with the old gateway's headers plus the request
// line (so that distinct paths give distinct MACs with or without a
// nonce) and sends it over loopback.
func (f *fixture) send(t *testing.T, path, id, secret string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	require.NoError(t, err)
	s := &keys.Signer{ID: id, Secret: keys.NewSecret(secret), Headers: []string{"x-date", keys.RequestTarget}}
	require.NoError(t, s.SignAt(req, f.clock()))
	return f.sendSigned(t, req)
}

func (f *fixture) sendSigned(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var body struct{ Message string }
	_ = json.Unmarshal(data, &body)
	return resp.StatusCode, body.Message, resp.Header
}

// Issue 12, finding 4: a key with no plan floods the replay cache; it is
// refused (its own share is full) and no other key is: a client that got
// 429 for QPS and retries with a fresh signature is served.
func TestReplayCacheOneKeyCannotLockOutAnother(t *testing.T) {
	const perKey = 8
	f := newFixture(t, Config{Verifier: keys.VerifierConfig{ReplayCachePerKey: perKey}}, nil)

	// The lone key is bound to no plan: 403 until its share is full,
	// then 429 with Retry-After.
	for i := range 3 * perKey {
		code, msg, h := f.send(t, "/release/orders/"+strconv.Itoa(i), loneKey, testSecret)
		if i < perKey {
			require.Equal(t, http.StatusForbidden, code, "request %d: %s", i, msg)
			continue
		}
		require.Equal(t, http.StatusTooManyRequests, code, "request %d: %s", i, msg)
		require.Equal(t, MessageQPS, msg)
		require.NotEmpty(t, h.Get(HeaderRetryAfter))
	}

	// The gold key, on its 1-QPS plan in "test": served, throttled, and
	// served again after a second with a fresh signature.
	code, msg, _ := f.send(t, "/test/orders/1", goldKey, goldSecret)
	require.Equal(t, http.StatusOK, code, msg)
	code, msg, _ = f.send(t, "/test/orders/2", goldKey, goldSecret)
	require.Equal(t, http.StatusTooManyRequests, code, msg)
	f.advance(time.Second)
	code, msg, _ = f.send(t, "/test/orders/2", goldKey, goldSecret)
	require.Equal(t, http.StatusOK, code, "a retry after 429 with a fresh signature: %s", msg)
}

// Issue 24, item 4: with the replay cache on, planguard's Transport gets
// every request of one second through (each signs its own nonce), a
// replayed request is refused with its own message, and a verifier that
// requires the nonce refuses a client that signs none.
func TestReplayCacheWithNonceOverLoopback(t *testing.T) {
	f := newFixture(t, Config{Verifier: keys.VerifierConfig{ReplayCachePerKey: 100, RequireNonce: true}}, nil)
	var sent []*http.Request
	capture := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.Clone(r.Context()))
		return f.srv.Client().Transport.RoundTrip(r)
	})
	client := &http.Client{Transport: &keys.Transport{
		Signer: &keys.Signer{ID: goldKey, Secret: keys.NewSecret(goldSecret)},
		Base:   capture, Now: f.clock, // one instant: one X-Date for every request
	}}
	for i := range 5 {
		resp, err := client.Get(f.srv.URL + "/release/orders")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d in the same second", i)
	}

	// The first request again, byte for byte: a replay.
	code, msg, _ := f.sendSigned(t, sent[0])
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, keys.MessageReplayed, msg)
	require.NotEqual(t, "HMAC signature cannot be verified.", msg)

	// An old client's signature (no nonce) is refused when the nonce is
	// required, naming the header.
	code, msg, _ = f.send(t, "/release/orders/9", goldKey, goldSecret)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "HMAC signature cannot be verified, a valid x-nonce header is required.", msg)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Issue 13, items 1 and 5, through the middleware: an old client that
// lists "Date Source" (and signs the names lowercase) is served; the same
// name twice in two cases is a format error; a Date an hour off is
// refused with a message that names the date header.
func TestOldClientsOverLoopback(t *testing.T) {
	f := newFixture(t, Config{}, nil)
	send := func(list string, date time.Time) (int, string) {
		req, err := http.NewRequest("GET", f.srv.URL+"/release/orders", nil)
		require.NoError(t, err)
		req.Header.Set("Date", date.UTC().Format(http.TimeFormat))
		req.Header.Set("Source", "AndriodApp")
		lower := []string{}
		for _, n := range strings.Fields(list) {
			lower = append(lower, strings.ToLower(n))
		}
		ss, _ := keys.SigningString(req, lower) // empty for a list with a repeated name
		h := hmac.New(sha1.New, []byte(goldSecret))
		h.Write([]byte(ss))
		auth := keys.Authorization{ID: goldKey, Algorithm: keys.HMACSHA1, Headers: list, Signature: base64.StdEncoding.EncodeToString(h.Sum(nil))}
		req.Header.Set("Authorization", auth.String())
		code, msg, _ := f.sendSigned(t, req)
		return code, msg
	}
	code, msg := send("Date Source", f.clock())
	require.Equal(t, http.StatusOK, code, msg)
	code, msg = send("date Source", f.clock())
	require.Equal(t, http.StatusOK, code, msg)
	code, msg = send("Date date Source", f.clock())
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "HMAC authorization format error.", msg)
	code, msg = send("Date Source", f.clock().Add(-time.Hour))
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "HMAC signature cannot be verified, the date header is out of date for HMAC Authentication.", msg)
}
