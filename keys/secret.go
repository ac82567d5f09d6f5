package keys

import (
	"fmt"
	"log/slog"
	"sync/atomic"
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
	v *secretValue // nil for the zero Secret
	_ [0]func()    // not comparable with ==: use Equal, which compares values
}

// secretValue is shared by the copies of a Secret, so that HMAC's keyed
// states, computed on first use, serve every copy.
type secretValue struct {
	b    []byte                              // never mutated after construction
	pads [numAlgorithms]atomic.Pointer[pads] // per algorithm, made on first use
}

// NewSecret wraps s. It does not validate; see ValidateSecret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &secretValue{b: []byte(s)}}
}

// Reveal returns the secret's value. Call it only where the value is needed.
func (s Secret) Reveal() string { return string(s.bytes()) }

// bytes returns the secret for HMAC without a copy. Callers must not modify it.
func (s Secret) bytes() []byte {
	if s.v == nil {
		return nil
	}
	return s.v.b
}

// pads returns the keyed HMAC states of s under a, computing them with m's
// hash on first use. Two first uses at once compute the same value twice.
func (s Secret) pads(a *algorithm, m *macState) *pads {
	if s.v == nil {
		return a.pads(m, nil)
	}
	slot := &s.v.pads[a.index]
	if p := slot.Load(); p != nil {
		return p
	}
	p := a.pads(m, s.v.b)
	slot.Store(p)
	return p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return len(s.bytes()) == 0 }

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return string(s.bytes()) == string(o.bytes()) }

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
