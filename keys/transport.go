package keys

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Transport is an http.RoundTripper that signs every request with Signer
// before handing a copy of it to Base. The caller's request is not
// modified. It is safe for concurrent use once configured (its fields
// are not changed while it sends). The zero Transport is not usable: a
// Transport without a Signer refuses every request with an error, and a
// Signer without an ID or Secret refuses to sign (ErrNoCredentials).
//
// Redirects: an http.Client follows a redirect by sending a new request
// through the same Transport. Transport signs such a hop only when it
// goes to the origin (scheme, host and port) the first request went to;
// a hop to any other origin is sent unsigned, so that a server that
// redirects elsewhere cannot hand a fresh signature to another host. (A
// client's own Authorization is dropped by net/http on such a hop, for
// the same reason.) A hop that returns to the origin is signed again.
type Transport struct {
	Signer *Signer
	// Base sends the signed request; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Now is the signing time; nil means time.Now. It must be safe for
	// concurrent use.
	Now func() time.Time
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if first := firstRequest(r); first != r && !sameOrigin(first.URL, r.URL) {
		resp, err := base.RoundTrip(r)
		return withRequest(resp, r), err
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	if t.Signer == nil {
		return nil, closeBody(r, errors.New("keys: Transport has no Signer"))
	}
	signed := r.Clone(r.Context())
	if err := t.Signer.SignAt(signed, now()); err != nil {
		return nil, closeBody(r, err)
	}
	resp, err := base.RoundTrip(signed)
	return withRequest(resp, signed), err
}

// withRequest makes sure the response names the request that was sent:
// the next hop of a redirect is traced back to the first request through
// resp.Request, and a Base need not set it.
func withRequest(resp *http.Response, r *http.Request) *http.Response {
	if resp != nil && resp.Request == nil {
		resp.Request = r
	}
	return resp
}

// closeBody closes r's body, as a RoundTripper must even when it fails,
// and returns err.
func closeBody(r *http.Request, err error) error {
	if r.Body != nil {
		r.Body.Close()
	}
	return err
}

// firstRequest follows a redirect hop back to the request the client
// started with: net/http sets Response on each hop to the redirect that
// caused it, and Response.Request to the hop before.
func firstRequest(r *http.Request) *http.Request {
	for r.Response != nil && r.Response.Request != nil && r.Response.Request != r {
		r = r.Response.Request
	}
	return r
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (ignoring case, and the scheme's default port).
func sameOrigin(a, b *url.URL) bool {
	if a == nil || b == nil {
		return false
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return u.Hostname() + ":" + port
}
