package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/planguard/planguard/boltstore"
	"github.com/planguard/planguard/limiter"
)

// Quota on a local file survives a restart: two requests before it, one
// after, of a day quota of 3; the fourth is refused.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "quota.db")

	ctx := context.Background()
	now := time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)
	req := limiter.Request{Plan: "usagePlan-gold0001", Key: "AKIDexample",
		Limits: limiter.Limits{QPS: 100, Quota: 3, Period: limiter.Day}}

	// serve opens the file, decides n requests, and shuts down gracefully.
	serve := func(create bool, n int) error {
		store, err := boltstore.Open(path, boltstore.Config{Create: create})
		if err != nil {
			return err
		}
		defer store.Close()
		lim, err := limiter.New(store, limiter.Config{Prefetch: true})
		if err != nil {
			return err
		}
		for range n {
			d, err := lim.AllowAt(ctx, now, req)
			if err != nil {
				return err
			}
			fmt.Printf("allowed %v, %d left\n", d.Allowed, d.Remaining)
		}
		// Close gives unused leases back to the file, before the file
		// closes (deferred above).
		return lim.Close(ctx)
	}
	if err := serve(true, 2); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restart")
	if err := serve(false, 2); err != nil {
		fmt.Println(err)
		return
	}
	// Output:
	// allowed true, 2 left
	// allowed true, 1 left
	// restart
	// allowed true, 0 left
	// allowed false, 0 left
}
