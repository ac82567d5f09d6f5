package keys

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// qdtextRunBytewise is qdtextRun by definition.
func qdtextRunBytewise(s string) int {
	i := 0
	for i < len(s) && isQdtext(s[i]) {
		i++
	}
	return i
}

// Every byte value, at every position of runs of 1–24 bytes, stops the
// eight-byte scan exactly where the byte-by-byte one stops.
func TestQdtextRunMatchesBytewise(t *testing.T) {
	for n := 1; n <= 24; n++ {
		base := []byte(strings.Repeat("aZ09+/=_", 3)[:n])
		for pos := range n {
			for c := range 256 {
				b := append([]byte(nil), base...)
				b[pos] = byte(c)
				s := string(b)
				if got, want := qdtextRun(s), qdtextRunBytewise(s); got != want {
					t.Fatalf("qdtextRun(%q) = %d, want %d", s, got, want)
				}
			}
		}
	}
	// Random mixes of the edge bytes around each class boundary.
	edges := []byte{0x00, 0x08, 0x09, 0x0a, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7e, 0x7f, 0x80, 0xff, 'a'}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = edges[rng.IntN(len(edges))]
			if rng.IntN(4) > 0 {
				b[i] = 'a'
			}
		}
		s := string(b)
		if got, want := qdtextRun(s), qdtextRunBytewise(s); got != want {
			t.Fatalf("qdtextRun(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestParamSlot(t *testing.T) {
	for name, want := range map[string]int{
		"id": 0, "ID": 0, "algorithm": 1, "ALGORITHM": 1, "Headers": 2, "headers": 2,
		"signature": 3, "SigNature": 3,
		"": -1, "i": -1, "idx": -1, "algorithx": -1, "signaturx": -1, "aaaaaaaaa": -1,
		"header": -1, "headerss": -1, "realm": -1, "ıd": -1,
	} {
		if got := paramSlot(name); got != want {
			t.Errorf("paramSlot(%q) = %d, want %d", name, got, want)
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	v := Authorization{ID: vectorID, Algorithm: HMACSHA1, Headers: "x-date source",
		Signature: "bWZ2bWd6b2ZqZmR3d2Z3ZGZ3ZGY="}.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthorization(v); err != nil {
			b.Fatal(err)
		}
	}
}
