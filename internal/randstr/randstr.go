// Package randstr draws random strings for generated IDs and secrets
// (package keys' key pairs, package usageplan's service, API and plan
// IDs). It is not API.
package randstr

import (
	"fmt"
	"io"
)

// String returns n characters of alphabet (at most 256 of them) drawn
// uniformly from rand by rejection sampling. It panics on an alphabet
// that is empty or longer than 256 characters (a programmer's error).
func String(rand io.Reader, alphabet string, n int) (string, error) {
	if len(alphabet) == 0 || len(alphabet) > 256 {
		panic("randstr: the alphabet must have 1–256 characters")
	}
	// Accept bytes below the largest multiple of len(alphabet) so every
	// character is equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
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
