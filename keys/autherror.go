package keys

import (
	"net/http"
	"strings"
	"time"
)

// Reason is why a signed request was refused. Each Reason is one row of
// the refusal table in docs/signing.md; Message gives that row's text.
type Reason uint8

const (
	ReasonNoAuthorization      Reason = iota + 1 // no Authorization header
	ReasonMalformed                              // malformed Authorization
	ReasonIDOrSignatureMissing                   // id or signature missing
	ReasonNoDate                                 // no signed date header
	ReasonDateOutOfWindow                        // date outside the skew window, or dates disagreeing
	ReasonHeaderMissing                          // a listed or required header absent or invalid
	ReasonMultipleHeader                         // a signed header (or Authorization) sent twice
	ReasonAlgorithm                              // unsupported algorithm
	ReasonUnknownKey                             // unknown or disabled key
	ReasonSignatureMismatch                      // wrong, malformed or wrong-length signature
	ReasonReplayed                               // a signature already seen within the skew window (replay cache on)
	ReasonReplayLimit                            // the key's share of the replay cache is full of live signatures
)

// AuthError is a refused signature. Its message is the old gateway's text
// for its Reason; it never contains a secret or a computed signature.
type AuthError struct {
	Reason Reason
	// Header names the header for ReasonHeaderMissing, and the date
	// header that was checked ("x-date" or "date") for
	// ReasonDateOutOfWindow; Algorithm the algorithm for ReasonAlgorithm
	// (both truncated to 64 bytes).
	Header, Algorithm string
	// RetryAfter, for ReasonReplayLimit, is how long until the key's
	// oldest live signature leaves the replay cache.
	RetryAfter time.Duration
	// Detail says more for logs (for example "malformed signature"); it
	// is not part of Message.
	Detail string
}

func authErr(r Reason) *AuthError { return &AuthError{Reason: r} }

// Message returns the response text (the old gateway's, where it had one).
func (e *AuthError) Message() string {
	switch e.Reason {
	case ReasonNoAuthorization:
		return "HMAC signature cannot be verified, a validate authorization header is required"
	case ReasonMalformed:
		return "HMAC authorization format error."
	case ReasonIDOrSignatureMissing:
		return "HMAC id or signature missing."
	case ReasonNoDate:
		return "HMAC signature cannot be verified, a valid date or x-date header is required."
	case ReasonDateOutOfWindow:
		name := e.Header
		if name == "" {
			name = "x-date"
		}
		return "HMAC signature cannot be verified, the " + name + " header is out of date for HMAC Authentication."
	case ReasonHeaderMissing:
		return "HMAC signature cannot be verified, a valid " + e.Header + " header is required."
	case ReasonMultipleHeader:
		return "HMAC do not support multiple HTTP header."
	case ReasonAlgorithm:
		return "HMAC algorithm " + e.Algorithm + " not supported."
	case ReasonUnknownKey:
		return "HMAC signature cannot be verified."
	case ReasonSignatureMismatch:
		return "HMAC signature does not match."
	case ReasonReplayed:
		return MessageReplayed
	case ReasonReplayLimit:
		return "API rate limit exceeded."
	}
	return "HMAC authorization format error."
}

// MessageReplayed is the response text for a replayed signature. The old
// gateway had no replay cache, so this row is planguard's own.
const MessageReplayed = "HMAC signature cannot be verified, the signature has already been used."

// Status returns the HTTP status of the refusal: 429 Too Many Requests for
// ReasonReplayLimit (the key sent more signatures within the skew window
// than the replay cache keeps for one key; RetryAfter says when one
// leaves), 401 Unauthorized for every other Reason.
func (e *AuthError) Status() int {
	if e.Reason == ReasonReplayLimit {
		return http.StatusTooManyRequests
	}
	return http.StatusUnauthorized
}

func (e *AuthError) Error() string {
	if e.Detail != "" {
		return "keys: " + e.Message() + " (" + e.Detail + ")"
	}
	return "keys: " + e.Message()
}

// printable truncates s to 64 bytes and replaces anything outside
// visible ASCII, so that client input echoed in a message stays tame.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
