package keys

import (
	"fmt"
	"io"
	"time"
)

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Generate returns a new enabled key with an auto-generated secret_id
// (AKID + 36 alphanumerics) and secret_key (40 alphanumerics), drawn from
// rand without modulo bias. Pass crypto/rand.Reader in production; tests may
// pass a deterministic reader. now stamps Created and Modified.
func Generate(rand io.Reader, name string, now time.Time) (Key, error) {
	if err := ValidateName(name); err != nil {
		return Key{}, err
	}
	id, err := RandomString(rand, alphanumerics, AutoIDRandLen)
	if err != nil {
		return Key{}, err
	}
	secret, err := GenerateSecret(rand)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: AutoIDPrefix + id, Name: name, Secret: secret, Created: now, Modified: now}, nil
}

// GenerateSecret returns a new 40-character alphanumeric secret_key, for
// Generate and for rotation.
func GenerateSecret(rand io.Reader) (Secret, error) {
	s, err := RandomString(rand, alphanumerics, AutoSecretLen)
	return NewSecret(s), err
}

// RandomString returns n characters of alphabet (at most 256 of them) drawn
// uniformly from rand by rejection sampling.
func RandomString(rand io.Reader, alphabet string, n int) (string, error) {
	if len(alphabet) == 0 || len(alphabet) > 256 {
		panic("keys: RandomString alphabet must have 1–256 characters")
	}
	// Accept bytes below the largest multiple of len(alphabet) so every
	// character is equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return "", fmt.Errorf("keys: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}
