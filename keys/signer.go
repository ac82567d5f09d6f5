package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// NonceHeader is the header in which planguard's Signer sends a fresh
// random value with every signature (signed as "x-nonce"), so that two
// distinct requests never share a MAC, even within one second. A
// verifier with a replay cache can require it (VerifierConfig.RequireNonce).
const NonceHeader = "X-Nonce"

const nonceName = "x-nonce" // as listed in headers

// ErrNoCredentials is returned by a Signer without an ID or a Secret: the
// zero Signer signs nothing.
var ErrNoCredentials = errors.New("keys: signer: ID and Secret are required")

// Signer signs requests with a key pair, as the old gateway's clients do.
// A Signer is safe for concurrent use once configured. Its zero value is
// not usable: SignAt refuses a Signer without ID or Secret.
type Signer struct {
	ID     string // secret_id
	Secret Secret // secret_key
	// Algorithm is one of Algorithms(); empty means hmac-sha1.
	Algorithm string
	// Headers lists the signed headers, in order, matched
	// case-insensitively and signed lowercase. Empty means "x-date",
	// "x-nonce", then "source" when Source is set. It must include
	// "x-date" or "date"; it may include RequestTarget, "host" and
	// "content-length" (see SignAt). When it names "x-nonce", SignAt sets
	// a fresh NonceHeader.
	Headers []string
	// Source, when set, is sent as the Source header (the signature
	// watermark).
	Source string
}

// SignAt signs r at time now: it sets X-Date and/or Date (whichever the
// header list names) to now as an IMF-fixdate, X-Nonce to 128 random bits
// when the list names "x-nonce", Source when set, and Authorization.
// Other listed headers must already be on r, once each.
//
// It signs what net/http sends: a listed header's value without the
// leading and trailing spaces and tabs that net/http drops (r's value is
// trimmed too), "host" as the Host line (r.Host, or r.URL.Host when empty,
// as on a redirect; an internationalised name in punycode), and
// "content-length" as net/http computes it from r.ContentLength (a
// request whose length net/http decides while sending — unknown length,
// a body of length 0 that is not http.NoBody, or no body on a method
// other than POST, PUT or PATCH — cannot sign it). A value that net/http
// would refuse to send (a control character) is refused, as are
// "transfer-encoding" and "trailer", which net/http never takes from
// r.Header.
func (s *Signer) SignAt(r *http.Request, now time.Time) error {
	if s == nil || s.ID == "" || s.Secret.IsZero() {
		return ErrNoCredentials
	}
	alg := lookupAlgorithm(orDefaultString(s.Algorithm, HMACSHA1))
	if alg == nil {
		return fmt.Errorf("keys: signer: unknown algorithm %q", s.Algorithm)
	}
	headers := s.Headers
	if len(headers) == 0 {
		headers = []string{"x-date", nonceName}
		if s.Source != "" {
			headers = append(headers, "source")
		}
	}
	list := lowerASCII(strings.Join(headers, " "))
	hasXDate, hasDate, aerr := checkHeaderList(list)
	if aerr != nil {
		return fmt.Errorf("keys: signer: headers %q must be 1 to %d distinct header names, ignoring case", list, MaxSignedHeaders)
	}
	if !hasXDate && !hasDate {
		return errors.New(`keys: signer: headers must include "x-date" or "date"`)
	}
	if r.Header == nil {
		r.Header = http.Header{}
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
	if listed(list, nonceName) {
		r.Header.Set(NonceHeader, newNonce())
	}
	var hr headerReader
	if err := onTheWire(r, list, &hr); err != nil {
		return err
	}
	m := alg.startSecret(s.Secret)
	defer m.release()
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

// newNonce returns 128 random bits in unpadded base64url (22 bytes).
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// onTheWire makes the listed headers of r what net/http will send: it
// trims their values on r, refuses what cannot be sent or signed, and
// records in hr the values net/http derives from r's fields.
func onTheWire(r *http.Request, list string, hr *headerReader) error {
	for rest := list; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, " ")
		switch name {
		case RequestTarget:
		case "host":
			host, err := wireHost(r)
			if err != nil {
				return err
			}
			hr.setWire(name, host)
		case "content-length":
			n, err := wireContentLength(r)
			if err != nil {
				return err
			}
			hr.setWire(name, n)
		case "transfer-encoding", "trailer":
			return fmt.Errorf("keys: signer: %s cannot be signed: net/http does not send it from the request's headers", name)
		default:
			vals := r.Header[http.CanonicalHeaderKey(name)]
			if len(vals) != 1 {
				continue // writeSigningString names the problem
			}
			v := strings.Trim(vals[0], " \t")
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
					return fmt.Errorf("keys: signer: header %q has a control character, which net/http refuses to send", name)
				}
			}
			vals[0] = v
		}
	}
	return nil
}

func (hr *headerReader) setWire(name, v string) {
	if hr.wire == nil {
		hr.wire = make(map[string]string, 2)
	}
	hr.wire[name] = v
}

// wireHost returns the Host line net/http sends for r: r.Host, or
// r.URL.Host when empty, in punycode. It asks net/http itself, by writing
// the request line and headers of a body-less copy.
func wireHost(r *http.Request) (string, error) {
	u := &url.URL{Path: "/"}
	if r.URL != nil {
		u.Host = r.URL.Host
	}
	var b bytes.Buffer
	probe := &http.Request{Method: "GET", URL: u, Host: r.Host, Header: http.Header{}}
	if err := probe.Write(&b); err != nil {
		return "", fmt.Errorf("keys: signer: host: %w", err)
	}
	_, after, ok := bytes.Cut(b.Bytes(), []byte("\r\nHost: "))
	host, _, ok2 := bytes.Cut(after, []byte("\r\n"))
	if !ok || !ok2 || len(host) == 0 {
		return "", errors.New("keys: signer: host: the request has no host")
	}
	return string(host), nil
}

// wireContentLength returns the Content-Length net/http sends for r
// (HTTP/1.1 and HTTP/2 agree on these cases), or an error when it sends
// none or decides while sending.
func wireContentLength(r *http.Request) (string, error) {
	noBody := r.Body == nil || r.Body == http.NoBody
	switch {
	case len(r.TransferEncoding) > 0:
		return "", errors.New("keys: signer: content-length cannot be signed: the request sets Transfer-Encoding")
	case r.ContentLength > 0 && !noBody:
		return strconv.FormatInt(r.ContentLength, 10), nil
	case r.ContentLength == 0 && noBody && (r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH"):
		return "0", nil
	}
	return "", errors.New("keys: signer: content-length cannot be signed: net/http sends none for this request, or decides while sending (set ContentLength and Body)")
}

func orDefaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
