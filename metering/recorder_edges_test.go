package metering_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/planguard/planguard/metering"
)

// RecordAt takes any plan and key, but every store refuses a whole batch
// with a row of no plan or no key (metering.CheckRows) — and docs say
// "The Recorder only writes rows that pass". One RecordAt with an empty
// key makes every flush fail, holding every other key's rows, until the
// Recorder gives the batch up after 12 hours and drops them all.
// An event recorded without a key (RecordAt is for what the middleware
// does not see) is dropped and reported by the next flush: every store
// refuses a batch with such a row, so it held back every other key's
// rows, for 12 hours, and then dropped them all.
func TestRecordWithoutKeyDoesNotHoldUpTheBatch(t *testing.T) {
	store := &metering.MemoryHistory{}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDgood", nil, metering.Counts{Requests: 5, Units: 5})
	rec.RecordAt(at, "usagePlan-a", "", nil, metering.Counts{Requests: 1, Units: 1}) // a caller of RecordAt without a key
	var errs []error
	for range 3 {
		at = at.Add(10 * time.Second)
		if err := rec.Flush(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	q := metering.Query{Plan: "usagePlan-a", Keys: []string{"AKIDgood"}, Granularity: metering.Hour, From: t0, To: t0.Add(time.Hour)}
	if got := sum(history(t, store, q)).Requests; got != 5 {
		t.Fatalf("after 3 flushes the store holds %d of AKIDgood's 5 requests; flush errors: %v", got, errs)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "1 events recorded without a plan or a key were dropped") {
		t.Fatalf("flush errors %v, want one report of the dropped event", errs)
	}
}

// pruneFailStore refuses writes while down, and always fails to prune
// (a store with a damaged field, or a prune that times out).
type pruneFailStore struct {
	metering.MemoryHistory
	down bool
}

func (s *pruneFailStore) AddHistory(ctx context.Context, b metering.Batch) error {
	if s.down {
		return errors.New("connection refused")
	}
	return s.MemoryHistory.AddHistory(ctx, b)
}

func (s *pruneFailStore) PruneHistory(context.Context, metering.Granularity, time.Time) error {
	return errors.New("malformed history field")
}

// The flush that gives a batch up drops its rows, and its error is the
// only place that says so ("a batch still not stored then is dropped,
// and the error says how many rows it held"). When the same flush's
// prune fails, Flush returns the prune's error alone: the loss of the
// batch's rows is reported nowhere (not to Flush's caller, not to
// Config.OnError).
// A flush that gives up a batch reports the loss even when its prune then
// fails (it returned the prune's error alone).
func TestGiveUpReportedWhenThePruneFails(t *testing.T) {
	store := &pruneFailStore{down: true}
	at := t0.Add(time.Minute)
	rec := newRecorder(t, store, metering.Config{Now: func() time.Time { return at }})
	rec.RecordAt(at, "usagePlan-a", "AKIDa", nil, metering.Counts{Requests: 1})
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("the store is down: want an error")
	}
	at = at.Add(metering.BatchWindow / 2)
	store.down = false
	rec.RecordAt(at, "usagePlan-a", "AKIDb", nil, metering.Counts{Requests: 1})
	err := rec.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "gave up writing history batch 1") {
		t.Fatalf("the flush that dropped batch 1 (2 rows) returned %v: the loss is not reported", err)
	}
}

// Retention.Day = 24h is accepted ("at least ... one day of daily
// rows"), but on a 25-hour day (New York, 2026-11-01) the hourly prune
// in the day's last hour deletes the row of the day still being
// recorded: the stored daily row ends with only the last hour's counts.
// The shortest daily retention, 25 hours, keeps the row of a 25-hour day
// (New York, 2026-11-01) through its last hour; 24 hours, which pruned
// it while it was being recorded, is refused.
func TestDayRetentionKeepsTheLongestDay(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metering.NewRecorder(&metering.MemoryHistory{}, metering.Config{Retention: metering.Retention{Day: 24 * time.Hour}}); err == nil {
		t.Fatal("a daily retention of 24 hours was accepted")
	}
	store := &metering.MemoryHistory{}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, ny) // 04:00 UTC, 25 hours long
	clk := newClock(day)
	rec := newRecorder(t, store, metering.Config{Now: clk.now, Retention: metering.Retention{Day: 25 * time.Hour}})
	// One request at the middle of each of the day's 25 hours, flushed
	// after each.
	for h := 0; h < 25; h++ {
		clk.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		rec.Record("usagePlan-r", "AKIDr", ny, metering.Counts{Requests: 1, Units: 1})
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	q := metering.Query{Plan: "usagePlan-r", Granularity: metering.Day, From: day.Add(-time.Hour), To: day.Add(time.Hour)}
	rows := history(t, store, q)
	if len(rows) != 1 || rows[0].Requests != 25 {
		t.Fatalf("the day still in progress (local 23:30 of a 25-hour day) holds %+v in the store, want one row of 25 requests", rows)
	}
}
