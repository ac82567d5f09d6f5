package redisstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/metering"
)

// lostReply drops the replies of the next write of the history (a
// command, pipeline or transaction that runs a script) once Redis has
// applied it: the caller sees a read timeout, as when the network fails
// between the server's reply and the client.
type lostReply struct{ armed, dropped atomic.Bool }

func runsScript(cmds ...redis.Cmder) bool {
	for _, cmd := range cmds {
		if n := cmd.Name(); n == "eval" || n == "evalsha" {
			return true
		}
	}
	return false
}

var errLostReply = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

func (*lostReply) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *lostReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && runsScript(cmd) && l.armed.CompareAndSwap(true, false) {
			l.dropped.Store(true)
			cmd.SetErr(errLostReply)
			return errLostReply
		}
		return err
	}
}

func (l *lostReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil && runsScript(cmds...) && l.armed.CompareAndSwap(true, false) {
			l.dropped.Store(true)
			for _, cmd := range cmds {
				cmd.SetErr(errLostReply)
			}
			return errLostReply
		}
		return err
	}
}

// onceHistory returns the stored hour rows of keys, by key.
func onceHistory(t *testing.T, s *Store, plan string, keys ...string) map[string]metering.Counts {
	t.Helper()
	rows, err := s.History(ctx, metering.Query{Plan: plan, Keys: keys, Granularity: metering.Hour, From: h0, To: h0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]metering.Counts{}
	for _, r := range rows {
		got[r.Key] = r.Counts
	}
	return got
}

// A flush whose reply is lost after Redis applied it is written again by
// the Recorder's next flush; Redis counts it once.
func TestHistoryLostReplyCountsOnce(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	lost := &lostReply{}
	c.AddHook(lost)
	now := h0.Add(time.Minute)
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const plan = "usagePlan-lost"
	keys := []string{"AKIDa", "AKIDb", "AKIDc"}
	for i, k := range keys {
		rec.Record(plan, k, nil, metering.Counts{Requests: int64(i + 1), Units: 10})
	}
	lost.armed.Store(true)
	if err := rec.Flush(ctx); err == nil || !lost.dropped.Load() {
		t.Fatalf("flush whose reply is lost: %v (reply dropped: %v), want an error", err, lost.dropped.Load())
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	got := onceHistory(t, s, plan, keys...)
	for i, k := range keys {
		if want := (metering.Counts{Requests: int64(i + 1), Units: 10}); got[k] != want {
			t.Errorf("%s: stored %+v, want %+v (recorded once)", k, got[k], want)
		}
	}
}

// A flush one of whose rows Redis refuses (its hash holds another type)
// adds none of its rows: once the key is repaired, the Recorder's retry
// counts every row once, those before and those after the refused one.
func TestHistoryRefusedRowRetryCountsOnce(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	now := h0.Add(time.Minute)
	rec, err := metering.NewRecorder(s, metering.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const plan = "usagePlan-refused"
	bad := s.historyKey(plan, "AKIDbad", metering.Hour)
	if err := c.Set(ctx, bad, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("AKID%02d", i))
	}
	for _, k := range append(keys, "AKIDbad") {
		rec.Record(plan, k, nil, metering.Counts{Requests: 1, Units: 3})
	}
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("flush over a hash of another type: no error")
	}
	if err := c.Del(ctx, bad).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	got := onceHistory(t, s, plan, append(keys, "AKIDbad")...)
	for _, k := range append(keys, "AKIDbad") {
		if want := (metering.Counts{Requests: 1, Units: 3}); got[k] != want {
			t.Errorf("%s: stored %+v, want %+v (recorded once)", k, got[k], want)
		}
	}
}

// The record of a batch's part lives metering.BatchWindow: Redis
// forgets it after a day.
func TestHistoryBatchRecordExpires(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	b := batch(metering.Row{Plan: "usagePlan-ttl", Key: "AKIDa", Granularity: metering.Hour, Start: h0, Counts: metering.Counts{Requests: 1}})
	if err := s.AddHistory(ctx, b); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(ctx, s.prefix+"h:batch:"+b.ID+":0").Result()
	if err != nil || ttl <= metering.BatchWindow-time.Minute || ttl > metering.BatchWindow {
		t.Fatalf("the batch record's TTL: %v, %v; want about %v", ttl, err, metering.BatchWindow)
	}
}
