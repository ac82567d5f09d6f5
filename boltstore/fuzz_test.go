package boltstore

import (
	"bytes"
	"testing"

	"github.com/planguard/planguard/limiter"
)

// FuzzDecode feeds arbitrary keys and values to the state file's
// decoders: they never panic, and what they accept encodes back to the
// same bytes.
func FuzzDecode(f *testing.F) {
	c := limiter.Counter{Plan: "usagePlan-a", Key: "AKIDa", Window: 1_700_006_400}
	k := counterKey(c)
	f.Add(k, encodeValue(k, 42))
	f.Add(legacyKey(c), []byte{0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{0, 1}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if plan, key, window, ok := decodeKey(k); ok {
			if got := counterKey(limiter.Counter{Plan: plan, Key: key, Window: window}); !bytes.Equal(got, k) {
				t.Fatalf("key %x decodes and encodes to %x", k, got)
			}
		}
		if used, err := decodeValue(k, v); err == nil && v != nil {
			if got := encodeValue(k, used); !bytes.Equal(got, v) {
				t.Fatalf("value %x decodes to %d and encodes to %x", v, used, got)
			}
		}
		if c, ok := decodeLegacyKey(k); ok {
			if got := legacyKey(c); !bytes.Equal(got, k) {
				t.Fatalf("legacy key %x decodes and encodes to %x", k, got)
			}
		}
	})
}
