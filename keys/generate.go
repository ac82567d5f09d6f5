package keys

import (
	"fmt"
	"io"
	"time"

	"github.com/planguard/planguard/internal/randstr"
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
	id, err := randstr.String(rand, alphanumerics, AutoIDRandLen)
	if err != nil {
		return Key{}, fmt.Errorf("keys: %w", err)
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
	s, err := randstr.String(rand, alphanumerics, AutoSecretLen)
	if err != nil {
		return Secret{}, fmt.Errorf("keys: %w", err)
	}
	return NewSecret(s), nil
}
