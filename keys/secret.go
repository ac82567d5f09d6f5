package keys

import (
	"fmt"
	"log/slog"
)

// redacted is what a Secret prints instead of itself.
const redacted = "[REDACTED]"

// Secret is a secret_key. It never prints itself: String, GoString, every
// fmt verb, slog and encoding/json all show "[REDACTED]". Reveal returns the
// value for the few places that need it (signing, verifying, exporting a
// config file on purpose).
//
// The zero Secret is empty. A Secret is immutable and safe for concurrent use.
type Secret struct {
	b []byte // never mutated after construction
}

// NewSecret wraps s. It does not validate; see ValidateSecret.
func NewSecret(s string) Secret { return Secret{b: []byte(s)} }

// Reveal returns the secret's value. Call it only where the value is needed.
func (s Secret) Reveal() string { return string(s.b) }

// bytes returns the secret for HMAC without a copy. Callers must not modify it.
func (s Secret) bytes() []byte { return s.b }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return len(s.b) == 0 }

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return string(s.b) == string(o.b) }

// String implements fmt.Stringer and returns "[REDACTED]".
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer and returns "[REDACTED]".
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%x, %q, %v, %#v...)
// reaches the underlying bytes.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler (and so JSON) with "[REDACTED]".
// Config export writes the real value explicitly, through Reveal.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
