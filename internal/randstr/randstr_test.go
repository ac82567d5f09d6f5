package randstr

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func TestStringIsUniform(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{2})
	counts := map[byte]int{}
	s, err := String(rng, alphanumerics, 62_000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("character %q drawn %d times, want 1000 ± 200", c, n)
		}
	}
}

func TestStringFailingReader(t *testing.T) {
	if _, err := String(bytes.NewReader(nil), "ab", 4); err == nil {
		t.Fatal("a failing reader is an error")
	}
}
