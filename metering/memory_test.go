package metering_test

import (
	"context"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
	"github.com/planguard/planguard/metering/historytest"
)

func TestMemoryHistoryConformance(t *testing.T) {
	historytest.Run(t, func(*testing.T) metering.HistoryStore { return &metering.MemoryHistory{} })
}

// Counts.Add saturates each count instead of wrapping it.
func TestCountsAddSaturates(t *testing.T) {
	const maxInt64, minInt64 = 1<<63 - 1, -1 << 63
	c := metering.Counts{Requests: 1, Units: maxInt64 - 1, Overage: maxInt64, RefusedRate: minInt64 + 1, RefusedQuota: 5}
	c.Add(metering.Counts{Requests: 2, Units: 2, Overage: maxInt64, RefusedRate: -2, RefusedQuota: -7})
	want := metering.Counts{Requests: 3, Units: maxInt64, Overage: maxInt64, RefusedRate: minInt64, RefusedQuota: -2}
	if c != want {
		t.Fatalf("Add: got %+v, want %+v", c, want)
	}
}

// MemoryHistory remembers a writer's last batch for BatchWindow after
// it, then forgets it: a replay within the window adds nothing, one past
// it counts again. Each batch of the writer renews the window.
func TestMemoryHistoryForgetsWritersPastTheWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	m := &metering.MemoryHistory{Now: func() time.Time { return now }}
	row := metering.Row{Plan: "usagePlan-a", Key: "AKIDa", Granularity: metering.Hour, Start: t0, Counts: metering.Counts{Requests: 1}}
	w := metering.NewWriterID()
	b := metering.Batch{Writer: w, Seq: 1, Rows: []metering.Row{row}}
	requests := func() int64 {
		rows, err := m.History(context.Background(), metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: t0, To: t0.Add(time.Hour)})
		if err != nil || len(rows) != 1 {
			t.Fatalf("History: %v, %v", rows, err)
		}
		return rows[0].Requests
	}
	add := func(b metering.Batch) {
		t.Helper()
		if err := m.AddHistory(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	// Each replay renews the writer's record: replays a little under a
	// window apart, for two windows, add nothing.
	last := time.Duration(0)
	for _, at := range []time.Duration{0, time.Hour, metering.BatchWindow - time.Nanosecond, 2*metering.BatchWindow - 2*time.Nanosecond} {
		now = t0.Add(at)
		add(b)
		if n := requests(); n != 1 {
			t.Fatalf("after a replay %v after the batch: %d requests, want 1", at, n)
		}
		last = at
	}
	// Another writer's batch a window after the last replay: the first
	// writer, silent that long, is forgotten, the other kept.
	now = t0.Add(last + metering.BatchWindow)
	other := metering.Batch{Writer: metering.NewWriterID(), Seq: 1}
	add(other)
	add(b)
	if n := requests(); n != 2 {
		t.Fatalf("a replay past BatchWindow: %d requests, want 2 (the writer forgotten)", n)
	}
	// The writer's next batches renew its record: a day after batch 1's
	// replay (its record renewed by batch 2 half a day later), batch 1
	// and 2 add nothing.
	now = now.Add(metering.BatchWindow / 2)
	b2 := b
	b2.Seq = 2
	add(b2)
	now = now.Add(metering.BatchWindow/2 + time.Hour)
	add(b)
	add(b2)
	if n := requests(); n != 3 {
		t.Fatalf("replays within a day of batch 2: %d requests, want 3", n)
	}
}
