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
	for range 10000 {
		want := time.Unix(rng.Int64N(253402300799), 0).UTC() // years 1970–9999
		got, ok := parseIMFFixdate(want.Format(http.TimeFormat))
		require.True(t, ok, want)
		require.True(t, want.Equal(got))
	}
	for _, bad := range []string{
		"Mon, 30 Feb 2026 12:00:00 GMT", "Mon, 00 Nov 2026 12:00:00 GMT", "Mon, 23 Nov 2026 24:00:00 GMT",
		"Mon, 23 Nov 2026 12:60:00 GMT", "Mon, 23 Nov 2026 12:00:60 GMT", "Mon, 23 Nov 2026 12:00:00 UTC",
		"Mon, 23 nov 2026 12:00:00 GMT", "mon, 23 Nov 2026 12:00:00 GMT", "Mon, 23 Nov 2026 12:00:00 GMT ",
		"Mon, 23 Nov +026 12:00:00 GMT", "Sun, 23 Nov 2026 12:00:00 GMT", "",
	} {
		_, ok := parseIMFFixdate(bad)
		require.False(t, ok, bad)
	}
}
