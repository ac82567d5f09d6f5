package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/metering"
)

// hashReads counts the HGETALL commands the client sends.
type hashReads struct{ n atomic.Int64 }

func (*hashReads) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *hashReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.count(cmd); return next(ctx, cmd) }
}
func (h *hashReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.count(cmd)
		}
		return next(ctx, cmds)
	}
}
func (h *hashReads) count(cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "hgetall") {
		h.n.Add(1)
	}
}

// History with a Limit reads the hashes of only as many keys as it
// needs: a plan of 1200 keys, 2 rows each, asked for 5 rows reads 3 to
// 5 hashes, not 1200.
func TestHistoryLimitStopsReading(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	var rows []metering.Row
	for k := range 1200 {
		for h := range 2 {
			rows = append(rows, metering.Row{Plan: "usagePlan-a", Key: fmt.Sprintf("AKID%04d", k), Granularity: metering.Hour, Start: h0.Add(time.Duration(h) * time.Hour), Counts: metering.Counts{Requests: 1}})
		}
	}
	if err := s.AddHistory(ctx, batch(rows...)); err != nil {
		t.Fatal(err)
	}
	reads := &hashReads{}
	c.AddHook(reads)
	q := metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0, To: h0.Add(2 * time.Hour), Limit: 5}
	got, err := s.History(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Key != "AKID0000" || got[4].Key != "AKID0002" {
		t.Fatalf("History with Limit 5: %+v", got)
	}
	if n := reads.n.Load(); n > 5 {
		t.Fatalf("History with Limit 5 read %d hashes, want at most 5", n)
	}
}
