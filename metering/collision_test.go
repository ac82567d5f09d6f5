package metering

import (
	"context"
	"testing"
	"time"
)

// Two (plan, key)s whose hashes are equal keep their own counts.
func TestRecorderHashCollision(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 30, 0, 0, time.UTC)
	store := &MemoryHistory{}
	r, err := NewRecorder(store, Config{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	sh := &r.shards[0]
	a, b := pairKey{"usagePlan-a", "AKIDa"}, pairKey{"usagePlan-a", "AKIDb"}
	sh.mu.Lock()
	pa, pb := sh.lookup(42, a), sh.lookup(42, b)
	if pa == pb || sh.lookup(42, a) != pa || sh.lookup(42, b) != pb {
		t.Fatal("colliding pairs share an entry")
	}
	pa.hourStart, pa.hour, pa.active = at.Truncate(time.Hour).Unix(), Counts{Requests: 1}, true
	pb.hourStart, pb.hour, pb.active = at.Truncate(time.Hour).Unix(), Counts{Requests: 2}, true
	sh.mu.Unlock()
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := store.History(context.Background(), Query{Plan: "usagePlan-a", Granularity: Hour, From: at.Add(-time.Hour), To: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Key != "AKIDa" || rows[0].Requests != 1 || rows[1].Key != "AKIDb" || rows[1].Requests != 2 {
		t.Fatalf("rows %+v", rows)
	}
	// Idle for an interval, both entries go.
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sh.pairs) != 0 || len(sh.collided) != 0 {
		t.Fatalf("idle pairs kept: %d and %d collided", len(sh.pairs), len(sh.collided))
	}
}

// Events that alternate across an hour boundary (goroutines that read
// the clock on either side of it) do not pile up rows in memory: the
// late ones are summed into one row for their hour and day.
func TestRecorderBoundaryDoesNotFlap(t *testing.T) {
	midnight := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	r, err := NewRecorder(&MemoryHistory{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		r.RecordAt(midnight.Add(time.Second), "usagePlan-a", "AKIDa", nil, Counts{Requests: 1})
		r.RecordAt(midnight.Add(-time.Second), "usagePlan-a", "AKIDa", nil, Counts{Requests: 1})
	}
	closed := 0
	for i := range r.shards {
		closed += len(r.shards[i].closed)
	}
	if closed > 2 {
		t.Fatalf("%d closed rows held for one key across one boundary, want at most 2 (its hour and its day)", closed)
	}
}
