package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestQuickstart runs the demo on a simulated clock and checks it exits
// cleanly with 5 admitted requests and then refusals.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	wait := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	if err := run(&out, now, wait); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := strings.Count(out.String(), ": 200 "); got != 5 {
		t.Errorf("%d admitted, want 5:\n%s", got, out.String())
	}
	if !strings.Contains(out.String(), "429 API quota exceeded.") {
		t.Errorf("no quota refusal:\n%s", out.String())
	}
}
