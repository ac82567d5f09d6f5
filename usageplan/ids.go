package usageplan

import (
	"io"

	"github.com/planguard/planguard/internal/randstr"
)

// ID prefixes; each is followed by IDRandLen of [a-z0-9].
const (
	ServicePrefix = "service-"
	APIPrefix     = "api-"
	PlanPrefix    = "usagePlan-"
	IDRandLen     = 8
)

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// newID returns prefix followed by 8 random characters of [a-z0-9] drawn
// from rand (crypto/rand.Reader in production).
func newID(rand io.Reader, prefix string) (string, error) {
	s, err := randstr.String(rand, lowerAlnum, IDRandLen)
	if err != nil {
		return "", err
	}
	return prefix + s, nil
}

func validID(prefix, id string) bool {
	if len(id) != len(prefix)+IDRandLen || id[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
