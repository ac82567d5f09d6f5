package metering

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"
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
	sh.mu.Lock()
	pa, pb := sh.lookup(42, "usagePlan-a", "AKIDa"), sh.lookup(42, "usagePlan-a", "AKIDb")
	if pa == pb || sh.lookup(42, "usagePlan-a", "AKIDa") != pa || sh.lookup(42, "usagePlan-a", "AKIDb") != pb {
		t.Fatal("colliding pairs share an entry")
	}
	sh.record(pa, at, at.Unix(), nil, Counts{Requests: 1})
	sh.record(pb, at, at.Unix(), nil, Counts{Requests: 2})
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
	if sh.n != 0 || sh.slots != nil {
		t.Fatalf("idle pairs kept: %d, index of %d slots", sh.n, len(sh.slots))
	}
}

// The index finds every pair through growth and through the shrinks of
// flushes that let idle pairs go, many of them colliding: each keeps its
// own counts.
func TestRecorderIndexGrowsAndShrinks(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 30, 0, 0, time.UTC)
	r, err := NewRecorder(&MemoryHistory{}, Config{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	sh := &r.shards[3]
	key := func(i int) string { return fmt.Sprintf("AKID%04d", i) }
	hash := func(i int) uint64 { return uint64(i%7) << 8 } // 7 hashes for 500 keys
	record := func(i int, n int64) {
		sh.mu.Lock()
		sh.record(sh.lookup(hash(i), "usagePlan-a", key(i)), at, at.Unix(), nil, Counts{Requests: n})
		sh.mu.Unlock()
	}
	for i := range 500 {
		record(i, int64(i+1))
	}
	if sh.n != 500 || len(sh.slots) < 500*4/3 {
		t.Fatalf("%d pairs in %d slots", sh.n, len(sh.slots))
	}
	rows := r.collect(nil) // all 500 recorded: all kept, their counts taken
	if len(rows) != 1000 || sh.n != 500 {
		t.Fatalf("%d rows, %d pairs kept", len(rows), sh.n)
	}
	for i := 0; i < 500; i += 5 { // a fifth stays active
		record(i, 1)
	}
	if rows = r.collect(nil); len(rows) != 200 || sh.n != 100 || len(sh.slots) > 512 {
		t.Fatalf("%d rows, %d pairs in %d slots after a flush of 100 active", len(rows), sh.n, len(sh.slots))
	}
	for i := range 500 {
		record(i, int64(i+1))
	}
	sums := map[string]int64{}
	for _, row := range r.collect(nil) {
		if row.Granularity == Hour {
			sums[row.Key] += row.Requests
		}
	}
	for i := range 500 {
		if sums[key(i)] != int64(i+1) {
			t.Fatalf("%s: %d requests, want %d", key(i), sums[key(i)], i+1)
		}
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

// The layout the request path's three cache lines rest on: a shard's
// lock and index header share a line, an index slot's hash, pair
// pointer, plan and key share one, and a pair is one line.
func TestRecorderLayout(t *testing.T) {
	r, err := NewRecorder(&MemoryHistory{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s := unsafe.Sizeof(recorderShard{}); s != 64 {
		t.Errorf("a shard is %d bytes, want 64", s)
	}
	oneLine := func(first, last unsafe.Pointer, size uintptr) bool {
		return uintptr(first)/64 == (uintptr(last)+size-1)/64
	}
	// The allocator may put a header before the Recorder.
	for i := range r.shards {
		sh := &r.shards[i]
		if !oneLine(unsafe.Pointer(&sh.mu), unsafe.Pointer(&sh.n), 8) {
			t.Fatalf("shard %d's lock and index header span two cache lines", i)
		}
	}
	if s := unsafe.Sizeof(slot{}); s != 64 {
		t.Errorf("a slot is %d bytes, want 64", s)
	}
	for _, n := range []int{16, 64, 1024, 1 << 14} { // small and large allocations
		sh := &recorderShard{}
		sh.resize(n)
		for i := range sh.slots {
			s := &sh.slots[i]
			if !oneLine(unsafe.Pointer(s), unsafe.Pointer(&s.key), 16) {
				t.Fatalf("slot %d of %d: its hash, pair, plan and key span two cache lines", i, n)
			}
		}
	}
	if s := unsafe.Sizeof(pair{}); s != 64 {
		t.Errorf("a pair is %d bytes, want 64", s)
	}
	for range 100 {
		pairSink = &pair{}
		if a := uintptr(unsafe.Pointer(pairSink)); a%64 != 0 {
			t.Fatalf("a pair allocated at %#x, not on a cache line", a)
		}
	}
}

// pairSink makes TestRecorderLayout's pairs heap allocations, as the
// Recorder's are.
var pairSink *pair
