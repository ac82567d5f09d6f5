package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/redisstore"
	"github.com/redis/go-redis/v9"
)

// Two instances sharing one Redis share one quota: of a day quota of 3,
// each instance admits what the other has left. This example runs with
// the package's tests, against $REDIS_ADDR or the redis-server the tests
// start (without either, the package's tests are skipped).
func ExampleDial() {
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)
	// A prefix of its own, so that runs sharing a Redis do not share
	// counters; a deployment keeps the default ("pg:") or sets one per
	// application.
	prefix := "example-" + rand.Text() + ":"

	var instances []*limiter.Limiter
	for range 2 {
		store, err := redisstore.Dial(redis.Options{Addr: os.Getenv("REDIS_ADDR")}, redisstore.Config{Prefix: prefix})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer store.Close() // closes its client; after the limiter's Close
		lim, err := limiter.New(store, limiter.Config{})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer lim.Close(ctx)
		instances = append(instances, lim)
	}
	req := limiter.Request{Plan: "usagePlan-gold0001", Key: "AKIDexample",
		Limits: limiter.Limits{QPS: 100, Quota: 3, Period: limiter.Day}}
	for i := range 4 {
		d, err := instances[i%2].AllowAt(ctx, now, req)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("instance %d: allowed %v, %d left\n", i%2+1, d.Allowed, d.Remaining)
	}
	// Output:
	// instance 1: allowed true, 2 left
	// instance 2: allowed true, 1 left
	// instance 1: allowed true, 0 left
	// instance 2: allowed false, 0 left
}
