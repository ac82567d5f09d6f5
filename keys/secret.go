package keys

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"unsafe"
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
// states, computed on first use, serve every copy. A secret never used
// costs its string and 24 bytes: the keyed states of a registry's
// million keys are made only for the keys that sign requests, and only
// for the algorithms they sign with.
type secretValue struct {
	s    string                 // the secret, shared with the string it was made from
	pads atomic.Pointer[padSet] // made on first use
}

// padSet holds a secret's keyed states, per algorithm.
type padSet [numAlgorithms]atomic.Pointer[pads]

// NewSecret wraps s. It does not validate; see ValidateSecret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &secretValue{s: s}}
}

// Reveal returns the secret's value. Call it only where the value is needed.
func (s Secret) Reveal() string { return s.str() }

func (s Secret) str() string {
	if s.v == nil {
		return ""
	}
	return s.v.s
}

// bytes returns the secret for HMAC without a copy. Callers must not
// modify it: it is the string's memory.
func (s Secret) bytes() []byte {
	if s.v == nil {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s.v.s), len(s.v.s))
}

// pads returns the keyed HMAC states of s under a, computing them with m's
// hash on first use. Two first uses at once compute the same value twice.
func (s Secret) pads(a *algorithm, m *macState) *pads {
	if s.v == nil {
		return a.pads(m, nil)
	}
	set := s.v.pads.Load()
	if set == nil {
		set = new(padSet)
		if s.v.pads.CompareAndSwap(nil, set) {
			padded.add(s.v)
		} else if set = s.v.pads.Load(); set == nil {
			set = new(padSet) // evicted at once: use it for this request only
		}
	}
	slot := &set[a.index]
	if p := slot.Load(); p != nil {
		return p
	}
	p := a.pads(m, s.bytes())
	slot.Store(p)
	return p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.str() == "" }

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return s.str() == o.str() }

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

// maxPadded bounds how many secrets hold keyed states at once, process
// wide: about 300 bytes each for one algorithm, so at most some 40 MB
// however many keys sign requests. A secret whose states were dropped
// makes them again on its next use (four hash blocks).
const maxPadded = 1 << 17

// padded remembers the secrets holding keyed states, oldest first, and
// drops the oldest's states when one more would exceed its limit. It is
// safe for concurrent use.
var padded = &padRing{limit: maxPadded}

type padRing struct {
	mu    sync.Mutex
	limit int
	ring  []*secretValue
	next  int
}

func (r *padRing) add(v *secretValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) < r.limit {
		r.ring = append(r.ring, v)
		return
	}
	r.ring[r.next].pads.Store(nil)
	r.ring[r.next] = v
	r.next = (r.next + 1) % len(r.ring)
}
