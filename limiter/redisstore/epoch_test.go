package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// Redis restarted without persistence: the store notices that its data
// is gone and refuses every decision (fail closed) on every instance,
// including one started afterwards, until an operator acknowledges the
// loss; then decisions resume.
func TestDataLossFailsClosedUntilAcknowledged(t *testing.T) {
	dir := tempDir(t)
	srv, err := startRedis(dir, 0, noPersistence...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop() })
	open := func() (*Store, *limiter.Limiter) {
		c := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		s, err := New(c, Options{Prefix: "loss:"})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := limiter.New(s, limiter.Config{})
		return s, l
	}
	_, a := open()
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 10}
	decide := func(l *limiter.Limiter) (limiter.Decision, error) {
		return l.AllowAt(context.Background(), "p", "k", lim, time.Now())
	}
	for i := range 11 {
		d, err := decide(a)
		if err != nil || d.Allowed != (i < 10) {
			t.Fatalf("decision %d before the restart: %+v, %v", i, d, err)
		}
	}

	srv.stop()
	if srv, err = startRedis(dir, srv.port, noPersistence...); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if d, err := decide(a); !errors.Is(err, ErrDataLoss) || d.Allowed {
			t.Fatalf("decision %d after the restart: %+v, %v; want ErrDataLoss", i, d, err)
		}
	}
	bs, b := open() // an instance started after the loss
	if d, err := decide(b); !errors.Is(err, ErrDataLoss) || d.Allowed {
		t.Fatalf("new instance after the restart: %+v, %v; want ErrDataLoss", d, err)
	}

	if err := bs.AcknowledgeDataLoss(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*limiter.Limiter{"a": a, "b": b} {
		if d, err := decide(l); err != nil || !d.Allowed {
			t.Fatalf("instance %s after the acknowledgement: %+v, %v", name, d, err)
		}
	}
}
