package boltstore

import (
	"sync"
	"testing"
	"time"

	"github.com/planguard/planguard/limiter"
)

// TestSpentKeyWritesNothing: once a key's quota is spent, 1000 more
// requests from 16 goroutines are refused without a single bbolt write
// (issue 14: every refusal committed a transaction, 52 MB in 5 s), and a
// Reserve that grants nothing writes nothing either.
func TestSpentKeyWritesNothing(t *testing.T) {
	s, _ := openTemp(t)
	l, err := limiter.New(s, limiter.Config{Prefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 50, Period: limiter.Month}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	admitted := 0
	for range 60 {
		if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Limits: lim}); err != nil {
			t.Fatal(err)
		} else if d.Allowed {
			admitted++
		}
	}
	if admitted != 50 {
		t.Fatalf("admitted %d, want 50", admitted)
	}
	writes := diskWrites(s)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 1000 / 16 {
				if d, err := l.AllowAt(ctx, now.Add(time.Millisecond), limiter.Request{Plan: "p", Key: "k", Limits: lim}); err != nil || d.Refused != limiter.LimitQuota {
					t.Errorf("%+v, %v", d, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if w := diskWrites(s) - writes; w != 0 {
		t.Fatalf("refusals of a spent key wrote %d pages", w)
	}
	start, _ := lim.Period.Window(now, nil)
	c := limiter.Counter{Plan: "p", Key: "k", Window: start.Unix()}
	if g, used, err := s.Reserve(ctx, c, 10, 50); g != 0 || used != 50 || err != nil {
		t.Fatalf("Reserve on a spent counter = %d, %d, %v", g, used, err)
	}
	if w := diskWrites(s) - writes; w != 0 {
		t.Fatalf("a Reserve that granted nothing wrote %d pages", w)
	}
}

func diskWrites(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}
