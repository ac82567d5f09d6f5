package main

import (
	"testing"

	"github.com/planguard/planguard/internal/tzless"
)

// TestServesWithoutHostTimeZoneDatabase starts the server on the example
// config (a monthly quota in Asia/Shanghai) in a process that has no time
// zone database, as on a scratch or distroless image: the binary carries
// its own.
func TestServesWithoutHostTimeZoneDatabase(t *testing.T) {
	if !tzless.Child() {
		tzless.Run(t)
		return
	}
	_, stop := start(t, "-config", "testdata/config.json")
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
