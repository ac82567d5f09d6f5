package metering_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata" // the DST test's zone, on hosts without a tz database

	"github.com/planguard/planguard/metering"
)

var ctx = context.Background()

// countingStore counts the AddHistory calls and rows written to a
// MemoryHistory, and fails them while fail is set.
type countingStore struct {
	metering.MemoryHistory
	calls, rows atomic.Int64
	fail        atomic.Bool
}

func (s *countingStore) AddHistory(ctx context.Context, b metering.Batch) error {
	if s.fail.Load() {
		return errors.New("store down")
	}
	s.calls.Add(1)
	s.rows.Add(int64(len(b.Rows)))
	return s.MemoryHistory.AddHistory(ctx, b)
}

// clock is a settable clock for Config.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

func newRecorder(t *testing.T, s metering.HistoryStore, cfg metering.Config) *metering.Recorder {
	t.Helper()
	r, err := metering.NewRecorder(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func history(t *testing.T, h interface {
	History(context.Context, metering.Query) ([]metering.Row, error)
}, q metering.Query) []metering.Row {
	t.Helper()
	rows, err := h.History(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func sum(rows []metering.Row) metering.Counts {
	var c metering.Counts
	for _, r := range rows {
		c.Add(r.Counts)
	}
	return c
}

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func everything(plan string, g metering.Granularity) metering.Query {
	return metering.Query{Plan: plan, Granularity: g, From: t0.AddDate(-2, 0, 0), To: t0.AddDate(2, 0, 0)}
}

// Under 1000 goroutines recording while flushes run and the clock
// crosses hours and days, the store ends with exactly what was recorded,
// in the hourly and in the daily rows.
func TestRecorderExactUnderConcurrency(t *testing.T) {
	store := &metering.MemoryHistory{}
	clk := newClock(t0.Add(23 * time.Hour))
	rec := newRecorder(t, store, metering.Config{Now: clk.now})
	const goroutines, events, keys = 1000, 200, 37
	var want [keys]metering.Counts
	var wantMu sync.Mutex
	stop := make(chan struct{})
	flushed := make(chan error)
	// The goroutines record half their events at 23:00 while flushes
	// run; once all have, the clock jumps 70 minutes, past midnight, and
	// then moves 7 minutes per flush, 200 times at most (23 h 20 min:
	// far from the 31 days after which the Recorder would prune the
	// first hours). The events span hours and days however the
	// goroutines are scheduled.
	var half sync.WaitGroup
	half.Add(goroutines)
	crossed := make(chan struct{})
	go func() {
		half.Wait()
		clk.add(70 * time.Minute)
		close(crossed)
	}()
	go func() { // flush and move the clock on while recording
		var err error
		for step := 0; ; {
			select {
			case <-stop:
				flushed <- err
				return
			default:
			}
			select {
			case <-crossed:
				if step++; step <= 200 {
					clk.add(7 * time.Minute)
				}
			default:
			}
			err = errors.Join(err, rec.Flush(ctx))
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var mine [keys]metering.Counts
			for i := range events {
				if i == events/2 {
					half.Done()
					<-crossed
				}
				k := (g + i) % keys
				c := metering.Counts{Requests: 1, Units: int64(1 + i%5), Overage: int64(i % 2), RefusedRate: int64(i % 3 / 2), RefusedQuota: int64(i % 7 / 6)}
				rec.RecordAt(clk.now(), "usagePlan-exact", fmt.Sprintf("AKID%02d", k), nil, c)
				mine[k].Add(c)
			}
			wantMu.Lock()
			for k := range mine {
				want[k].Add(mine[k])
			}
			wantMu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		rows := history(t, store, everything("usagePlan-exact", g))
		var total metering.Counts
		for k := range keys {
			q := everything("usagePlan-exact", g)
			q.Keys = []string{fmt.Sprintf("AKID%02d", k)}
			if got := sum(history(t, store, q)); got != want[k] {
				t.Errorf("%s rows of key %d sum to %+v, recorded %+v", g, k, got, want[k])
			}
			total.Add(want[k])
		}
		if got := sum(rows); got != total {
			t.Errorf("%s rows sum to %+v, recorded %+v", g, got, total)
		}
		if total.Units == 0 || len(rows) < 2*keys {
			t.Fatalf("%s: %d rows, %+v: the test did not cross an hour", g, len(rows), total)
		}
	}
}

// Daily rows follow the plan's time zone: the days on which New York's
// clocks change hold 23 and 25 hours of data; hourly rows stay UTC.
func TestRecorderDSTDays(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		day      time.Time // local midnight of the day of the change
		hours    int
		startUTC string
	}{
		{"spring forward", time.Date(2026, 3, 8, 0, 0, 0, 0, ny), 23, "2026-03-08 05:00:00"},
		{"fall back", time.Date(2026, 11, 1, 0, 0, 0, 0, ny), 25, "2026-11-01 04:00:00"},
		{"ordinary day", time.Date(2026, 6, 1, 0, 0, 0, 0, ny), 24, "2026-06-01 04:00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &metering.MemoryHistory{}
			end := tc.day.Add(48 * time.Hour)
			rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return end }})
			// One request at the middle of every UTC hour from a day
			// before to a day after.
			from := tc.day.Add(-24 * time.Hour).Truncate(time.Hour)
			for at := from.Add(30 * time.Minute); at.Before(end); at = at.Add(time.Hour) {
				rec.RecordAt(at, "usagePlan-ny", "AKIDa", ny, metering.Counts{Requests: 1, Units: 1})
			}
			if err := rec.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			q := metering.Query{Plan: "usagePlan-ny", Granularity: metering.Day, From: tc.day, To: tc.day.Add(time.Hour)}
			rows := history(t, store, q)
			if len(rows) != 1 {
				t.Fatalf("%d daily rows start at %v, want 1", len(rows), tc.day)
			}
			if got := metering.FormatTime(rows[0].Start); got != tc.startUTC || rows[0].Requests != int64(tc.hours) {
				t.Fatalf("day row starts %s with %d requests, want %s with %d", got, rows[0].Requests, tc.startUTC, tc.hours)
			}
			hours := history(t, store, metering.Query{Plan: "usagePlan-ny", Granularity: metering.Hour, From: tc.day, To: tc.day.AddDate(0, 0, 1)})
			if len(hours) != tc.hours {
				t.Fatalf("%d hourly rows in the day, want %d", len(hours), tc.hours)
			}
			for _, h := range hours {
				if h.Start.Minute() != 0 || h.Start.Second() != 0 {
					t.Fatalf("hourly row starts at %v", h.Start)
				}
			}
		})
	}
}

// A flush writes one batch of at most two rows per (plan, key) recorded
// in the interval, however many requests there were, and nothing for
// an idle interval.
func TestRecorderWritesBoundedByActivePairs(t *testing.T) {
	store := &countingStore{}
	at := t0.Add(10 * time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	for i := range 100_000 {
		rec.RecordAt(at, "usagePlan-a", fmt.Sprintf("AKID%03d", i%100), nil, metering.Counts{Requests: 1, Units: 1})
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c, r := store.calls.Load(), store.rows.Load(); c != 1 || r != 200 {
		t.Fatalf("first flush: %d calls, %d rows; want 1 call of 200 rows (100 keys, hour and day)", c, r)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c := store.calls.Load(); c != 1 {
		t.Fatalf("an idle interval wrote: %d calls", c)
	}
	if got := sum(history(t, store, everything("usagePlan-a", metering.Hour))); got.Requests != 100_000 {
		t.Fatalf("stored %d requests, want 100000", got.Requests)
	}
}

// Over 500 simulated days of traffic, with a flush every hour, the
// store never holds more than the retention allows and keeps all of it.
func TestRecorderRetentionBounded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention metering.Retention
		hourRows  int // per key, at most
		dayRows   int
	}{
		{"default", metering.Retention{}, 31*24 + 1, 400 + 1},
		{"configured", metering.Retention{Hour: 48 * time.Hour, Day: 10 * 24 * time.Hour}, 48 + 1, 10 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const keys = 5
			store := &metering.MemoryHistory{}
			clk := newClock(t0)
			rec := newRecorder(t, store, metering.Config{Now: clk.now, Retention: tc.retention})
			bound, peak := keys*(tc.hourRows+tc.dayRows), 0
			for h := range 500 * 24 {
				clk.set(t0.Add(time.Duration(h)*time.Hour + 30*time.Minute))
				for k := range keys {
					rec.Record("usagePlan-r", fmt.Sprintf("AKID%d", k), nil, metering.Counts{Requests: 1, Units: 1})
				}
				if err := rec.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				peak = max(peak, store.Len())
			}
			if peak > bound {
				t.Fatalf("the store held up to %d rows; retention bounds it at %d", peak, bound)
			}
			now := clk.now()
			for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
				keep := tc.retention.Hour
				if g == metering.Day {
					keep = tc.retention.Day
				}
				if keep == 0 {
					keep = map[metering.Granularity]time.Duration{metering.Hour: metering.DefaultHourRetention, metering.Day: metering.DefaultDayRetention}[g]
				}
				rows := history(t, store, everything("usagePlan-r", g))
				oldest := rows[0].Start
				for _, r := range rows {
					if r.Start.Before(oldest) {
						oldest = r.Start
					}
				}
				if oldest.Before(now.Add(-keep)) || oldest.After(now.Add(-keep).Add(24*time.Hour)) {
					t.Errorf("%s: the oldest row starts %v; with a retention of %v at %v it should be the first kept", g, oldest, keep, now)
				}
			}
		})
	}
}

// A failed write keeps the rows: the next flush writes them, summed
// with what came meanwhile, and nothing is counted twice.
func TestRecorderKeepsRowsWhenTheStoreFails(t *testing.T) {
	store := &countingStore{}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{MaxPending: 3, Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 2})
	store.fail.Store(true)
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("Flush reported no error from a failing store")
	}
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 3})
	rec.RecordAt(at.Add(time.Hour), "usagePlan-a", "AKIDa", nil, metering.Counts{Units: 4})
	// Held rows are visible before they are written.
	if got := sum(history(t, rec, everything("usagePlan-a", metering.Hour))); got != (metering.Counts{Requests: 2, Units: 9}) {
		t.Fatalf("History while the store fails: %+v", got)
	}
	store.fail.Store(false)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sum(history(t, store, everything("usagePlan-a", metering.Hour))); got != (metering.Counts{Requests: 2, Units: 9}) {
		t.Fatalf("stored after the retry: %+v, want 2 requests and 9 units", got)
	}
	if got := sum(history(t, store, everything("usagePlan-a", metering.Day))); got != (metering.Counts{Requests: 2, Units: 9}) {
		t.Fatalf("stored daily after the retry: %+v", got)
	}
	// Past MaxPending, rows are dropped and the error says so.
	store.fail.Store(true)
	for k := range 5 {
		rec.RecordAt(at, "usagePlan-a", fmt.Sprintf("AKID%d", k), nil, metering.Counts{Requests: 1})
	}
	if err := rec.Flush(ctx); err == nil || !strings.Contains(err.Error(), "7 rows dropped") {
		t.Fatalf("Flush over MaxPending: %v, want 7 rows dropped", err)
	}
}

// History adds what the Recorder holds to what the store has, and the
// figures do not change when it is written.
func TestRecorderHistoryIncludesUnwritten(t *testing.T) {
	store := &metering.MemoryHistory{}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 1})
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 5})
	rec.RecordAt(at, "usagePlan-a", "AKIDb", nil, metering.Counts{RefusedRate: 1})
	rec.RecordAt(at, "usagePlan-other", "AKIDa", nil, metering.Counts{RefusedQuota: 1})
	q := everything("usagePlan-a", metering.Hour)
	before := history(t, rec, q)
	want := []metering.Counts{{Requests: 2, Units: 6}, {RefusedRate: 1}}
	if len(before) != 2 || before[0].Counts != want[0] || before[1].Counts != want[1] {
		t.Fatalf("History before the flush: %+v", before)
	}
	q.Keys = []string{"AKIDb"}
	if got := history(t, rec, q); len(got) != 1 || got[0].Key != "AKIDb" {
		t.Fatalf("History of AKIDb: %+v", got)
	}
	q.Keys = nil
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := history(t, rec, q)
	if len(after) != 2 || after[0].Counts != want[0] || after[1].Counts != want[1] {
		t.Fatalf("History after the flush: %+v", after)
	}
	if _, err := rec.History(ctx, metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: t0, To: t0}); !errors.Is(err, metering.ErrTimeRange) {
		t.Fatalf("an empty range: %v", err)
	}
}

// Start flushes every interval; Close stops it and writes the rest.
func TestRecorderStartAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &countingStore{}
		var errs atomic.Int64
		rec := newRecorder(t, store, metering.Config{FlushInterval: time.Second, OnError: func(error) { errs.Add(1) }})
		rec.Start()
		rec.Start() // idempotent
		rec.Record("usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1})
		time.Sleep(1500 * time.Millisecond) // the bubble's clock
		synctest.Wait()
		if store.calls.Load() != 1 {
			t.Fatalf("after one interval: %d writes, want 1", store.calls.Load())
		}
		store.fail.Store(true)
		rec.Record("usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1})
		time.Sleep(time.Second)
		synctest.Wait()
		if errs.Load() != 1 {
			t.Fatalf("OnError was called %d times for a failed flush, want 1", errs.Load())
		}
		store.fail.Store(false)
		rec.Record("usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1})
		if err := rec.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := rec.Close(ctx); err != nil {
			t.Fatal(err)
		}
		q := metering.Query{Plan: "usagePlan-a", Granularity: metering.Hour, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
		if got := sum(history(t, store, q)); got.Requests != 3 {
			t.Fatalf("after Close the store holds %d requests, want 3", got.Requests)
		}
	})
}

func TestNewRecorderRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]metering.Config{
		"negative interval":     {FlushInterval: -1},
		"negative pending":      {MaxPending: -1},
		"hourly under an hour":  {Retention: metering.Retention{Hour: time.Minute}},
		"daily under a day":     {Retention: metering.Retention{Day: time.Hour}},
		"negative day retained": {Retention: metering.Retention{Day: -time.Hour}},
	} {
		if _, err := metering.NewRecorder(&metering.MemoryHistory{}, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := metering.NewRecorder(nil, metering.Config{}); err == nil {
		t.Error("a nil store: accepted")
	}
}

// An event whose hour (or day) is over when it is recorded — its
// goroutine read the clock before the boundary and took the lock after
// another's event past it — goes to its own hour and day, and the
// current ones go on.
func TestRecorderLateEvents(t *testing.T) {
	store := &countingStore{}
	at := t0.Add(23*time.Hour + 59*time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	one := metering.Counts{Requests: 1, Units: 1}
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, one)                    // 23:59
	rec.RecordAt(at.Add(2*time.Minute), "usagePlan-a", "AKIDa", nil, one) // 00:01, the next day
	for range 100 {
		rec.RecordAt(at.Add(30*time.Second), "usagePlan-a", "AKIDa", nil, one) // 23:59:30, late
	}
	rec.RecordAt(at.Add(3*time.Minute), "usagePlan-a", "AKIDa", nil, one) // 00:02
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := store.rows.Load(); n != 4 {
		t.Fatalf("the flush wrote %d rows, want 4 (two hours, two days)", n)
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		rows := history(t, store, everything("usagePlan-a", g))
		if len(rows) != 2 || rows[0].Requests != 101 || rows[1].Requests != 2 || !rows[1].Start.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("%s rows: %+v", g, rows)
		}
	}
}

// partialStore writes the first row of each batch and fails the rest
// with a PartialWriteError, once, as a store writing in parts does: a
// retry of the batch (same Writer and Seq) adds only the rows it did not.
type partialStore struct {
	metering.MemoryHistory
	failed  bool
	written map[uint64]int // batch Seq → rows written
	retries []metering.Batch
}

func (s *partialStore) AddHistory(ctx context.Context, b metering.Batch) error {
	if n, ok := s.written[b.Seq]; ok {
		s.retries = append(s.retries, b)
		return s.MemoryHistory.AddHistory(ctx, metering.Batch{Writer: b.Writer + ".1", Seq: b.Seq, Rows: b.Rows[n:]})
	}
	if s.failed || len(b.Rows) < 2 {
		return s.MemoryHistory.AddHistory(ctx, b)
	}
	s.failed = true
	if err := s.MemoryHistory.AddHistory(ctx, metering.Batch{Writer: b.Writer + ".0", Seq: b.Seq, Rows: b.Rows[:1]}); err != nil {
		return err
	}
	s.written = map[uint64]int{b.Seq: 1}
	return &metering.PartialWriteError{Written: 1, Err: errors.New("connection lost")}
}

// After a partial write, the next flush writes the batch again under its
// ID, and History counts the written rows as stored: nothing is counted
// twice.
func TestRecorderRetriesThePartialBatch(t *testing.T) {
	store := &partialStore{}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 1})
	rec.RecordAt(at, "usagePlan-a", "AKIDb", nil, metering.Counts{Requests: 1, Units: 1})
	err := rec.Flush(ctx)
	if pw := (*metering.PartialWriteError)(nil); !errors.As(err, &pw) || pw.Written != 1 {
		t.Fatalf("first flush: %v", err)
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if got := sum(history(t, rec, everything("usagePlan-a", g))); got != (metering.Counts{Requests: 2, Units: 2}) {
			t.Fatalf("%s rows before the retry: %+v, want 2 requests", g, got)
		}
	}
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 1})
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.retries) != 1 || len(store.retries[0].Rows) != 4 {
		t.Fatalf("retries %+v, want the batch of 4 rows once", store.retries)
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if got := sum(history(t, store, everything("usagePlan-a", g))); got != (metering.Counts{Requests: 3, Units: 3}) {
			t.Fatalf("%s rows after the retry: %+v, want 3 requests", g, got)
		}
	}
}

// lossyStore applies each batch and then fails the call, lost times: a
// reply lost after the write landed. It keeps the batches it was given.
type lossyStore struct {
	metering.MemoryHistory
	lost    int
	batches []metering.Batch
}

func (s *lossyStore) AddHistory(ctx context.Context, b metering.Batch) error {
	s.batches = append(s.batches, metering.Batch{Writer: b.Writer, Seq: b.Seq, Rows: slices.Clone(b.Rows)})
	if err := s.MemoryHistory.AddHistory(ctx, b); err != nil {
		return err
	}
	if s.lost > 0 {
		s.lost--
		return errors.New("i/o timeout")
	}
	return nil
}

// A flush whose reply is lost is written again with the same Writer,
// Seq and rows, as many times as it takes, and what was recorded meanwhile
// goes in a batch of its own after it: everything is stored once.
func TestRecorderRetriesTheSameBatch(t *testing.T) {
	store := &lossyStore{lost: 3}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1, Units: 2})
	rec.RecordAt(at, "usagePlan-a", "AKIDb", nil, metering.Counts{Requests: 1, Units: 2})
	for i := range 3 {
		if err := rec.Flush(ctx); err == nil {
			t.Fatalf("flush %d: no error", i)
		}
		rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1})
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.batches) != 5 {
		t.Fatalf("%d writes, want 5 (the batch 4 times, then the rows recorded meanwhile)", len(store.batches))
	}
	first := store.batches[0]
	if first.Seq != 1 || len(first.Writer) != 32 {
		t.Fatalf("the first batch: writer %q, Seq %d; want a 32-digit writer ID and Seq 1", first.Writer, first.Seq)
	}
	for i, b := range store.batches[1:4] {
		if b.Writer != first.Writer || b.Seq != first.Seq || !slices.Equal(b.Rows, first.Rows) {
			t.Fatalf("retry %d: %+v, want the first batch %+v", i+1, b, first)
		}
	}
	if last := store.batches[4]; last.Writer != first.Writer || last.Seq != first.Seq+1 || len(last.Rows) != 2 || last.Rows[0].Requests != 3 {
		t.Fatalf("the batch after the retries: %+v, want AKIDa's 3 requests in the writer's next batch (Seq %d)", last, first.Seq+1)
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if got := sum(history(t, store, everything("usagePlan-a", g))); got != (metering.Counts{Requests: 5, Units: 4}) {
			t.Fatalf("%s rows: %+v, want 5 requests and 4 units, each once", g, got)
		}
	}
}

// In a zone whose midnight is not on a UTC hour (India, +05:30), the UTC
// hour that holds midnight is one hourly row, and its events split
// between the two days' rows at midnight.
func TestRecorderDayBoundaryInsideAnHour(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	midnight := time.Date(2026, 6, 2, 0, 0, 0, 0, ist) // 2026-06-01 18:30 UTC
	store := &countingStore{}
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return midnight }})
	one := metering.Counts{Requests: 1, Units: 2}
	for _, d := range []time.Duration{-20 * time.Minute, -time.Second, 0, 10 * time.Minute, -5 * time.Minute /* late */, 29 * time.Minute, 31 * time.Minute} {
		rec.RecordAt(midnight.Add(d), "usagePlan-in", "AKIDa", ist, one)
	}
	hours := history(t, rec, everything("usagePlan-in", metering.Hour)) // before the flush
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rows := range [][]metering.Row{hours, history(t, store, everything("usagePlan-in", metering.Hour))} {
		if len(rows) != 2 || metering.FormatTime(rows[0].Start) != "2026-06-01 18:00:00" || rows[0].Requests != 6 || rows[0].Units != 12 || rows[1].Requests != 1 {
			t.Fatalf("hourly rows %+v, want 6 requests at 18:00 UTC and 1 at 19:00", rows)
		}
	}
	days := history(t, store, everything("usagePlan-in", metering.Day))
	if len(days) != 2 || !days[0].Start.Equal(midnight.AddDate(0, 0, -1)) || days[0].Requests != 3 || !days[1].Start.Equal(midnight) || days[1].Requests != 4 {
		t.Fatalf("daily rows %+v, want 3 requests on June 1 and 4 on June 2 (IST)", days)
	}
	if n := store.rows.Load(); n != 4 {
		t.Fatalf("the flush wrote %d rows, want 4 (two hours, two days, each once)", n)
	}
}

// The plan's zone given through different *time.Location values of the
// same day (a registry reload makes new ones) keeps one hourly and one
// daily row.
func TestRecorderSameZoneThroughTwoLocations(t *testing.T) {
	a, b := time.FixedZone("X", 3600), time.FixedZone("X", 3600)
	at := t0.Add(12 * time.Hour)
	rec := newRecorder(t, &metering.MemoryHistory{}, metering.Config{Now: func() time.Time { return at }})
	for i := range 1000 {
		zone := a
		if i%2 == 1 {
			zone = b
		}
		rec.RecordAt(at.Add(time.Duration(i)*time.Millisecond), "usagePlan-x", "AKIDa", zone, metering.Counts{Requests: 1})
	}
	for _, g := range []metering.Granularity{metering.Hour, metering.Day} {
		if rows := history(t, rec, everything("usagePlan-x", g)); len(rows) != 1 || rows[0].Requests != 1000 {
			t.Fatalf("%s rows %+v, want one of 1000 requests", g, rows)
		}
	}
}

// downStore refuses every write while down.
type downStore struct {
	metering.MemoryHistory
	down    bool
	batches []uint64 // the Seq of each write tried
}

func (s *downStore) AddHistory(ctx context.Context, b metering.Batch) error {
	s.batches = append(s.batches, b.Seq)
	if s.down {
		return errors.New("connection refused")
	}
	return s.MemoryHistory.AddHistory(ctx, b)
}

// A batch the store refuses for half of BatchWindow is dropped (and the
// flush's error says so), so that no retry can reach a store that has
// forgotten the writer: its rows are counted at most once. What was
// recorded meanwhile is written in the next batch.
func TestRecorderGivesUpABatchBeforeTheWindow(t *testing.T) {
	store := &downStore{down: true}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1})
	for range 12 {
		err := rec.Flush(ctx)
		if err == nil || strings.Contains(err.Error(), "gave up") {
			t.Fatalf("flush at %v: %v, want the store's error and no giving up yet", at, err)
		}
		at = at.Add(time.Hour - time.Second)
	}
	rec.RecordAt(at, "usagePlan-a", "AKIDb", nil, metering.Counts{Requests: 1})
	at = t0.Add(time.Minute + metering.BatchWindow/2)
	store.down = false
	err := rec.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "gave up writing history batch 1") || !strings.Contains(err.Error(), "up to 2 rows dropped") {
		t.Fatalf("flush half a window after the first write: %v, want it to give batch 1 up (2 rows)", err)
	}
	if last := store.batches[len(store.batches)-1]; last != 2 {
		t.Fatalf("the last write was batch %d, want 2 (the rows recorded meanwhile)", last)
	}
	for _, key := range []string{"AKIDa", "AKIDb"} {
		rows := history(t, store, metering.Query{Plan: "usagePlan-a", Keys: []string{key}, Granularity: metering.Hour, From: t0.Add(-time.Hour), To: at.Add(time.Hour)})
		want := int64(0)
		if key == "AKIDb" {
			want = 1
		}
		if got := sum(rows).Requests; got != want {
			t.Fatalf("%s: %d requests stored, want %d", key, got, want)
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatalf("the next flush: %v", err)
	}
}

// History with a Limit returns the first Limit rows of the merge of the
// store's rows and those the Recorder holds: held rows before the
// store's, between them and after them, and one added to a stored row.
func TestRecorderHistoryLimit(t *testing.T) {
	store := &metering.MemoryHistory{}
	at := t0.Add(4 * time.Hour)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	for h := range 4 {
		for _, key := range []string{"AKIDb", "AKIDd"} {
			rec.RecordAt(t0.Add(time.Duration(h)*time.Hour), "usagePlan-a", key, nil, metering.Counts{Requests: int64(h + 1)})
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"AKIDa", "AKIDb", "AKIDc", "AKIDe"} {
		rec.RecordAt(t0.Add(time.Hour), "usagePlan-a", key, nil, metering.Counts{Units: 7})
	}
	q := everything("usagePlan-a", metering.Hour)
	all := history(t, rec, q)
	if len(all) != 11 {
		t.Fatalf("History without a limit: %d rows, want 11: %+v", len(all), all)
	}
	for limit := 1; limit <= len(all)+1; limit++ {
		q.Limit = limit
		got := history(t, rec, q)
		want := all[:min(limit, len(all))]
		if len(got) != len(want) {
			t.Fatalf("Limit %d: %d rows, want %d: %+v", limit, len(got), len(want), got)
		}
		for i := range got {
			if got[i].Key != want[i].Key || !got[i].Start.Equal(want[i].Start) || got[i].Counts != want[i].Counts {
				t.Fatalf("Limit %d: row %d is %+v, want %+v", limit, i, got[i], want[i])
			}
		}
	}
}
