package planguardtest

import (
	"sync"
	"time"
)

// Clock is the kit's time. The middleware's Config.Now, the signer's
// date and the limiter's decisions read Now; scripted traffic calls
// Sleep between requests. Implementations must be safe for concurrent
// use: the middleware calls Now from the goroutines that serve requests.
type Clock interface {
	Now() time.Time
	Sleep(d time.Duration)
}

// Start is where a kit's ManualClock starts unless Config.Start says
// otherwise: Monday 1 June 2026, 00:00 UTC, the start of a day, a week
// and a month in UTC, so that the first quota period of any calendar
// plan in UTC starts with the test.
func Start() time.Time { return time.Date(2026, time.June, 1, 0, 0, 0, 0, time.UTC) }

// ManualClock is a Clock that moves only when told: Sleep and Advance
// move it forward at once, without waiting. It is safe for concurrent
// use. The zero ManualClock reads the zero time; NewManualClock starts
// one elsewhere.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock that reads start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances the clock by d without waiting; it is Advance.
func (c *ManualClock) Sleep(d time.Duration) { c.Advance(d) }

// Advance moves the clock forward by d; a negative d is ignored (time
// does not go back).
func (c *ManualClock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t, which must not be before its time (a quota
// period that went back would not be the store's); an earlier t is
// ignored.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
}

// SystemClock is the process's clock: time.Now and time.Sleep. Inside a
// testing/synctest bubble both are the bubble's fake clock, which
// advances at once when every goroutine of the bubble waits, so a
// minute of scripted traffic takes no real time:
//
//	synctest.Test(t, func(t *testing.T) {
//		kit, err := planguardtest.New(planguardtest.Config{JSON: cfg, Clock: planguardtest.SystemClock{}})
//		…
//	})
//
// Outside a bubble it really sleeps. It is safe for concurrent use, and
// its zero value (the only one) is ready to use.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep calls time.Sleep(d).
func (SystemClock) Sleep(d time.Duration) { time.Sleep(d) }
