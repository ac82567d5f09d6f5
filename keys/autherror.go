package keys

import "strings"

// Reason is why a signed request was refused. Each Reason is one row of
// SPEC §7; Message gives that row's text.
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
	ReasonUnknownKey                             // unknown or disabled key, or a replayed signature
	ReasonSignatureMismatch                      // wrong, malformed or wrong-length signature
)

// AuthError is a refused signature. Its message is the old gateway's text
// for its Reason; it never contains a secret or a computed signature.
type AuthError struct {
	Reason Reason
	// Header names the header for ReasonHeaderMissing; Algorithm the
	// algorithm for ReasonAlgorithm (both truncated to 64 bytes).
	Header, Algorithm string
	// Detail says more for logs (for example "replayed signature"); it
	// is not part of Message.
	Detail string
}

func authErr(r Reason) *AuthError { return &AuthError{Reason: r} }

// Message returns the response text of SPEC §7.
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
		return "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication."
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
	}
	return "HMAC authorization format error."
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
