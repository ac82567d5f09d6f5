package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Signer signs requests with a key pair, as the old gateway's clients do.
// A Signer is safe for concurrent use once configured.
type Signer struct {
	ID     string // secret_id
	Secret Secret // secret_key
	// Algorithm is one of Algorithms(); empty means hmac-sha1.
	Algorithm string
	// Headers lists the signed headers, lowercase, in order; empty means
	// "x-date" followed by "source" when Source is set. It must include
	// "x-date" or "date"; it may include RequestTarget.
	Headers []string
	// Source, when set, is sent as the Source header (the signature
	// watermark).
	Source string
}

// SignAt signs r at time now: it sets X-Date and/or Date (whichever the
// header list names) to now as an IMF-fixdate, Source when set, and
// Authorization. Other listed headers must already be on r.
func (s *Signer) SignAt(r *http.Request, now time.Time) error {
	alg := lookupAlgorithm(orDefaultString(s.Algorithm, HMACSHA1))
	if alg == nil {
		return fmt.Errorf("keys: signer: unknown algorithm %q", s.Algorithm)
	}
	headers := s.Headers
	if len(headers) == 0 {
		headers = []string{"x-date"}
		if s.Source != "" {
			headers = append(headers, "source")
		}
	}
	list := strings.Join(headers, " ")
	hasXDate, hasDate, aerr := checkHeaderList(list)
	if aerr != nil {
		return fmt.Errorf("keys: signer: headers %q must be distinct lowercase names", list)
	}
	if !hasXDate && !hasDate {
		return errors.New(`keys: signer: headers must include "x-date" or "date"`)
	}
	date := now.UTC().Format(http.TimeFormat)
	if hasXDate {
		r.Header.Set("X-Date", date)
	}
	if hasDate {
		r.Header.Set("Date", date)
	}
	if s.Source != "" {
		r.Header.Set("Source", s.Source)
	}
	m := alg.startSecret(s.Secret)
	defer m.release()
	var hr headerReader
	if err := writeSigningString(m, r, list, &hr); err != nil {
		return fmt.Errorf("keys: signer: header %q is missing, repeated or invalid", err.Header)
	}
	auth := Authorization{
		ID: s.ID, Algorithm: alg.name, Headers: list,
		Signature: base64.StdEncoding.EncodeToString(m.finish()),
	}
	r.Header.Set("Authorization", auth.String())
	return nil
}

// Sign is SignAt with time.Now().
func (s *Signer) Sign(r *http.Request) error { return s.SignAt(r, time.Now()) }

func orDefaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Transport is an http.RoundTripper that signs every request with Signer
// before handing a copy of it to Base. The caller's request is not
// modified.
type Transport struct {
	Signer *Signer
	// Base sends the signed request; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Now is the signing time; nil means time.Now.
	Now func() time.Time
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	signed := r.Clone(r.Context())
	if err := t.Signer.SignAt(signed, now()); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(signed)
}
