package limiter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/planguard/planguard/limiter"
)

// An AI API's request is admitted for its cost, then charged the tokens
// it generated: the charge takes the quota to 0 and the rest is
// overage; thresholds of 50% and 100% are each reported once, by the
// step that reached them.
func ExampleLimiter_ChargeAt() {
	l, _ := limiter.New(&limiter.MemoryStore{}, limiter.Config{OnAlert: func(a limiter.Alert) {
		fmt.Printf("alert: %s reached %d%% of its quota (%d of %d units)\n", a.Key, a.Threshold, a.Used, a.Quota)
	}})
	defer l.Close(context.Background())
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 1000, Period: limiter.Day, Alerts: []int{50, 100}}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := limiter.Request{Plan: "usagePlan-gold0001", Key: "AKIDexample", Units: 10, Limits: lim}
	d, _ := l.AllowAt(context.Background(), now, r)
	fmt.Println("admitted:", d.Allowed)
	for _, tokens := range []int64{600, 700} {
		r.Units = tokens
		over, err := l.ChargeAt(context.Background(), now, r)
		if err != nil {
			panic(err)
		}
		fmt.Printf("charged %d, overage %d\n", tokens, over)
	}
	r.Units = 1
	d, _ = l.AllowAt(context.Background(), now, r)
	fmt.Println("next request admitted:", d.Allowed)
	// Output:
	// admitted: true
	// alert: AKIDexample reached 50% of its quota (610 of 1000 units)
	// charged 600, overage 0
	// alert: AKIDexample reached 100% of its quota (1000 of 1000 units)
	// charged 700, overage 310
	// next request admitted: false
}
