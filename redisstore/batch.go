package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/limiter"
)

// ErrUnconfirmed is wrapped, with the context's error, by the error of a
// call whose command was sent to Redis but whose reply did not arrive by
// the deadline: the command may have run, or may still run, so a
// decision that failed this way may have been counted.
var ErrUnconfirmed = errors.New("redisstore: sent to Redis, no reply by the deadline (it may have been counted)")

// A call is one command waiting in the store's queue for a pipeline.
type call struct {
	// build adds the command to p (with the whole script if eval, after
	// a NOSCRIPT reply) and returns it.
	build    func(p redis.Pipeliner, eval bool) redis.Cmder
	deadline time.Time
	state    atomic.Int32 // queued, sent or abandoned
	done     chan struct{}
	cmd      redis.Cmder // set before done is closed
	err      error       // a failure before the command's reply: set before done is closed
}

const (
	queued    int32 = iota
	sent            // in a pipeline: its command may run
	abandoned       // its caller gave up before it was sent: it never will be
)

// batcher queues calls and sends them in pipelines.
type batcher struct {
	mu       sync.Mutex
	queue    []*call
	flushing int  // pipelines in flight (goroutines running flushLoop)
	closed   bool // no more calls
	wg       sync.WaitGroup
}

// close stops new calls and waits for the pipelines in flight; it
// reports whether the batcher was open.
func (b *batcher) close() bool {
	b.mu.Lock()
	was := !b.closed
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
	return was
}

// do queues the command that build adds and waits for its reply, until
// the store's timeout or ctx's deadline, whichever is first.
func (s *Store) do(ctx context.Context, build func(p redis.Pipeliner, eval bool) redis.Cmder) (redis.Cmder, error) {
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c := &call{build: build, deadline: deadline, done: make(chan struct{})}
	b := &s.batch
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, limiter.ErrStoreClosed
	}
	b.queue = append(b.queue, c)
	start := b.flushing < s.pipelines
	if start {
		b.flushing++
		b.wg.Add(1)
	}
	b.mu.Unlock()
	if start {
		go s.flushLoop()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var cause error
	select {
	case <-c.done:
		return c.result(ctx)
	case <-timer.C:
		cause = context.DeadlineExceeded
	case <-ctx.Done():
		cause = ctx.Err()
	}
	if c.state.CompareAndSwap(queued, abandoned) {
		return nil, fmt.Errorf("redisstore: not sent by the deadline, nothing counted: %w", cause)
	}
	select {
	case <-c.done: // the reply came as the deadline passed
		return c.result(ctx)
	default:
		return nil, fmt.Errorf("%w: %w", ErrUnconfirmed, cause)
	}
}

// result is c's command, or its failure. A command that failed for its
// connection (not with a reply) once the deadline passed failed for the
// deadline: the socket's deadline follows it (ContextTimeoutEnabled), and
// may pass an instant before ctx's timer fires.
func (c *call) result(ctx context.Context) (redis.Cmder, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := c.cmd.Err(); err != nil && !isReply(err) {
		if cause := ctx.Err(); cause != nil || !time.Now().Before(c.deadline) {
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return nil, fmt.Errorf("%w: %w", ErrUnconfirmed, cause)
		}
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	return c.cmd, nil
}

// isReply reports whether err is a reply of Redis (or redis.Nil), not a
// failure to get one.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// flushLoop sends the queue in pipelines until it is empty.
func (s *Store) flushLoop() {
	b := &s.batch
	defer b.wg.Done()
	for {
		b.mu.Lock()
		n := min(len(b.queue), s.maxBatch)
		if n == 0 {
			b.flushing--
			b.mu.Unlock()
			return
		}
		batch := make([]*call, n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		s.flush(batch)
	}
}

// flush sends the calls of batch whose callers still wait in one
// pipeline, and again with the whole script those that Redis did not
// know the script of (NOSCRIPT: they did not run).
func (s *Store) flush(batch []*call) {
	if err := s.learnEpoch(batch); err != nil {
		for _, c := range batch {
			if c.state.CompareAndSwap(queued, sent) {
				c.err = err
				close(c.done)
			}
		}
		return
	}
	live := batch[:0]
	var deadline time.Time
	for _, c := range batch {
		if c.state.CompareAndSwap(queued, sent) {
			live = append(live, c)
			deadline = later(deadline, c.deadline)
		}
	}
	if len(live) == 0 {
		return
	}
	// The pipeline's context carries no caller's cancellation: one
	// caller giving up must not fail the others.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	s.exec(ctx, live, false)
	retry := live[:0:0]
	for _, c := range live {
		if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			retry = append(retry, c)
			continue
		}
		close(c.done)
	}
	if len(retry) > 0 {
		s.exec(ctx, retry, true)
		for _, c := range retry {
			close(c.done)
		}
	}
}

// learnEpoch learns the epoch for the first pipeline of the store. It
// may take longer than the calls' deadlines (a Cluster's first store
// writes 16384 markers): the calls that give up meanwhile are not sent.
func (s *Store) learnEpoch(batch []*call) error {
	if s.epoch.v.Load() != nil {
		return nil
	}
	deadline := time.Now().Add(initTimeout)
	for _, c := range batch {
		deadline = later(deadline, c.deadline)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	return wrap(s.ensureEpoch(ctx))
}

// exec sends calls in one pipeline; each command gets its own reply or
// error.
func (s *Store) exec(ctx context.Context, calls []*call, eval bool) {
	p := s.rdb.Pipeline()
	for _, c := range calls {
		c.cmd = c.build(p, eval)
	}
	// Exec returns the first command's error, and each command keeps
	// its own; but after a connection failure some commands may carry
	// none (go-redis v9.19 leaves them empty when the pool fails to hand
	// out a connection). Then none of the replies is trusted.
	if _, err := p.Exec(ctx); err != nil && !isReply(err) {
		for _, c := range calls {
			if c.cmd.Err() == nil {
				c.cmd.SetErr(err)
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
