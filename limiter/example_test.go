package limiter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/planguard/planguard/limiter"
)

// A plan with a burst apart from its rate, a window and a day quota: the
// third request at one instant is refused by the window, consumes
// nothing, and is told to come back when the window has a token.
func ExampleLimiter_AllowAt() {
	l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{})
	defer l.Close(context.Background())
	lim := limiter.Limits{
		QPS: 5, Burst: 10,
		Windows: []limiter.Window{{Name: "per_minute", Requests: 2, Per: time.Minute}},
		Quota:   1000, Period: limiter.Day,
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for range 3 {
		d, err := l.AllowAt(context.Background(), now, limiter.Request{Plan: "usagePlan-gold0001", Key: "AKIDexample", Limits: lim})
		if err != nil {
			panic(err)
		}
		p, _ := d.Closest()
		fmt.Printf("allowed %v, refused by %v, retry after %v; closest %q: %d left; quota %d left\n",
			d.Allowed, d.Refused, d.RetryAfter, p.Name, p.Remaining, d.Remaining)
	}
	// Output:
	// allowed true, refused by none, retry after 0s; closest "per_minute": 1 left; quota 999 left
	// allowed true, refused by none, retry after 0s; closest "per_minute": 0 left; quota 998 left
	// allowed false, refused by window, retry after 30s; closest "per_minute": 0 left; quota 998 left
}
