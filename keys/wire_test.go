package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// verifying is a loopback server that verifies every request at t0 and
// answers with next, or 200 and the key's ID when next is nil; a refusal
// gets its status and message. It records the requests it received.
type verifying struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newVerifying(t *testing.T, cfg VerifierConfig, next http.Handler) *verifying {
	t.Helper()
	v, err := NewVerifier(testKeys(), cfg)
	require.NoError(t, err)
	s := &verifying{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Clone(context.Background()))
		s.mu.Unlock()
		k, err := v.VerifyAt(r, t0)
		if err != nil {
			http.Error(w, err.(*AuthError).Message(), err.(*AuthError).Status())
			return
		}
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		io.WriteString(w, k.ID)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *verifying) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[len(s.seen)-1]
}

func fetch(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func signingClient(s *Signer) *http.Client {
	return &http.Client{Transport: &Transport{Signer: s, Now: func() time.Time { return t0 }}}
}

// Issue 13, item 1: old clients list signed headers with capitals; they
// are accepted and signed lowercase, by the verifier and by the signer.
// The same name twice in two cases is still refused.
func TestMixedCaseHeaderNamesOverLoopback(t *testing.T) {
	srv := newVerifying(t, VerifierConfig{}, nil)
	// An old client: it lists "Date Source" and signs lowercase names,
	// as the old gateway's samples do.
	oldClient := func(list string, values map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/orders", nil)
		var lines []string
		for _, name := range strings.Fields(list) {
			req.Header.Set(name, values[strings.ToLower(name)])
			lines = append(lines, strings.ToLower(name)+": "+values[strings.ToLower(name)])
		}
		h := hmac.New(sha1.New, []byte(vectorSecret))
		h.Write([]byte(strings.Join(lines, "\n")))
		auth := Authorization{ID: vectorID, Algorithm: HMACSHA1, Headers: list, Signature: base64.StdEncoding.EncodeToString(h.Sum(nil))}
		req.Header.Set("Authorization", auth.String())
		return fetch(t, http.DefaultClient, req)
	}
	vals := map[string]string{"date": fresh, "x-date": fresh, "source": "AndriodApp"}
	for _, list := range []string{"Date Source", "X-Date Source", "x-date SOURCE", "date source"} {
		code, body := oldClient(list, vals)
		require.Equal(t, http.StatusOK, code, "%s: %s", list, body)
		require.Equal(t, vectorID, body)
	}
	for _, list := range []string{"Date date", "X-Date Source source"} {
		code, body := oldClient(list, vals)
		require.Equal(t, http.StatusUnauthorized, code, list)
		require.Equal(t, "HMAC authorization format error.", body, list)
	}

	// planguard's signer takes capitals too, and lists them lowercase.
	c := signingClient(&Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Headers: []string{"Date", "X-Nonce", "Source"}, Source: "app"})
	req, _ := http.NewRequest("GET", srv.URL+"/orders", nil)
	code, body := fetch(t, c, req)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, srv.last().Header.Get("Authorization"), `headers="date x-nonce source"`)
	c = signingClient(&Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Headers: []string{"x-date", "X-DATE"}})
	_, err := c.Get(srv.URL)
	require.Error(t, err, "a name twice in two cases")
}

// Issue 24, item 1: a redirect to another origin gets no signature; a
// redirect to the same origin is signed again (host included) and
// verifies.
func TestTransportRedirects(t *testing.T) {
	// The other host records what it got and answers without checking.
	var (
		mu        sync.Mutex
		otherSeen []*http.Request
		origin    *verifying
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherSeen = append(otherSeen, r.Clone(context.Background()))
		mu.Unlock()
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to+"/landed", http.StatusFound)
			return
		}
		io.WriteString(w, "other:"+r.Header.Get("Authorization"))
	}))
	defer other.Close()
	otherLast := func() *http.Request { mu.Lock(); defer mu.Unlock(); return otherSeen[len(otherSeen)-1] }
	// The origin serves only verified requests.
	origin = newVerifying(t, VerifierConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/release/orders", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/landed?x=1", http.StatusFound)
		case "/away-and-back":
			http.Redirect(w, r, other.URL+"/back?to="+origin.URL, http.StatusFound)
		default:
			io.WriteString(w, "origin:"+r.URL.RequestURI())
		}
	}))
	c := signingClient(&Signer{ID: vectorID, Secret: NewSecret(vectorSecret)})
	req, _ := http.NewRequest("GET", origin.URL+"/away", nil)
	code, body := fetch(t, c, req)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "other:", body, "the other host got no signature")
	got := otherLast()
	require.Empty(t, got.Header.Get("Authorization"))
	require.Empty(t, got.Header.Get("X-Date"))
	require.Empty(t, got.Header.Get(NonceHeader))

	// Signing the host and the request line, so that each hop's
	// signature is its own.
	c = signingClient(&Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Headers: []string{"host", "x-date", "x-nonce", RequestTarget}})
	req, _ = http.NewRequest("GET", origin.URL+"/here", nil)
	code, body = fetch(t, c, req)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "origin:/landed?x=1", body, "the same-origin hop is signed, for its own host and target")

	req, _ = http.NewRequest("GET", origin.URL+"/away-and-back", nil)
	code, body = fetch(t, c, req)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "origin:/landed", body, "back at the origin, signed again")
	require.Empty(t, otherLast().Header.Get("Authorization"))
}

// Issue 24, item 8: the signer signs what net/http sends — trimmed
// values, the punycode host, the host of a redirect hop, and
// content-length — over loopback.
func TestSignerSignsWhatGoesOnTheWire(t *testing.T) {
	srv := newVerifying(t, VerifierConfig{}, nil)
	sign := func(headers ...string) *Signer {
		return &Signer{ID: vectorID, Secret: NewSecret(vectorSecret), Headers: append([]string{"x-date"}, headers...)}
	}

	t.Run("values with leading and trailing blanks", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		req.Header.Set("X-Custom", " \t spaced value\t ")
		req.Header.Set("X-Empty", " \t ")
		code, body := fetch(t, signingClient(sign("x-custom", "x-empty")), req)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "spaced value", srv.last().Header.Get("X-Custom"))
	})
	t.Run("internationalised host in punycode", func(t *testing.T) {
		// Dial the loopback server whatever the name, so that net/http
		// sends the IDN host as it would to a real one.
		tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: &Transport{Signer: sign("host"), Base: tr, Now: func() time.Time { return t0 }}}
		req, _ := http.NewRequest("GET", "http://bücher.example:8080/x", nil)
		code, body := fetch(t, c, req)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "xn--bcher-kva.example:8080", srv.last().Host)
	})
	t.Run("host on a redirect hop", func(t *testing.T) {
		// Both hops are verified: the redirect is served only to a
		// signed request.
		hop := newVerifying(t, VerifierConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/from" {
				http.Redirect(w, r, "/to", http.StatusTemporaryRedirect)
				return
			}
			io.WriteString(w, "landed")
		}))
		req, _ := http.NewRequest("POST", hop.URL+"/from", strings.NewReader("body"))
		code, body := fetch(t, signingClient(sign("host", "content-length", RequestTarget)), req)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "landed", body)
	})
	t.Run("content-length", func(t *testing.T) {
		for _, tc := range []struct {
			method string
			body   io.Reader
		}{
			{"POST", strings.NewReader(`{"a":1}`)},
			{"PUT", nil},
			{"PATCH", http.NoBody},
		} {
			req, _ := http.NewRequest(tc.method, srv.URL+"/x", tc.body)
			code, body := fetch(t, signingClient(sign("content-length")), req)
			require.Equal(t, http.StatusOK, code, "%s: %s", tc.method, body)
		}
		// net/http sends no Content-Length, or decides while sending:
		// the signer says so instead of signing a value that is not sent.
		for _, req := range []*http.Request{
			httptest.NewRequest("GET", srv.URL+"/x", nil),
			func() *http.Request {
				r, _ := http.NewRequest("POST", srv.URL+"/x", io.MultiReader(strings.NewReader("x")))
				return r // unknown length: chunked
			}(),
		} {
			req.RequestURI = ""
			_, err := signingClient(sign("content-length")).Do(req)
			require.ErrorContains(t, err, "content-length cannot be signed")
		}
	})
	t.Run("refused before sending", func(t *testing.T) {
		for _, tc := range []struct{ name, value, list string }{
			{"X-Custom", "a\x01b", "x-custom"},
			{"X-Custom", "a\x7f", "x-custom"},
			{"Transfer-Encoding", "chunked", "transfer-encoding"},
			{"Trailer", "X-T", "trailer"},
		} {
			req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
			req.Header.Set(tc.name, tc.value)
			require.Error(t, sign(tc.list).SignAt(req, t0), tc.name)
		}
	})
}

// A zero Signer (no ID, no secret) refuses to
// sign instead of signing with empty credentials.
func TestZeroSignerRefuses(t *testing.T) {
	for name, s := range map[string]*Signer{
		"zero":      {},
		"no secret": {ID: vectorID},
		"no id":     {Secret: NewSecret(vectorSecret)},
		"nil":       nil,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		err := s.SignAt(r, t0)
		require.ErrorIs(t, err, ErrNoCredentials, name)
		require.Empty(t, r.Header.Get("Authorization"), name)
	}
	// A request built by hand, without a header map, is signed too.
	bare := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "example.com", Path: "/"}}
	require.NoError(t, (&Signer{ID: vectorID, Secret: NewSecret(vectorSecret)}).SignAt(bare, t0))
	require.NotEmpty(t, bare.Header.Get("Authorization"))

	_, err := (&http.Client{Transport: &Transport{}}).Get("http://127.0.0.1:1/")
	require.Error(t, err)
	_, err = signingClient(&Signer{}).Get("http://127.0.0.1:1/")
	require.True(t, errors.Is(err, ErrNoCredentials), "%v", err)
}
