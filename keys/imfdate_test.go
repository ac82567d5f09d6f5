package keys

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseIMFFixdate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const year0, year10000 = -62167219200, 253402300800 // Unix seconds
	for range 20000 {
		want := time.Unix(year0+rng.Int64N(year10000-year0), 0).UTC() // years 0000–9999
		got, ok := parseIMFFixdate(want.Format(http.TimeFormat))
		require.True(t, ok, want)
		require.True(t, want.Equal(got), "%v: got %v", want, got)
	}
	for _, edge := range []string{
		"Sat, 01 Jan 0000 00:00:00 GMT", "Tue, 29 Feb 2000 12:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT",
		"Wed, 31 Dec 1969 23:59:59 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Tue, 29 Feb 0000 00:00:00 GMT",
	} {
		want, err := time.Parse(http.TimeFormat, edge)
		require.NoError(t, err)
		got, ok := parseIMFFixdate(edge)
		require.True(t, ok, edge)
		require.True(t, want.Equal(got), "%s: got %v", edge, got)
	}
	for _, bad := range []string{
		"Mon, 30 Feb 2026 12:00:00 GMT", "Mon, 00 Nov 2026 12:00:00 GMT", "Mon, 23 Nov 2026 24:00:00 GMT",
		"Mon, 23 Nov 2026 12:60:00 GMT", "Mon, 23 Nov 2026 12:00:60 GMT", "Mon, 23 Nov 2026 12:00:00 UTC",
		"Mon, 23 nov 2026 12:00:00 GMT", "mon, 23 Nov 2026 12:00:00 GMT", "Mon, 23 Nov 2026 12:00:00 GMT ",
		"Mon, 23 Nov +026 12:00:00 GMT", "Sun, 23 Nov 2026 12:00:00 GMT", "",
		"Sun, 29 Feb 1900 12:00:00 GMT", "Thu, 29 Feb 2001 12:00:00 GMT", "Thu, 31 Apr 2026 12:00:00 GMT",
	} {
		_, ok := parseIMFFixdate(bad)
		require.False(t, ok, bad)
	}
}

// BenchmarkParseIMFFixdate runs beside time.Parse of the same value.
func BenchmarkParseIMFFixdate(b *testing.B) {
	const v = "Mon, 23 Nov 2026 12:00:00 GMT"
	b.Run("planguard", func(b *testing.B) {
		for b.Loop() {
			if _, ok := parseIMFFixdate(v); !ok {
				b.Fatal(v)
			}
		}
	})
	b.Run("time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(http.TimeFormat, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzParseIMFFixdate: whatever the parser accepts is an IMF-fixdate that
// formats back to the same text, and time.Parse reads the same instant.
func FuzzParseIMFFixdate(f *testing.F) {
	f.Add("Mon, 23 Nov 2026 12:00:00 GMT")
	f.Add("Tue, 29 Feb 2000 23:59:59 GMT")
	f.Add("Sat, 01 Jan 0000 00:00:00 GMT")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIMFFixdate(s)
		if !ok {
			return
		}
		if back := got.Format(http.TimeFormat); back != s {
			t.Fatalf("%q parsed as %v, which formats as %q", s, got, back)
		}
		want, err := time.Parse(http.TimeFormat, s)
		if err != nil || !want.Equal(got) {
			t.Fatalf("%q: time.Parse says %v, %v; parseIMFFixdate says %v", s, want, err, got)
		}
	})
}
