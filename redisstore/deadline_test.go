package redisstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
	"github.com/planguard/planguard/limiter/storetest"
)

// pauseRedis makes srv stop answering clients for d (CLIENT PAUSE ALL: a
// slow Redis, like DEBUG SLEEP) and returns a function that waits until
// it answers again.
func pauseRedis(t *testing.T, addr string, d time.Duration) (wait func()) {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: -1})
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", d.Milliseconds(), "ALL").Err(); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	return func() {
		defer admin.Close()
		if err := admin.Ping(context.Background()).Err(); err != nil { // answered once the pause ends
			t.Fatal(err)
		}
	}
}

// A Redis that stops answering for 1.5 s (the store's timeout is
// 100 ms): every decision returns an error by its deadline, whatever the
// client's socket timeouts (go-redis's default 3 s read timeout, not
// following the context), and a decision not yet sent when it gave up is
// not counted.
func TestSlowRedisAnswersByDeadline(t *testing.T) {
	srv := ownRedis(t, noPersistence...)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"Dial", func(t *testing.T) *Store {
			s, err := Dial(redis.Options{Addr: srv.addr}, Config{Prefix: t.Name()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"client with default options", func(t *testing.T) *Store {
			c := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1})
			t.Cleanup(func() { c.Close() })
			s, err := New(c, Config{Prefix: t.Name()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			l, _ := limiter.New(s, limiter.Config{})
			lim := limiter.Limits{QPS: 1000, Quota: 1000, Period: limiter.Day}
			if d, err := l.AllowAt(context.Background(), time.Now(), limiter.Request{Plan: "p", Key: "k", Limits: lim}); err != nil || !d.Allowed {
				t.Fatalf("before the pause: %+v, %v", d, err)
			}
			wait := pauseRedis(t, srv.addr, 1500*time.Millisecond)
			const n = 20
			var mu sync.Mutex
			unconfirmed := 0
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					start := time.Now()
					d, err := l.AllowAt(context.Background(), time.Now(), limiter.Request{Plan: "p", Key: "k", Limits: lim})
					elapsed := time.Since(start)
					if err == nil || d.Allowed || !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("during the pause: %+v, %v; want a deadline error", d, err)
					}
					if elapsed > time.Second { // 10 times the timeout: it waited for Redis
						t.Errorf("a decision took %v under a 100 ms timeout", elapsed)
					}
					mu.Lock()
					defer mu.Unlock()
					if errors.Is(err, ErrUnconfirmed) {
						unconfirmed++
					}
				})
			}
			wg.Wait()
			wait()
			used, err := l.Usage(context.Background(), "p", "k", lim, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			// Sent calls may have run once Redis woke; the others must not.
			if used < 1 || used > 1+int64(unconfirmed) {
				t.Fatalf("usage %d after %d unconfirmed decisions, want 1..%d", used, unconfirmed, 1+unconfirmed)
			}
		})
	}
}

// Every Store method returns by its context's deadline while Redis does
// not answer, on a client whose socket timeouts do not follow the
// context.
func TestConformanceDeadlines(t *testing.T) {
	srv := ownRedis(t, noPersistence...)
	c := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	s, err := New(c, Config{Timeout: time.Minute}) // the context's deadline is the one that counts
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunDeadlines(t, s, func(t *testing.T) func() { return pauseRedis(t, srv.addr, 1500*time.Millisecond) })
}
