package boltstore

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/planguard/planguard/limiter"
)

// TestFileBoundedOverPeriods runs 20 days of a day quota over 1000 keys
// on a real file: the Limiter prunes finished days, so the file is no
// bigger after 20 days than after 3, and only the current and the
// previous day's counters are left.
func TestFileBoundedOverPeriods(t *testing.T) {
	s, path := openTemp(t)
	const plan, keys, days = "usagePlan-bounded1", 1000, 20
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 100, Period: limiter.Day}
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	l, err := limiter.New(s, limiter.Config{LeaseSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var sizeDay3 int64
	for d := range days {
		now := start.AddDate(0, 0, d)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for k := w; k < keys; k += 8 {
					if dec, err := l.AllowAt(ctx, now, limiter.Request{Plan: plan, Key: "AKID" + strconv.Itoa(k), Limits: lim}); err != nil || !dec.Allowed {
						t.Errorf("day %d key %d: %+v %v", d, k, dec, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if d == 3 {
			sizeDay3 = size()
		}
	}
	if err := l.Close(ctx); err != nil { // waits for the last prune
		t.Fatal(err)
	}
	counters := 0
	if err := s.db.View(func(tx *bolt.Tx) error { counters = tx.Bucket(usageBucket).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("file %d bytes after day 3, %d after day %d; %d counters", sizeDay3, size(), days, counters)
	if counters != 2*keys {
		t.Errorf("%d counters left, want %d (two days)", counters, 2*keys)
	}
	if size() > sizeDay3 {
		t.Errorf("the file grew from %d bytes (day 3) to %d (day %d)", sizeDay3, size(), days)
	}
}
