package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

// BenchmarkHistoryFlush: see boltstore's.
func BenchmarkHistoryFlush(b *testing.B) {
	for _, mode := range []historytest.Mode{historytest.PerInterval, historytest.PerRequest} {
		b.Run(mode.String(), func(b *testing.B) {
			s, _ := newStore(b, redisAddr, Config{})
			historytest.BenchmarkSteadyLoad(b, s, mode)
		})
	}
}

// BenchmarkHistoryDayOfHours: the hourly rows of one day of a plan of
// 200 keys, each with 31 days of hourly rows (the default retention),
// the query an hourly export of yesterday makes.
func BenchmarkHistoryDayOfHours(b *testing.B) {
	s, _ := newStore(b, redisAddr, Config{})
	var rows []metering.Row
	for k := range 200 {
		for h := range 31 * 24 {
			rows = append(rows, metering.Row{Plan: "usagePlan-a", Key: fmt.Sprintf("AKID%04d", k), Granularity: metering.Hour, Start: h0.Add(time.Duration(h) * time.Hour), Counts: metering.Counts{Requests: int64(h + 1)}})
		}
	}
	for i := 0; i < len(rows); i += 10_000 {
		if err := s.AddHistory(ctx, batch(rows[i:min(i+10_000, len(rows))]...)); err != nil {
			b.Fatal(err)
		}
	}
	day := h0.Add(15 * 24 * time.Hour)
	q := metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: day, To: day.Add(24 * time.Hour)}
	for b.Loop() {
		got, err := s.History(ctx, q)
		if err != nil || len(got) != 200*24 {
			b.Fatalf("History: %d rows, %v", len(got), err)
		}
	}
}
