package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/planguard/planguard/metering"
)

// hashReads counts the HGETALL commands the client sends (n), the HMGET
// commands (named) and the fields those ask (fields).
type hashReads struct{ n, named, fields atomic.Int64 }

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
	switch strings.ToLower(cmd.Name()) {
	case "hgetall":
		h.n.Add(1)
	case "hmget":
		h.named.Add(1)
		h.fields.Add(int64(len(cmd.Args()) - 2))
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

// An hourly query of a few hours reads those hours' fields of each key,
// not the key's whole hash: a key with 31 days of hourly rows, asked
// for the rows from 00:30 to 03:00, gives rows 1 and 2 from an HMGET of
// their 10 fields (the first hour starts before the range). Past a week
// the query reads whole hashes, and the two reads agree.
func TestHistoryShortHourlyReadsItsFields(t *testing.T) {
	s, c := newStore(t, redisAddr, Config{})
	var rows []metering.Row
	for h := range 31 * 24 {
		rows = append(rows, metering.Row{Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Hour, Start: h0.Add(time.Duration(h) * time.Hour), Counts: metering.Counts{Requests: int64(h + 1), RefusedQuota: 7}})
	}
	if err := s.AddHistory(ctx, batch(rows...)); err != nil {
		t.Fatal(err)
	}
	reads := &hashReads{}
	c.AddHook(reads)
	q := metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0.Add(30 * time.Minute), To: h0.Add(3 * time.Hour)}
	got, err := s.History(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != rows[1] || got[1] != rows[2] {
		t.Fatalf("History from 00:30 to 03:00: %+v", got)
	}
	if n, named, fields := reads.n.Load(), reads.named.Load(), reads.fields.Load(); n != 0 || named != 1 || fields != 2*5 {
		t.Fatalf("History of 2 hours read %d hashes whole and asked %d HMGETs of %d fields, want 0, 1 and 10", n, named, fields)
	}

	// A week and an hour: whole hashes, the same rows as the hours read
	// one by one.
	q = metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: h0.Add(time.Hour), To: h0.Add((7*24 + 2) * time.Hour)}
	long, err := s.History(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if reads.n.Load() != 1 {
		t.Fatalf("History of a week and an hour read %d hashes whole, want 1", reads.n.Load())
	}
	want := rows[1 : 7*24+2]
	if !slices.Equal(long, want) {
		t.Fatalf("History of a week and an hour: %d rows, want %d", len(long), len(want))
	}
	var byHour []metering.Row
	for _, r := range want {
		got, err := s.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: r.Start, To: r.Start.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		byHour = append(byHour, got...)
	}
	if !slices.Equal(byHour, long) {
		t.Fatalf("the hours read one by one differ from the week read whole")
	}
}
