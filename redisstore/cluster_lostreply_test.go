package redisstore

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// dropProxy forwards TCP to a Redis; when armed, it drops the next reply
// Redis sends (closing both sides), as a connection lost after the
// command ran.
type dropProxy struct {
	addr    string
	target  string
	drop    atomic.Bool
	dropped atomic.Int32
}

func startDropProxy(t *testing.T, target string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &dropProxy{addr: ln.Addr().String(), target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return p
}

func (p *dropProxy) handle(c net.Conn) {
	r, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	go func() { io.Copy(r, c); r.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if p.drop.CompareAndSwap(true, false) {
				p.dropped.Add(1)
				break // the reply is lost with the connection
			}
			if _, err := c.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
	r.Close()
}

// On a ClusterClient built as the docs say (MaxRetries -1,
// ContextTimeoutEnabled), a decision whose reply is lost to a dropped
// connection is counted once: go-redis's cluster pipeline resends a
// pipeline after a network error up to MaxRedirects times, whatever
// MaxRetries, unless a command in it reports NoRetry, as the store's
// counting scripts do.
func TestClusterLostReplyCountsOnce(t *testing.T) {
	addr := oneNodeCluster(t)
	px := startDropProxy(t, addr)
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		// The cluster's one node, reached through the proxy.
		ClusterSlots: func(context.Context) ([]redis.ClusterSlot, error) {
			return []redis.ClusterSlot{{Start: 0, End: numSlots - 1, Nodes: []redis.ClusterNode{{Addr: px.addr}}}}, nil
		},
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { cc.Close() })
	s, err := New(cc, Config{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ := limiter.New(s, limiter.Config{})
	lim := limiter.Limits{QPS: limiter.Unlimited, Quota: 10, Period: limiter.Day}
	now := time.Now()
	// A first decision loads the script (a NOSCRIPT reply never ran).
	if d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "warm", Limits: lim}); err != nil || !d.Allowed {
		t.Fatalf("warm-up: %+v, %v", d, err)
	}
	px.drop.Store(true)
	d, err := l.AllowAt(ctx, now, limiter.Request{Plan: "p", Key: "k", Limits: lim})
	used, uerr := l.Usage(ctx, "p", "k", lim, now)
	if uerr != nil {
		t.Fatal(uerr)
	}
	t.Logf("replies dropped: %d; decision %+v, err %v; usage %d", px.dropped.Load(), d.Allowed, err, used)
	if used > 1 {
		t.Fatalf("one request counted %d times (decision allowed=%v, err=%v)", used, d.Allowed, err)
	}
}
