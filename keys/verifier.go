package keys

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// DefaultClockSkew is how far a signed date may be from the server's
// clock, in either direction.
const DefaultClockSkew = 900 * time.Second

// MaxClockSkew is the largest VerifierConfig.ClockSkew: a day. A window
// wider than that is no date check, and the replay cache keeps each
// signature for as long as the window accepts it; a client that signs
// no date is served by LegacyUncheckedDate instead.
const MaxClockSkew = 24 * time.Hour

// Lookup finds keys by secret_id; the usageplan Registry and Snapshot
// implement it, and so can a store of keys (a database).
//
// LookupKey returns the key, disabled or not, or an error. An error
// matching ErrNotFound means there is no such key: the Verifier refuses
// the request as signed by an unknown key (ReasonUnknownKey, 401). Any
// other error means the lookup could not tell (a database it cannot
// reach): the Verifier returns it in a *LookupError, not an *AuthError,
// for the client did nothing wrong, and the middleware answers 503
// ("Usage plan store unavailable.") instead of 401. ctx is the one the
// verification was given (the request's context for VerifyAt); a lookup
// that does I/O should honour its deadline.
//
// A Verifier calls LookupKey from every goroutine that verifies a
// request, so an implementation must be safe for concurrent use; it is
// called with no lock of the Verifier's held. It is on every request's
// path: a lookup from memory should not allocate for a key it holds.
type Lookup interface {
	LookupKey(ctx context.Context, id string) (Key, error)
}

// LookupError is a key lookup that failed for another reason than an
// unknown key, so that a request could not be verified through no fault
// of its client. It never holds a secret.
type LookupError struct {
	ID  string // the secret_id looked up, as printable ASCII of at most 64 bytes
	Err error  // the Lookup's error
}

func (e *LookupError) Error() string { return "keys: looking up key " + e.ID + ": " + e.Err.Error() }
func (e *LookupError) Unwrap() error { return e.Err }

// VerifierConfig holds the verifier's optional settings. The zero value
// verifies as the old gateway did, plus Date checking.
type VerifierConfig struct {
	// ClockSkew is the accepted distance between a signed date and now,
	// in both directions. Zero means DefaultClockSkew (900 s); a value
	// below 0 or above MaxClockSkew is a configuration error.
	ClockSkew time.Duration
	// LegacyUncheckedDate reproduces the old gateway, which never checked
	// a signed Date header (X-Date is always checked), for old clients
	// that sign Date with a wrong clock. The risk: a signature that
	// covers Date but not X-Date never expires, so a captured request can
	// be replayed at any time (the replay cache forgets it after the
	// skew window).
	LegacyUncheckedDate bool
	// RequiredHeaders are header names (lowercase, RequestTarget allowed)
	// that every signature must cover, beyond the date.
	RequiredHeaders []string
	// Algorithms restricts the accepted algorithms; empty means all of
	// Algorithms().
	Algorithms []string
	// ReplayCachePerKey, when positive, turns the replay cache on: a
	// signature (the decoded MAC) that verified is remembered until its
	// signed date leaves the clock-skew window, and the same signature
	// sent again meanwhile is refused with ReasonReplayed. The cache
	// keeps at most ReplayCachePerKey signatures per key: a key that sends
	// more within the window is refused with ReasonReplayLimit until its
	// oldest one expires, and no other key is affected. Memory is bounded
	// by the number of keys in use times ReplayCachePerKey (about 280
	// bytes per signature). A client must make every request's signature
	// unique: planguard's Signer signs a random nonce (NonceHeader) for
	// that; an old client that signs only the date and fixed headers gets
	// one request per second through for each distinct set of signed
	// values.
	ReplayCachePerKey int
	// RequireNonce refuses a signature that does not cover a non-empty
	// nonce header (NonceHeader), so that two distinct requests never
	// share a MAC. Meant with the replay cache; old clients sign no nonce.
	RequireNonce bool
}

// Verifier checks key-pair signatures (see docs/signing.md). It is safe for
// concurrent use. Without a replay cache, Verify allocates nothing on
// success (a headers list with capitals is lowered into a copy), apart
// from the first use of each secret with each algorithm,
// which computes and keeps HMAC's two keyed hash states with the Secret
// (about 200 bytes for SHA-1). The zero Verifier is not usable: build
// one with NewVerifier.
type Verifier struct {
	keys     Lookup
	skew     time.Duration
	legacy   bool
	nonce    bool // RequireNonce
	required []string
	algs     [4]*algorithm // allowed, nil-padded
	replay   *replayCache
}

// NewVerifier returns a verifier that finds keys through keys.
func NewVerifier(keys Lookup, cfg VerifierConfig) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("keys: NewVerifier: nil Lookup")
	}
	v := &Verifier{keys: keys, skew: cfg.ClockSkew, legacy: cfg.LegacyUncheckedDate, nonce: cfg.RequireNonce}
	switch {
	case v.skew == 0:
		v.skew = DefaultClockSkew
	case v.skew < 0 || v.skew > MaxClockSkew:
		return nil, fmt.Errorf("keys: NewVerifier: ClockSkew must be positive and at most %v, got %v", MaxClockSkew, v.skew)
	}
	for _, h := range cfg.RequiredHeaders {
		if !validHeaderName(h) {
			return nil, errors.New("keys: NewVerifier: required header " + printable(h) + " is not a lowercase header name")
		}
	}
	v.required = slices.Clone(cfg.RequiredHeaders)
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = Algorithms()
	}
	for _, name := range algs {
		a := lookupAlgorithm(name)
		if a == nil {
			return nil, errors.New("keys: NewVerifier: unknown algorithm " + printable(name))
		}
		if !slices.Contains(v.algs[:], a) {
			v.algs[slices.Index(v.algs[:], nil)] = a
		}
	}
	switch {
	case cfg.ReplayCachePerKey > 0:
		v.replay = newReplayCache(cfg.ReplayCachePerKey)
	case cfg.ReplayCachePerKey < 0:
		return nil, errors.New("keys: NewVerifier: ReplayCachePerKey must not be negative")
	}
	return v, nil
}

func (v *Verifier) algorithm(name string) *algorithm {
	for _, a := range v.algs {
		if a != nil && a.name == name {
			return a
		}
	}
	return nil
}

// Verify is VerifyAt with time.Now().
func (v *Verifier) Verify(r *http.Request) (Key, error) { return v.VerifyAt(r, time.Now()) }

// VerifyAt checks r's signature at time now and returns the key that
// signed it, looked up with r's context. A refusal is an *AuthError
// whose Reason names the refusal; Status and Message give its response.
// A lookup that failed (not an unknown key) is a *LookupError.
func (v *Verifier) VerifyAt(r *http.Request, now time.Time) (Key, error) {
	return v.VerifyIn(r.Context(), r, v.keys, now)
}

// VerifyIn is VerifyAt with the key looked up in keys, with ctx, instead
// of the verifier's own Lookup with r's context: a caller that holds one
// registry snapshot for a request verifies against that snapshot, and a
// server whose lookups must not end with the client's cancellation
// passes a context without it.
func (v *Verifier) VerifyIn(ctx context.Context, r *http.Request, keys Lookup, now time.Time) (Key, error) {
	k, aerr, err := v.verify(ctx, r, keys, now)
	switch {
	case aerr != nil:
		return Key{}, aerr
	case err != nil:
		return Key{}, err
	}
	return k, nil
}

// verify returns the key, a refusal, or the error of a lookup that failed.
func (v *Verifier) verify(ctx context.Context, r *http.Request, keys Lookup, now time.Time) (Key, *AuthError, error) {
	header := r.Header["Authorization"]
	switch {
	case len(header) == 0:
		return Key{}, authErr(ReasonNoAuthorization), nil
	case len(header) > 1:
		return Key{}, &AuthError{Reason: ReasonMultipleHeader, Header: "authorization"}, nil
	}
	auth, perr := ParseAuthorization(header[0])
	if perr != nil {
		return Key{}, perr.(*AuthError), nil
	}
	alg := v.algorithm(auth.Algorithm)
	if alg == nil {
		return Key{}, &AuthError{Reason: ReasonAlgorithm, Algorithm: printable(auth.Algorithm)}, nil
	}
	// Names are matched case-insensitively (old clients may send
	// "Date Source") and signed lowercase; lowering allocates only for
	// a list that has capitals.
	list := lowerASCII(auth.Headers)
	hasXDate, hasDate, err := checkHeaderList(list)
	if err != nil {
		return Key{}, err, nil
	}
	if !hasXDate && !hasDate {
		return Key{}, authErr(ReasonNoDate), nil
	}
	for _, h := range v.required {
		if !listed(list, h) {
			return Key{}, &AuthError{Reason: ReasonHeaderMissing, Header: h, Detail: "required header not signed"}, nil
		}
	}
	var hr headerReader
	if v.nonce {
		if !listed(list, nonceName) {
			return Key{}, &AuthError{Reason: ReasonHeaderMissing, Header: nonceName, Detail: "nonce required"}, nil
		}
		if nonce, err := hr.value(r, nonceName); err != nil {
			return Key{}, err, nil
		} else if nonce == "" {
			return Key{}, &AuthError{Reason: ReasonHeaderMissing, Header: nonceName, Detail: "empty nonce"}, nil
		}
	}

	// Decode the client's MAC strictly: canonical padded base64 of
	// exactly the algorithm's size.
	m := alg.pool.Get().(*macState)
	defer m.release()
	sig := auth.Signature
	if len(sig) != base64.StdEncoding.EncodedLen(alg.size) || !isBase64(sig) {
		return Key{}, &AuthError{Reason: ReasonSignatureMismatch, Detail: "malformed signature"}, nil
	}
	var raw [88]byte
	copy(raw[:], sig)
	n, derr := strictBase64.Decode(m.sig[:], raw[:len(sig)])
	if derr != nil || n != alg.size {
		return Key{}, &AuthError{Reason: ReasonSignatureMismatch, Detail: "malformed signature"}, nil
	}

	// Dates: every signed date header is checked (Date not in legacy
	// mode); when both are checked they must agree.
	var signed time.Time
	if hasXDate {
		t, err := v.checkDate(r, "x-date", now, &hr)
		if err != nil {
			return Key{}, err, nil
		}
		signed = t
	}
	if hasDate && !v.legacy {
		t, err := v.checkDate(r, "date", now, &hr)
		if err != nil {
			return Key{}, err, nil
		}
		if hasXDate && !t.Equal(signed) {
			return Key{}, &AuthError{Reason: ReasonDateOutOfWindow, Header: "date", Detail: "date and x-date disagree"}, nil
		}
		signed = t
	}
	if signed.IsZero() { // legacy mode with only Date signed: use now
		signed = now
	}

	key, lerr := keys.LookupKey(ctx, auth.ID)
	switch {
	case lerr != nil && errors.Is(lerr, ErrNotFound):
		return Key{}, authErr(ReasonUnknownKey), nil
	case lerr != nil:
		return Key{}, nil, &LookupError{ID: printable(auth.ID), Err: lerr}
	case key.Status != Enabled || key.Secret.IsZero():
		// A key without a secret (a Lookup's record with an empty
		// column) would verify MACs keyed with nothing, which anyone can
		// compute: it is no usable key.
		return Key{}, authErr(ReasonUnknownKey), nil
	}

	// Compute the MAC (beginning m again keeps m.sig) and compare.
	m.begin(key.Secret.pads(alg, m))
	if err := writeSigningString(m, r, list, &hr); err != nil {
		return Key{}, err, nil
	}
	if !hmac.Equal(m.finish(), m.sig[:alg.size]) {
		return Key{}, authErr(ReasonSignatureMismatch), nil
	}
	if v.replay != nil {
		// The entry lives as long as the date check would accept the
		// signature: until the signed date plus the skew.
		if reason, wait := v.replay.check(key.ID, m.sig[:alg.size], signed.Add(v.skew), now); reason != 0 {
			return Key{}, &AuthError{Reason: reason, RetryAfter: wait}, nil
		}
	}
	return key, nil, nil
}

// checkDate checks the one value of a signed date header: an IMF-fixdate
// in GMT, within the skew window of now.
func (v *Verifier) checkDate(r *http.Request, name string, now time.Time, hr *headerReader) (time.Time, *AuthError) {
	val, err := hr.value(r, name)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := parseIMFFixdate(val)
	if !ok {
		return time.Time{}, &AuthError{Reason: ReasonDateOutOfWindow, Header: name, Detail: "not an IMF-fixdate"}
	}
	// Sub saturates instead of overflowing, so year 0001 and 9999 are
	// simply far away.
	if d := now.Sub(t); d > v.skew || d < -v.skew {
		return time.Time{}, &AuthError{Reason: ReasonDateOutOfWindow, Header: name}
	}
	return t, nil
}

// strictBase64 is made once: Strict copies the whole Encoding, tables
// included.
var strictBase64 = base64.StdEncoding.Strict()

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}
